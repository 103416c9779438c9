"""Community app reports (武汉微邻里 居民随手报): generation, status progress and defects.

A report is the camelCase JSON object of docs/partners.md, the `data` of a webhook. Residents file
it in the app for the community (社区) they live in, so it carries the community's 12-digit code
from `schemas/reference/regions.csv` and a place pinned by the phone's map, which in China is
GCJ-02: a WGS-84 point near the community's centre obfuscated with prcoords. Every change of
status is pushed as a new version with the same `reportId` and a later `updatedAt`, so a report
has one version per status it passed through.
"""

from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from faker import Faker
from prcoords import wgs_gcj

from simulators import complaints, people
from simulators.complaints import Topic
from simulators.gazetteer import DISTRICT_WEIGHTS, DISTRICTS, FOREIGN_POINTS
from simulators.records import SHANGHAI, Options, Record, Version, draw_defects, reported_time
from simulators.reference import DATA_DIR, Code

REGIONS = Path(__file__).resolve().parents[1] / "schemas" / "reference" / "regions.csv"

DEFECTS: tuple[str, ...] = (
    "missing_field", "unknown_category", "bad_phone", "unknown_community", "outside_city",
    "swapped_coordinates", "future_update",
)

_PIN_RADIUS = 0.002  # degrees (about 200 m): a resident reports from within their community
_UNPINNED = 0.08  # share of residents who did not let the app read their location
_HOURS_PER_STEP = 4  # a report this old may have moved one status further
_MEAN_STEP_MS = 8 * 3_600_000  # communities act within hours, residents rate within a day or two
_UNPUBLISHED_NAMES = ("其他问题", "历史分类", "未分类", "")
_FOREIGN_COMMUNITIES = ("110105001001", "310115003002", "440106012003", "510104020001")
_SATISFACTION = (("满意", 80), ("基本满意", 14), ("不满意", 6))
_COMPOUND_ENDINGS = ("花园", "苑", "小区", "村", "城", "园", "里", "庄", "湾", "府", "居", "家园")

# The step a report takes next, weighted; a status not listed weighs 20.
_STEP_WEIGHTS: dict[str, float] = {"已撤回": 0.5, "已退回": 1, "已派单": 12, "处理中": 8}
_STOP_AT_COMPLETED = 0.3  # residents who never rate the handling

# 承办单位 by the category's group (its first four characters).
_UNITS = {
    "WL01": "{community}居委会", "WL02": "{place}物业服务中心", "WL03": "{community}人民调解委员会",
    "WL04": "{street}办事处", "WL05": "{place}物业服务中心", "WL06": "{street}综合执法中队",
    "WL07": "{street}社区养老服务中心", "WL08": "{street}社区卫生服务中心",
    "WL09": "{community}居委会", "WL10": "{community}居委会",
}
_RESULTS = (
    "{unit}已安排网格员上门核实，问题已处理完毕，并向居民反馈。",
    "经{unit}现场查看，已协调相关责任方整改到位，居民表示认可。",
    "{unit}已联系居民说明情况，相关问题已纳入社区近期工作计划，将持续跟进。",
    "{unit}已组织人员现场处置，后续将加强日常巡查。",
)
_RETURN_REASONS = (
    "经核实，该事项不属于社区受理范围，请通过12345市民服务热线反映。",
    "反映内容不完整，无法核实具体位置，请补充后重新提交。",
    "该问题已有其他居民反映并在处理中，本条不再重复受理。",
)
_WITHDRAW_REASONS = ("居民已撤回：问题已自行解决。", "居民已撤回：重复提交。", "居民已撤回。")


@dataclass(frozen=True)
class Community:
    """A community (社区) of `regions.csv` with the street (街道) and district (区) above it."""

    code: str
    name: str
    short_name: str
    street: str
    district_code: str
    district: str
    centre: tuple[float, float]  # WGS-84 (lon, lat)


