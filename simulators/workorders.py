"""Mayor hotline 12345 work orders (工单): generation, status progress, and handling results.

A work order is the `GD` element of schemas/wsdl/hotline.wsdl: twenty pinyin-initial string
fields, any of them possibly empty. Its status moves 01 待派单 → 02 已派单 → 03 办理中 → 04 已办结 →
05 已回访, or ends in 09 已撤销; BJSJ is set once it is completed and MYD only once it has been
evaluated (已回访), so the times and fields of every version agree with its status.
"""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from faker import Faker

from simulators import complaints, people
from simulators.gazetteer import DISTRICT_WEIGHTS, DISTRICTS, FOREIGN_DISTRICTS, District
from simulators.incidents import Incident, incidents, twins
from simulators.records import (
    HOTLINE_DEFECTS,
    Options,
    Record,
    Version,
    draw_defects,
    later_times,
    local_text,
    parse_local,
    reported_time,
)
from simulators.reference import Code, hotline_categories

FIELDS: tuple[str, ...] = (
    "GDBH", "LDSJ", "LDRXM", "LDHM", "LXDH", "SFZHM", "SQLX", "BT", "SQNR", "SSQX", "FSDZ",
    "YWLBDM", "YWLBMC", "JJCD", "BLSX", "GDZT", "GXSJ", "BJSJ", "BLJG", "MYD",
)
PROGRESS: tuple[str, ...] = ("01", "02", "03", "04", "05")  # 待派单 已派单 办理中 已办结 已回访
CANCELLED = "09"  # 已撤销
COMPLETED = ("04", "05")
EVALUATED = "05"

_URGENCY = (("一般", ("5", "10", "15")), ("紧急", ("2", "3")), ("特急", ("1",)))
_SATISFACTION = (("满意", 70), ("基本满意", 20), ("不满意", 10))
_REMARKS = {
    "满意": ("来电人对处理结果表示满意。", "问题已解决，来电人表示感谢。"),
    "基本满意": ("问题基本解决，来电人希望加强后续管理。", "来电人认可处理态度，但希望加快进度。"),
    "不满意": ("来电人表示问题未实际解决。", "来电人认为处理不及时，要求重新办理。"),
}
_CANCEL_REASONS = ("来电人主动撤销诉求。", "重复工单，已合并办理。", "来电人反映问题已自行解决，申请撤销。")
_UNPUBLISHED_NAMES = ("综合类", "其他事项", "待分类", "")


def generate(options: Options) -> tuple[Record, ...]:
    """`options.records` work orders reported within the span, numbered in call order; a few
    are calls about incidents the community app hears of too (`simulators.incidents`)."""
    rng = random.Random(options.seed)
    faker = Faker("zh_CN")
    faker.seed_instance(options.seed)
    start_ms, end_ms = options.window()
    drafts: list[tuple[list[Version], tuple[str, ...], str | None]] = [
        (*_draft(rng, faker, options, start_ms, end_ms), None)
        for _ in range(options.records - twins(options))
    ]
    told = random.Random(f"hotline-incidents:{options.seed}")
    for incident in incidents(options)[: twins(options)]:
        drafts.append((_twin(told, faker, incident, end_ms), (), incident.key))
    drafts.sort(key=lambda draft: parse_local(str(draft[0][0].payload["LDSJ"])))
    return _numbered(rng, drafts)


def _twin(rng: random.Random, faker: Faker, incident: Incident, end_ms: int) -> list[Version]:
    """The work order of a call about an incident the community app hears of too (clean)."""
    community = incident.community
    district = next(d for d in DISTRICTS if d.code == community.district_code)
    category = next(c for c in hotline_categories() if c.code == incident.telling.hotline_category)
    base = _base_fields(rng, faker, district, community.street, category, (), incident.called_ms)
    base.update(
        BT=complaints.fill(incident.telling.hotline_title, incident.slots),
        SQNR=complaints.fill(incident.telling.hotline_content, incident.slots),
        FSDZ=f"{district.name}{community.street}{community.name}{incident.slots['building']}栋",
    )
    statuses = _status_path(rng, incident.called_ms, end_ms, stale=False)
    first_ms = min(incident.called_ms + rng.randint(120, 2400) * 1000, end_ms - 3_600_000)
    times = [first_ms, *later_times(rng, first_ms, end_ms, len(statuses) - 1)]
    unit = complaints.handling_unit(category.code, district.name, community.street)
    versions = [Version(times[0], base)]
    for status, at_ms in zip(statuses, times, strict=True):
        versions.append(advance(versions[-1], status, at_ms, rng, unit))
    return versions[1:]


