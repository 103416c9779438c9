"""Hotspot terms on a fixture whose terms are known: in 江岸区 the cases of the day speak most of
manhole covers (井盖, six cases) and noise (噪音, five), as they did the day before; parking
(停车) goes from one case to four. Residents' phone numbers and a name are in the texts."""

from __future__ import annotations

import re

import pytest

from casehub.hotspots import MIN_CASES, Extractor, case_text, extractor, is_term, rank
from casehub.hotspots.dictionary import STOPWORDS, USERDICT, build_userdict, words
from casehub.hotspots.ranking import rise
from casehub.reference import load_reference

MANHOLES = [
    ("井盖破损", "中山大道人行道上井盖破损，晚上路过差点踩空，联系电话13812345678。"),
    ("路口井盖松动", "车子一过井盖就哐哐响，井盖松动，骑车的人容易摔倒。"),
    ("井盖不见了", "楼栋门口的井盖不见了，留下一个大洞，老人小孩经过要掉下去。"),
    ("学校门口井盖下沉", "学校门口井盖下沉，下雨天积水，家长接送孩子很不方便。"),
    ("人行道井盖碎了", "来电人张伟称人行道上井盖碎成几块，请尽快更换井盖。电话：139 1234 5678"),
    ("井盖被偷", "菜场后门的井盖被人偷走了，窟窿一直没人管。"),
]
NOISE = [
    ("烧烤店噪音扰民", "楼下烧烤店每晚营业到凌晨，噪音大得睡不着。"),
    ("广场舞噪音", "公园广场舞音响开得很大，噪音吵得孩子没法写作业。"),
    ("工地夜里打桩", "工地十一点还在打桩，噪音太大，身份证420102199001011234的业主已多次投诉。"),
    ("酒吧噪音", "临街酒吧音乐噪音很大，一整夜不能休息，来电号码+86 138 0013 8000。"),
    ("空调外机噪音", "邻居空调外机噪音严重，嗡嗡响一整夜。"),
]
PARKING = [
    ("路边停车收费乱", "道路两边停车收费混乱，没有公示标准。"),
    ("没地方停车", "车位少，下班回来没地方停车，车只能停在马路牙子上。"),
    ("医院门口停车", "医院门口停车排长队，把公交车道都堵了。"),
    ("商场停车太贵", "商场地下停车一小时二十块，收费太贵。"),
]
OTHER = [
    ("路灯不亮", "江边步道的路灯坏了半个月，黑灯瞎火。"),
    ("楼上漏水", "楼上卫生间漏水，把我家天花板泡坏了。"),
]
TODAY = MANHOLES + NOISE + PARKING + OTHER
YESTERDAY = MANHOLES[:5] + NOISE + PARKING[:1] + OTHER
PHONES = ("13812345678", "13912345678", "13800138000", "420102199001011234")


@pytest.fixture(scope="module")
def words_of() -> Extractor:
    return extractor()


def _terms(found: Extractor, cases: list[tuple[str, str]]) -> list[tuple[str, ...]]:
    return [found.case_terms(case_text(title, content)) for title, content in cases]


def test_the_most_named_terms_come_first_with_their_case_counts(words_of: Extractor) -> None:
    texts = [case_text(t, c) for t, c in TODAY]
    ranked = rank(_terms(words_of, TODAY), _terms(words_of, YESTERDAY), words_of.weights(texts))
    assert [(t.term, t.cases, t.previous_cases) for t in ranked.top[:2]] == [("井盖", 6, 5), ("噪音", 5, 5)]
    assert [t.rank for t in ranked.top[:2]] == [1, 2]
    assert ranked.scope_cases == len(TODAY) and ranked.previous_scope_cases == len(YESTERDAY)
    first = ranked.top[0]
    assert 0 < first.tfidf <= 1 and 0 < first.textrank <= 1
    assert first.weight == pytest.approx((first.tfidf + first.textrank) / 2, abs=1e-6)