@dataclass(frozen=True)
class Status:
    """One of the app's statuses and those it may follow (none for the first)."""

    name: str
    follows: tuple[str, ...]


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@cache
def communities() -> dict[str, tuple[Community, ...]]:
    """Every community of the reference regions, by district code in the gazetteer's order."""
    rows = {row["code"]: row for row in _csv(REGIONS)}
    found: dict[str, list[Community]] = {district.code: [] for district in DISTRICTS}
    for row in rows.values():
        if row["level"] != "community":
            continue
        street = rows[row["parent_code"]]
        district = rows[street["parent_code"]]
        found[district["code"]].append(Community(
            row["code"], row["name"], row["short_name"], street["name"], district["code"],
            district["name"], (float(row["lng"]), float(row["lat"])),
        ))
    return {code: tuple(sorted(members, key=lambda c: c.code)) for code, members in found.items()}


@cache
def community_codes() -> frozenset[str]:
    return frozenset(c.code for members in communities().values() for c in members)


@cache
def categories() -> tuple[Code, ...]:
    """事项分类 the app's own categories (categoryCode / categoryName), two-level `WLggnn` codes."""
    return tuple(Code(row["code"], row["name"])
                 for row in _csv(DATA_DIR / "neighborhood_app_categories.csv"))


@cache
def statuses() -> tuple[Status, ...]:
    """办理状态 the app's statuses in the order a report moves through them."""
    return tuple(Status(row["status"], tuple(filter(None, row["follows"].split("|"))))
                 for row in _csv(DATA_DIR / "neighborhood_app_statuses.csv"))