def _numbered(
    rng: random.Random, drafts: list[tuple[list[Version], tuple[str, ...], str | None]]
) -> tuple[Record, ...]:
    """Give each order its GDBH, WH + call date + a daily sequence with gaps for unseen calls."""
    records: list[Record] = []
    sequence: dict[str, int] = {}
    for versions, defects, incident in drafts:
        day = str(versions[0].payload["LDSJ"])[:10].replace("-", "")
        sequence[day] = sequence.get(day, rng.randrange(100, 3000)) + rng.randint(1, 60)
        number = f"WH{day}{sequence[day]:06d}"
        numbered = tuple(
            Version(v.updated_ms, {**v.payload, "GDBH": number},
                    {**v.evaluation, "GDBH": number} if v.evaluation else None)
            for v in versions
        )
        records.append(Record(number, int(number[2:]), numbered, defects, incident))
    return tuple(records)


def _draft(rng: random.Random, faker: Faker, options: Options, start_ms: int,
           end_ms: int) -> tuple[list[Version], tuple[str, ...]]:
    defects = draw_defects(rng, HOTLINE_DEFECTS, options.defect_rate)
    called_ms = reported_time(rng, start_ms, end_ms, margin_ms=2 * 3_600_000)
    district = rng.choices(DISTRICTS, weights=DISTRICT_WEIGHTS)[0]
    category = rng.choice(hotline_categories())
    street = rng.choice(district.streets)
    base = _base_fields(rng, faker, district, street, category, defects, called_ms)
    statuses = _status_path(rng, called_ms, end_ms, stale="stale_resend" in defects)
    first_ms = min(called_ms + rng.randint(120, 2400) * 1000, end_ms - 3_600_000)
    times = [first_ms, *later_times(rng, first_ms, end_ms, len(statuses) - 1)]
    unit = complaints.handling_unit(category.code, district.name, street)
    versions = [Version(times[0], base)]
    for status, at_ms in zip(statuses, times, strict=True):
        versions.append(advance(versions[-1], status, at_ms, rng, unit))
    return versions[1:], defects


def _base_fields(rng: random.Random, faker: Faker, district: District, street: str,
                 category: Code, defects: tuple[str, ...], called_ms: int) -> dict[str, Any]:
    """The fields a call fixes once: caller, what, where, category and urgency."""
    roads = rng.sample(district.roads, 2)
    place = rng.choice(district.neighbourhoods)
    topic = complaints.topic_for(category.name)
    slots = complaints.slots_for(rng, district.name, roads[0], roads[1], place, street, faker.company())
    nature, title, content = complaints.compose(topic, slots, rng, first_person=False)
    if "missing_field" in defects:
        title, content = rng.choice(((title, ""), ("", content)))
    urgency, limits = rng.choices(_URGENCY, weights=(85, 12, 3))[0]
    limit = rng.choice(limits)
    calling, contact = _phones(rng, "bad_phone" in defects)
    today = date.fromisoformat(local_text(called_ms)[:10])
    return {
        "GDBH": "",
        "LDSJ": local_text(called_ms),
        "LDRXM": _caller_name(rng, faker),
        "LDHM": calling,
        "LXDH": contact,
        "SFZHM": _resident_id(rng, defects, today),
        "SQLX": nature,
        "BT": title,
        "SQNR": content,
        "SSQX": _district_name(rng, district, defects),
        "FSDZ": _address(rng, district, street, place, roads, defects),
        "YWLBDM": category.code if "unknown_category" not in defects else _unpublished_code(rng),
        "YWLBMC": category.name if "unknown_category" not in defects else rng.choice(_UNPUBLISHED_NAMES),
        "JJCD": urgency,
        "BLSX": people.fullwidth(limit) if rng.random() < 0.05 else limit,
        "GDZT": "",
        "GXSJ": "",
        "BJSJ": "",
        "BLJG": "",
        "MYD": "",
    }


def _caller_name(rng: random.Random, faker: Faker) -> str:
    roll = rng.random()
    if roll < 0.7:
        return str(faker.name())
    if roll < 0.92:
        return str(faker.last_name()) + rng.choice(("先生", "女士"))
    return ""


def _phones(rng: random.Random, bad: bool) -> tuple[str, str]:
    """来电号码 and 联系电话: the contact number is usually the calling one, written anew."""
    if bad:
        number = people.bad_phone(rng)
        return number, rng.choice((number, ""))
    number = people.mobile(rng) if rng.random() < 0.85 else people.landline(rng)
    roll = rng.random()
    if roll < 0.6:
        contact = people.written_form(number, rng)
    elif roll < 0.85:
        contact = people.written_form(people.mobile(rng), rng)
    else:
        contact = ""
    return people.written_form(number, rng), contact


def _resident_id(rng: random.Random, defects: tuple[str, ...], today: date) -> str:
    """身份证号码: given on about one call in twenty, and always when it is the defect."""
    if "bad_id_number" in defects:
        return people.bad_resident_id(rng, today)
    return people.resident_id(rng, today) if rng.random() < 0.05 else ""


def _district_name(rng: random.Random, district: District, defects: tuple[str, ...]) -> str:
    if "unknown_district" in defects:
        return rng.choice(FOREIGN_DISTRICTS)
    return district.name if rng.random() < 0.55 else district.short_name