def test_parking_rises_against_the_day_before_and_steady_terms_do_not(words_of: Extractor) -> None:
    texts = [case_text(t, c) for t, c in TODAY]
    ranked = rank(_terms(words_of, TODAY), _terms(words_of, YESTERDAY), words_of.weights(texts))
    rising = {t.term: t for t in ranked.rising}
    assert ranked.rising[0].term == "停车"
    parking = rising["停车"]
    assert (parking.cases, parking.previous_cases, parking.rising_rank) == (4, 1, 1)
    expected = 1 * len(TODAY) / len(YESTERDAY)
    assert parking.rise == pytest.approx((4 + 1) / (expected + 1), abs=1e-4)
    assert "井盖" not in rising and "噪音" not in rising
    assert all(t.cases >= MIN_CASES for t in ranked.rising)


def test_no_phone_id_number_or_name_becomes_a_term(words_of: Extractor) -> None:
    texts = [case_text(t, c) for t, c in TODAY]
    assert not any(phone in text for text in texts for phone in PHONES), "masked before extraction"
    named = {term for terms in _terms(words_of, TODAY) for term in terms}
    named |= set(words_of.weights(texts))
    assert named, "the fixture has terms"
    assert not [term for term in named if re.search(r"[0-9*＊]", term)]
    assert "张伟" not in named, "a person's name is not a term"
    assert all(is_term(term) for term in named)


def test_stop_words_and_district_names_are_never_terms(words_of: Extractor) -> None:
    text = case_text("江岸区市民反映井盖问题", "市民来电反映江岸区井盖问题，希望相关部门尽快处理。")
    terms = words_of.case_terms(text)
    assert terms[0] == "井盖"
    assert not {"江岸区", "江岸", "市民", "反映", "问题", "希望", "尽快", "处理"} & set(terms)


def test_domain_and_place_words_are_kept_whole(words_of: Extractor) -> None:
    terms = words_of.case_terms(case_text("飞线充电", "大智街道有人从三楼飞线充电，电动车就停在楼道里。"))
    assert "飞线充电" in terms and "大智街道" in terms


def test_an_empty_period_has_no_terms(words_of: Extractor) -> None:
    assert words_of.weights([]) == {}
    ranked = rank([], [], {})
    assert ranked.top == () and ranked.rising == ()


def test_the_rise_is_smoothed_and_scaled_to_the_volume() -> None:
    assert rise(3, 1, 10, 10) == 2.0
    assert rise(10, 0, 10, 10) == 11.0
    assert rise(6, 3, 20, 10) == pytest.approx(7 / 7)
    assert rise(4, 2, 10, 0) == 5.0, "nothing before: every term is new"


def test_a_term_below_the_minimum_count_does_not_rise() -> None:
    ranked = rank([("停车",), ("停车",), ("井盖",)], [("井盖",)] * 4, {})
    assert [t.term for t in ranked.top] == ["停车", "井盖"]
    assert ranked.rising == ()
    ranked = rank([("停车",)] * 3, [("井盖",)] * 3, {})
    assert [(t.term, t.rise) for t in ranked.rising] == [("停车", 4.0)]


def test_the_user_dictionary_is_built_from_the_reference_and_domain_words() -> None:
    assert USERDICT.read_text(encoding="utf-8").splitlines() == build_userdict()
    reference = load_reference()
    entries = dict(line.split(" ") for line in build_userdict())
    for region in reference.regions.values():
        if region.level in {"district", "street", "community"}:
            assert entries[region.name] == "ns", region.name
    assert entries["井盖"] == "n" and entries["垃圾分类"] == "n"
    assert "车站" not in entries, "a two-character short name is an ordinary word"


def test_every_district_name_is_a_stop_word() -> None:
    stop = set(words(STOPWORDS))
    for district in load_reference().districts.values():
        assert district.name in stop and district.short_name in stop, district.name


def test_a_period_is_weighed_from_each_texts_remembered_cut_as_jieba_cuts_it_whole(
    words_of: Extractor,
) -> None:
    texts = [case_text(t, c) for t, c in TODAY]
    for text in texts:
        words_of.case_terms(text)
    joined = "\n".join(texts)
    remembered = [(p.word, p.flag) for p in words_of._tagger.cut(joined)]
    whole = [(p.word, p.flag) for p in words_of._tagger.tagger.cut(joined)]
    words_of.forget()
    assert remembered == whole
    assert words_of.weights(texts) == words_of.weights(texts), "the same whether remembered or cut anew"