def iso_time(ms: int) -> str:
    """Epoch ms as the app writes times: ISO 8601, Asia/Shanghai, offset +08:00, whole seconds."""
    return datetime.fromtimestamp(ms // 1000, SHANGHAI).isoformat()


def _topic(natures: str, titles: tuple[str, ...], details: tuple[str, ...]) -> Topic:
    return Topic(tuple(natures.split("|")), titles, details)


# Categories the hotline's templates do not cover; the others borrow them (_BORROWED).
TOPICS: dict[str, Topic] = {
    "楼道堆物": _topic("投诉|求助|举报", (
        "{place}{building}栋楼道堆满杂物",
        "{place}{building}栋{entrance}单元楼梯间被废品堵塞",
    ), (
        "{place}{building}栋楼道里有住户长期堆放纸箱、旧家具和自行车，已经{days}了，上下楼都要侧身，万一着火根本跑不出去",
        "{place}{building}栋{entrance}单元一楼楼梯间被住户堆满了废品，气味很大，还招老鼠，跟物业说了几次都没人管",
    )),
    "卫生死角": _topic("投诉|建议", (
        "{place}{building}栋后面卫生死角无人清扫",
        "{place}绿化带里垃圾成堆",
    ), (
        "{place}{building}栋后面的空地成了卫生死角，落叶、塑料袋和饭盒堆了{days}没人打扫，天一热就发臭",
        "{place}中间绿化带里被人扔了很多垃圾和烟头，保洁员只扫路面，希望安排人清理一下",
    )),
    "病媒消杀": _topic("求助|投诉", (
        "{place}老鼠蟑螂多，希望消杀",
        "{place}化粪池周边蚊蝇滋生",
    ), (
        "{place}最近老鼠特别多，晚上在垃圾桶边成群出没，{building}栋一楼住户家里都进了老鼠，希望社区组织灭鼠消杀",
        "{place}{building}栋旁边化粪池周边蚊子苍蝇特别多，已经{days}了，希望尽快安排喷药消杀",
    )),
    "房屋漏水": _topic("求助|投诉", (
        "{place}{building}栋顶楼漏水",
        "{place}{building}栋外墙渗水",
    ), (
        "{place}{building}栋顶楼一下雨就漏水，家里墙面发霉，找物业申请维修资金{months}了还没有结果",
        "{place}{building}栋外墙开裂，雨水顺着墙缝渗进屋里，卧室墙皮大面积脱落，希望尽快维修",
    )),
    "邻里纠纷": _topic("求助|投诉", (
        "{place}{building}栋楼上漏水到我家，协商不成",
        "{place}邻居占用公共走廊，沟通无果",
    ), (
        "我家住{place}{building}栋，楼上卫生间漏水把我家天花板泡坏了，找了楼上住户{days}都不肯维修，希望社区帮忙调解",
        "{place}{building}栋对门邻居把鞋柜和杂物放在公共走廊，还装了一道铁门把走廊圈起来，沟通几次都吵起来，希望社区出面协调",
    )),
    "高空抛物": _topic("举报|投诉", (
        "{place}{building}栋有人高空抛物",
        "{place}楼上经常往下扔烟头果皮",
    ), (
        "{place}{building}栋最近接连有人从楼上往下扔酒瓶和垃圾袋，昨天差点砸到楼下的小孩，希望社区和物业尽快查明并安装监控",
        "{place}{building}栋{entrance}单元楼上有住户经常往楼下扔烟头和果皮，楼下晾的衣服都被烫了洞，希望处理",
    )),
    "宠物扰民": _topic("投诉", (
        "{place}{building}栋住户养狗彻夜吠叫",
        "{place}遛狗不牵绳不清理粪便",
    ), (
        "{place}{building}栋有住户养了两条大狗，每天半夜还在叫，已经持续{days}，老人和孩子都休息不好",
        "{place}里很多人遛狗不牵绳，狗粪到处都是，小孩在小区里玩很不安全，希望社区加强文明养犬管理",
    )),
    "健身器材": _topic("求助|建议", (
        "{place}健身器材损坏无人维修",
        "建议{place}增设健身器材",
    ), (
        "{place}小广场上的健身器材坏了好几件，太空漫步机的踏板断了，老人锻炼时容易受伤，已经{days}没人修",
        "{place}住了很多老人，但小区里只有两件健身器材，建议社区在空地上增设一些健身器材",
    )),
    "下水道堵塞": _topic("求助", (
        "{place}{building}栋下水道堵塞污水外溢",
        "{place}雨水管堵塞，下雨就积水",
    ), (
        "{place}{building}栋门口的下水道堵了{days}，污水从井口冒出来流到路面上，臭气熏天，希望尽快疏通",
        "{place}主干道的雨水管道被堵，每次下雨{building}栋门口就积水到脚踝，出门很不方便",
    )),
    "消防通道占用": _topic("投诉|举报", (
        "{place}消防通道被私家车长期占用",
        "{place}{building}栋门口消防通道堵塞",
    ), (
        "{place}的消防通道每天晚上都停满了私家车，消防车根本开不进来，物业只贴了告示没有实际管理",
        "{place}{building}栋门口的消防通道被电动车和私家车堵得严严实实，一旦发生火灾后果不堪设想",
    )),
    "电动车充电": _topic("举报|投诉|建议", (
        "{place}{building}栋有人在楼道给电动车充电",
        "{place}飞线充电存在安全隐患",
    ), (
        "{place}{building}栋{entrance}单元有住户把电动车推进楼道充电，晚上一直充着，非常危险",
        "{place}有住户从楼上窗户拉电线下来给电动车飞线充电，电线横在路上，建议社区尽快增设充电桩并清理飞线",
    )),
    "装修噪音": _topic("投诉", (
        "{place}{building}栋装修噪音扰民",
        "{place}{building}栋周末一早电钻施工",
    ), (
        "{place}{building}栋有住户装修，每天早上7点不到就开始电钻砸墙，中午也不停，已经{days}，家里有老人和婴儿受不了",
        "{place}{building}栋楼上装修，周末早上8点前就开始施工，噪音非常大，物业规定的装修时间完全不遵守",
    )),
    "广场舞噪音": _topic("投诉|建议", (
        "{place}广场舞音响声音过大",
        "{place}中心花园广场舞影响学生学习",
    ), (
        "{place}旁边的小广场每天早上6点和晚上7点都有人跳广场舞，音响开得特别大，家里关着窗户都听得很清楚，希望社区协调降低音量",
        "{place}中心花园每晚都有广场舞，音响对着住宅楼，{building}栋的学生没法安心写作业，希望调整场地或时间",
    )),
    "高龄津贴": _topic("咨询|求助", (
        "咨询{street}高龄津贴办理",
        "{place}老人高龄津贴{months}未到账",
    ), (
        "我家老人今年{age}岁，户籍在{street}，想咨询高龄津贴怎么申请，需要带哪些材料",
        "我父亲{age}岁，住在{place}，高龄津贴已经{months}没有到账了，去社区问了也说不清楚，希望帮忙查一下",
    )),
    "证明开具": _topic("咨询|投诉", (
        "咨询在社区开具居住证明",
        "社区开证明来回跑了多次",
    ), (
        "我在{place}租房住了两年，孩子上学需要居住证明，想咨询社区开具居住证明需要哪些材料",
        "为了开一个证明已经去了社区居委会{num}次，每次都说缺材料，一次性告知都做不到，希望改进",
    )),
    "社区活动": _topic("建议|咨询", (
        "建议{place}多组织老年人活动",
        "咨询{street}暑期托管活动",
    ), (
        "{place}的老年人很多，但社区活动室平时大门紧锁，建议定期开放并组织一些文体活动",
        "想咨询今年{street}有没有暑期托管班，双职工家庭孩子放假没人照看",
    )),
}
_BORROWED = {
    "垃圾清运": "垃圾清运", "物业服务": "物业服务", "电梯故障": "电梯故障", "二次供水": "供水故障",
    "路灯损坏": "路灯不亮", "井盖破损": "井盖缺失破损", "小区停车": "停车管理", "商铺噪音": "噪声扰民",
    "居家养老": "养老服务", "残疾人帮扶": "残疾人服务", "疫情防控": "疫情防控", "核酸检测": "核酸检测",
    "疫苗接种": "疫苗接种", "表扬感谢": "表扬感谢", "意见建议": "意见建议",
}


def topic(category_name: str) -> Topic:
    """The templates of an app category: its own, or a hotline category's that fit it."""
    return TOPICS.get(category_name) or complaints.topic_for(_BORROWED.get(category_name, category_name))


def generate(options: Options) -> tuple[Record, ...]:
    """`options.records` reports filed within the span, numbered `WLL` + date + sequence; a
    few tell incidents a neighbour calls the hotline about too (`simulators.incidents`)."""
    rng = random.Random(options.seed)
    faker = Faker("zh_CN")
    faker.seed_instance(options.seed)
    start_ms, end_ms = options.window()
    from simulators.incidents import incidents, twins

    drafts: list[tuple[list[Version], tuple[str, ...], str | None]] = [
        (*_draft(rng, faker, options, start_ms, end_ms), None)
        for _ in range(options.records - twins(options))
    ]
    told = random.Random(f"app-incidents:{options.seed}")
    for incident in incidents(options)[: twins(options)]:
        drafts.append((_twin(told, faker, incident, end_ms), (), incident.key))
    drafts.sort(key=lambda draft: draft[0][0].updated_ms)
    records: list[Record] = []
    sequence: dict[str, int] = {}
    for versions, defects, incident in drafts:
        day = datetime.fromtimestamp(versions[0].updated_ms / 1000, SHANGHAI).strftime("%Y%m%d")
        sequence[day] = sequence.get(day, rng.randrange(1, 4000)) + rng.randint(1, 25)
        report_id = f"WLL{day}{sequence[day]:06d}"
        numbered = tuple(Version(v.updated_ms, {"reportId": report_id, **v.payload}) for v in versions)
        records.append(Record(report_id, int(report_id[3:]), numbered, defects, incident))
    return tuple(records)


def _draft(rng: random.Random, faker: Faker, options: Options, start_ms: int,
           end_ms: int) -> tuple[list[Version], tuple[str, ...]]:
    defects = draw_defects(rng, DEFECTS, options.defect_rate)
    filed_ms = reported_time(rng, start_ms, end_ms, margin_ms=6 * 3_600_000) // 1000 * 1000
    district = rng.choices(DISTRICTS, weights=DISTRICT_WEIGHTS)[0]
    community = rng.choice(communities()[district.code])
    category = rng.choice(categories())
    place = _place(community)
    road, road2 = rng.sample(district.roads, 2)
    slots = complaints.slots_for(rng, community.district, road, road2, place, community.street,
                                 faker.company())
    nature, title, content = complaints.compose(topic(category.name), slots, rng, first_person=True)
    if "missing_field" in defects:
        title, content = rng.choice(((title, ""), ("", content)))
    if "unknown_category" in defects:
        category = Code(_unpublished_category(rng), rng.choice(_UNPUBLISHED_NAMES))
    base: dict[str, Any] = {
        "reportType": nature,
        "categoryCode": category.code,
        "categoryName": category.name,
        "title": title,
        "content": content,
        "reporterName": str(faker.name()),
        "reporterPhone": _phone(rng, "bad_phone" in defects),
        "communityCode": _community_code(rng, community, defects),
        "communityName": community.name,
        "address": _address(rng, community, place, slots),
        "location": _location(rng, community, defects),
        "status": "",
        "handlingUnit": None,
        "handlingResult": None,
        "satisfaction": None,
        "createdAt": iso_time(filed_ms),
        "updatedAt": "",
    }
    path = _status_path(rng, filed_ms, end_ms)
    unit = _UNITS.get(category.code[:4], "{community}居委会").format(
        community=community.name, place=place, street=community.street)
    times = _times(rng, filed_ms, end_ms, len(path))
    versions: list[Version] = []
    payload = base
    for status, at_ms in zip(path, times, strict=True):
        payload = advance(payload, status, rng, unit)
        payload["updatedAt"] = iso_time(at_ms)
        versions.append(Version(at_ms, payload))
    if "future_update" in defects:
        versions[-1] = Version(versions[-1].updated_ms,
                               {**versions[-1].payload, "updatedAt": _future(rng, versions[-1].updated_ms)})
    return versions, defects


def _twin(rng: random.Random, faker: Faker, incident: Any, end_ms: int) -> list[Version]:
    """The report of a resident about an incident a neighbour also calls the hotline about."""
    community = incident.community
    category = next(c for c in categories() if c.code == incident.telling.app_category)
    base: dict[str, Any] = {
        "reportType": "投诉",
        "categoryCode": category.code,
        "categoryName": category.name,
        "title": complaints.fill(incident.telling.app_title, incident.slots),
        "content": complaints.fill(incident.telling.app_content, incident.slots),
        "reporterName": str(faker.name()),
        "reporterPhone": _phone(rng, False),
        "communityCode": community.code,
        "communityName": community.name,
        "address": f"{community.district}{community.street}{community.name}{incident.slots['building']}栋",
        "location": _location(rng, community, ()),
        "status": "",
        "handlingUnit": None,
        "handlingResult": None,
        "satisfaction": None,
        "createdAt": iso_time(incident.filed_ms),
        "updatedAt": "",
    }
    path = _status_path(rng, incident.filed_ms, end_ms)
    unit = _UNITS.get(category.code[:4], "{community}居委会").format(
        community=community.name, place=_place(community), street=community.street)
    versions: list[Version] = []
    payload = base
    for status, at_ms in zip(path, _times(rng, incident.filed_ms, end_ms, len(path)), strict=True):
        payload = advance(payload, status, rng, unit)
        payload["updatedAt"] = iso_time(at_ms)
        versions.append(Version(at_ms, payload))
    return versions


def _place(community: Community) -> str:
    """The residential compound (小区) a resident names, after the community it belongs to."""
    name = community.short_name
    return name if name.endswith(_COMPOUND_ENDINGS) else name + "小区"


def _phone(rng: random.Random, bad: bool) -> str:
    """The number the account was verified with: plain 11 digits, a few written otherwise."""
    if bad:
        return people.bad_phone(rng)
    number = people.mobile(rng)
    return number if rng.random() < 0.9 else people.written_form(number, rng)


def _community_code(rng: random.Random, community: Community, defects: tuple[str, ...]) -> str:
    """The real code; or, from an app whose code table is out of date, one the city does not have."""
    if "unknown_community" not in defects:
        return community.code
    street = community.code[:9]
    candidates = [f"{street}{number:03d}" for number in range(90, 100)]
    return rng.choice([*(c for c in candidates if c not in community_codes()), *_FOREIGN_COMMUNITIES,
                       street])


def _address(rng: random.Random, community: Community, place: str, slots: dict[str, str]) -> str:
    """Where it happened, in the building the text names."""
    building, unit = slots["building"], slots["entrance"]
    room = rng.randint(1, 33) * 100 + rng.randint(1, 4)
    return rng.choice((
        f"{community.district}{community.street}{community.name}{building}栋{unit}单元{room}室",
        f"{slots['road']}{rng.randint(1, 688)}号{place}{building}栋",
        f"{place}{building}栋{unit}单元",
    ))


def _location(rng: random.Random, community: Community,
              defects: tuple[str, ...]) -> dict[str, float] | None:
    """GCJ-02 {lng, lat} near the community's centre, far away, swapped, or null when unpinned."""
    foreign = "outside_city" in defects
    swapped = "swapped_coordinates" in defects
    if not (foreign or swapped) and rng.random() < _UNPINNED:
        return None
    lon, lat = rng.choice(FOREIGN_POINTS) if foreign else community.centre
    spread = 0.02 if foreign else _PIN_RADIUS
    angle = rng.uniform(0, 2 * math.pi)
    distance = spread * math.sqrt(rng.random())
    gcj = wgs_gcj((lat + distance * math.sin(angle), lon + distance * math.cos(angle)))
    lng, lat = round(gcj.lon, 6), round(gcj.lat, 6)
    return {"lng": lat, "lat": lng} if swapped else {"lng": lng, "lat": lat}


def _unpublished_category(rng: random.Random) -> str:
    published = {category.code for category in categories()}
    while True:
        candidate = rng.choice((f"WL{rng.randint(11, 99):02d}{rng.randint(1, 9):02d}",
                                f"WL{rng.randint(1, 10):02d}{rng.randint(10, 99):02d}",
                                f"WL{rng.randint(1, 10):02d}"))
        if candidate not in published:
            return candidate


def _status_path(rng: random.Random, filed_ms: int, end_ms: int) -> list[str]:
    """The statuses a report passed through, from 已提交, as far as its age allows."""
    order = statuses()
    reachable = 1 + int((end_ms - filed_ms) / 3_600_000 // _HOURS_PER_STEP)
    path = [order[0].name]
    while len(path) < reachable:
        successors = [status.name for status in order if path[-1] in status.follows]
        if not successors or (path[-1] == "已办结" and rng.random() < _STOP_AT_COMPLETED):
            break
        path.append(rng.choices(successors, weights=[_STEP_WEIGHTS.get(s, 20) for s in successors])[0])
    return path


def _times(rng: random.Random, filed_ms: int, end_ms: int, count: int) -> list[int]:
    """`count` whole-second times from the filing on, strictly increasing, before `end_ms`; steps
    take hours, as a community acts on a report the same day or the next."""
    times = [filed_ms]
    for _ in range(count - 1):
        remaining = end_ms - 1000 - times[-1]
        step = max(60_000, int(min(remaining * rng.uniform(0.05, 0.6), rng.expovariate(1 / _MEAN_STEP_MS))))
        times.append(min(times[-1] + step, end_ms - 1000) // 1000 * 1000)
    for index in range(1, count):
        times[index] = max(times[index], times[index - 1] + 1000)
    return times


def _future(rng: random.Random, updated_ms: int) -> str:
    """An update time from a phone whose clock runs years ahead: later than any hub's now."""
    moment = datetime.fromtimestamp(updated_ms // 1000, SHANGHAI)
    return (moment + timedelta(days=rng.randint(20 * 365, 40 * 365))).isoformat()


def advance(previous: dict[str, Any], status: str, rng: random.Random, unit: str) -> dict[str, Any]:
    """The report in `status`: its unit once accepted, its result once done, a rating once rated."""
    payload = dict(previous)
    payload["status"] = status
    if status not in ("已提交", "已撤回") and payload["handlingUnit"] is None:
        payload["handlingUnit"] = unit
    if status == "已办结":
        payload["handlingResult"] = rng.choice(_RESULTS).format(unit=unit)
    elif status == "已退回":
        payload["handlingResult"] = rng.choice(_RETURN_REASONS)
    elif status == "已撤回":
        payload["handlingResult"] = rng.choice(_WITHDRAW_REASONS)
    elif status == "已评价":
        payload["satisfaction"] = rng.choices([s for s, _ in _SATISFACTION],
                                              weights=[w for _, w in _SATISFACTION])[0]
    return payload