def _address(rng: random.Random, district: District, street: str, place: str,
             roads: list[str], defects: tuple[str, ...]) -> str:
    """发生地址 as operators type it: with or without city and district, sometimes full-width."""
    number = str(rng.randint(1, 688))
    address = rng.choice((
        f"{roads[0]}{number}号",
        f"{street}{place}{rng.randint(1, 32)}栋{rng.randint(1, 6)}单元",
        f"{place}{rng.randint(1, 32)}栋",
        f"{roads[0]}与{roads[1]}交叉口",
        f"{roads[0]}{place}",
    ))
    if "unknown_district" not in defects:
        address = rng.choice(("", "", district.name, "武汉市" + district.name)) + address
    return people.fullwidth(address) if rng.random() < 0.05 else address


def _unpublished_code(rng: random.Random) -> str:
    published = {code.code for code in hotline_categories()}
    while True:
        code = f"HL{rng.randint(20, 99):02d}{rng.randint(1, 99):02d}"
        if code not in published:
            return code


def _status_path(rng: random.Random, called_ms: int, end_ms: int, *, stale: bool) -> list[str]:
    """The statuses of the 1–3 versions the hotline served, the last being current.

    Older calls are further along. A stale re-send needs an older version to re-send, so such a
    record always has at least two.
    """
    age_hours = (end_ms - called_ms) / 3_600_000
    if not stale and rng.random() < 0.04:
        return rng.choice((["09"], ["01", "09"], ["02", "09"]))
    reachable = min(len(PROGRESS) - 1, 1 + int(age_hours // 8))
    final = rng.choices(range(reachable + 1), weights=[(i + 1) ** 2 for i in range(reachable + 1)])[0]
    if stale:
        final = max(final, 1)
    count = rng.randint(2 if stale else 1, min(3, final + 1))
    earlier = sorted(rng.sample(range(final), count - 1))
    return [PROGRESS[i] for i in earlier] + [PROGRESS[final]]


def next_status(status: str) -> str:
    """The status a busy hotline would move an order to next; terminal ones stay."""
    if status in PROGRESS[:-1]:
        return PROGRESS[PROGRESS.index(status) + 1]
    return status


def advance(previous: Version, status: str, at_ms: int, rng: random.Random, unit: str) -> Version:
    """A new version in `status` at `at_ms`, with BJSJ, BLJG and MYD as that status implies."""
    payload = dict(previous.payload)
    evaluation = previous.evaluation
    payload["GDZT"] = status
    payload["GXSJ"] = local_text(at_ms)
    if status in COMPLETED and not payload["BJSJ"]:
        completed_ms = at_ms if status == "04" else (previous.updated_ms + at_ms) // 2000 * 1000
        payload["BJSJ"] = local_text(max(completed_ms, parse_local(str(payload["LDSJ"]))))
        payload["BLJG"] = complaints.handling_result(unit, payload["BJSJ"][:10], rng)
    if status == CANCELLED and previous.payload["GDZT"] != CANCELLED:
        payload["BLJG"] = rng.choice(_CANCEL_REASONS)
    if status == EVALUATED and evaluation is None:
        satisfaction = rng.choices([s for s, _ in _SATISFACTION], weights=[w for _, w in _SATISFACTION])[0]
        payload["MYD"] = satisfaction
        evaluation = {
            "GDBH": str(payload["GDBH"]),
            "HFSJ": payload["GXSJ"],
            "MYD": satisfaction,
            "HFNR": rng.choice(_REMARKS[satisfaction]),
        }
    if status != EVALUATED:
        payload["MYD"] = ""
        evaluation = None
    return Version(at_ms, {name: payload[name] for name in FIELDS}, evaluation)


def touched(previous: Version, at_ms: int, rng: random.Random) -> Version:
    """The version a busy hotline writes when it works on an order: the next status, now."""
    named = str(previous.payload["SSQX"])
    district = next((d.name for d in DISTRICTS if named in (d.name, d.short_name)), "")
    unit = complaints.handling_unit(str(previous.payload["YWLBDM"]), district, "所在街道")
    return advance(previous, next_status(str(previous.payload["GDZT"])), at_ms, rng, unit)


def called_back(previous: Version, at_ms: int, rng: random.Random) -> Version:
    """The version after the hotline calls the resident back about a completed order (回访):
    已回访 with the resident's satisfaction MYD and the evaluation QueryEvaluations lists."""
    if previous.payload["GDZT"] != "04":
        raise ValueError("only a completed work order (04 已办结) is called back")
    return advance(previous, EVALUATED, at_ms, rng, unit="")


def with_handling_result(previous: Version, at_ms: int, result: str, completed: str,
                         status: str) -> Version:
    """The version after the hub submits a handling result (SubmitHandlingResult)."""
    payload = dict(previous.payload)
    payload.update(GDZT=status, GXSJ=local_text(at_ms), BLJG=result,
                   BJSJ=completed if status in COMPLETED else "")
    if status != EVALUATED:
        payload["MYD"] = ""
    evaluation = previous.evaluation if status == EVALUATED else None
    return Version(at_ms, payload, evaluation)
