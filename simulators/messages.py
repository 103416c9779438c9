"""City message board posts (城市留言板): generation, status progress and official replies.

A message is the camelCase JSON object of docs/partners.md. Its status moves 待受理 → 已受理 →
已回复 → 已关闭; the reply fields stay null until it is replied to. Residents pin a place on a
Baidu map, so coordinates are BD-09: a WGS-84 point inside the named district converted with
prcoords, or null when nobody pinned one.
"""

from __future__ import annotations

import math
import random
from typing import Any

from faker import Faker
from prcoords import wgs_bd

from simulators import complaints, people
from simulators.gazetteer import (
    DISTRICT_WEIGHTS,
    DISTRICTS,
    FOREIGN_DISTRICTS,
    FOREIGN_POINTS,
    District,
)
from simulators.records import (
    MESSAGE_BOARD_DEFECTS,
    Options,
    Record,
    Version,
    draw_defects,
    later_times,
    reported_time,
)
from simulators.reference import (
    Code,
    hotline_categories,
    message_board_statuses,
    message_board_types,
)

_UNPUBLISHED_NAMES = ("未分类", "历史分类", "综合", "")
_HOURS_PER_STEP = 12  # a message this old may have moved one status further


def generate(options: Options) -> tuple[Record, ...]:
    """`options.records` messages posted within the span, with ids rising in posting order."""
    rng = random.Random(options.seed)
    faker = Faker("zh_CN")
    faker.seed_instance(options.seed)
    start_ms, end_ms = options.window()
    drafts = [_draft(rng, faker, options, start_ms, end_ms) for _ in range(options.records)]
    drafts.sort(key=lambda draft: draft[0][0].payload["createTime"])
    records: list[Record] = []
    next_id = rng.randrange(2_100_000, 2_200_000)
    for versions, defects in drafts:
        next_id += rng.randint(1, 40)
        numbered = tuple(Version(v.updated_ms, {**v.payload, "id": next_id}) for v in versions)
        records.append(Record(str(next_id), next_id, numbered, defects))
    return tuple(records)


def _draft(rng: random.Random, faker: Faker, options: Options, start_ms: int,
           end_ms: int) -> tuple[list[Version], tuple[str, ...]]:
    defects = draw_defects(rng, MESSAGE_BOARD_DEFECTS, options.defect_rate)
    posted_ms = reported_time(rng, start_ms, end_ms, margin_ms=2 * 3_600_000)
    district = rng.choices(DISTRICTS, weights=DISTRICT_WEIGHTS)[0]
    kind = rng.choice(message_board_types())
    base = _base_fields(rng, faker, district, kind, defects, posted_ms)
    statuses = _status_path(rng, posted_ms, end_ms, stale="stale_resend" in defects)
    first_ms = posted_ms + rng.randrange(0, 3_600_000)
    times = [first_ms, *later_times(rng, first_ms, end_ms, len(statuses) - 1)]
    if statuses[0] == message_board_statuses()[0]:
        times[0] = posted_ms
    unit = complaints.handling_unit(_hotline_code(kind), district.name, rng.choice(district.streets))
    versions = [Version(times[0], base)]
    for status, at_ms in zip(statuses, times, strict=True):
        versions.append(advance(versions[-1], status, at_ms, rng, unit))
    return versions[1:], defects


def _hotline_code(kind: Code) -> str:
    """The handling units are the hotline's; a board type borrows them via its templates."""
    names = complaints.MESSAGE_TYPE_TOPICS.get(kind.name, ())
    return next((c.code for c in hotline_categories() if names and c.name == names[0]), "")


def _base_fields(rng: random.Random, faker: Faker, district: District, kind: Code,
                 defects: tuple[str, ...], posted_ms: int) -> dict[str, Any]:
    roads = rng.sample(district.roads, 2)
    street = rng.choice(district.streets)
    place = rng.choice(district.neighbourhoods)
    topic = complaints.message_topic(kind.name, rng)
    slots = complaints.slots_for(rng, district.name, roads[0], roads[1], place, street, faker.company())
    nature, title, content = complaints.compose(topic, slots, rng, first_person=True)
    if nature in ("投诉", "求助") and rng.random() < 0.15:
        title += rng.choice(("，何时解决？", "，望尽快处理", "！！"))
    if "missing_field" in defects:
        title, content = rng.choice(((title, ""), ("", content)))
    longitude, latitude = _pin(rng, district, defects)
    return {
        "id": 0,
        "title": title,
        "content": content,
        "msgType": nature,
        "createTime": posted_ms,
        "updateTime": posted_ms,
        "nickName": _nick_name(rng, faker),
        "phone": _phone(rng, "bad_phone" in defects),
        "areaName": _area_name(rng, district, defects),
        "address": _address(rng, roads[0], place),
        "typeId": int(kind.code) if "unknown_category" not in defects else _unpublished_type(rng),
        "typeName": kind.name if "unknown_category" not in defects else rng.choice(_UNPUBLISHED_NAMES),
        "status": "",
        "replyContent": None,
        "replyOrg": None,
        "replyTime": None,
        "longitude": longitude,
        "latitude": latitude,
    }


def _nick_name(rng: random.Random, faker: Faker) -> str:
    roll = rng.random()
    if roll < 0.4:
        return f"网友{rng.randrange(16**8):08x}"
    if roll < 0.65:
        return str(faker.last_name()) + rng.choice(("先生", "女士"))
    if roll < 0.85:
        return str(faker.user_name())
    return str(faker.name())


def _phone(rng: random.Random, bad: bool) -> str:
    """Residents may leave a number; an empty string when they did not."""
    if bad:
        return people.bad_phone(rng)
    if rng.random() < 0.2:
        return ""
    return people.written_form(people.mobile(rng), rng)


def _area_name(rng: random.Random, district: District, defects: tuple[str, ...]) -> str:
    if "unknown_district" in defects:
        return rng.choice(FOREIGN_DISTRICTS)
    return district.name if rng.random() < 0.5 else district.short_name


def _address(rng: random.Random, road: str, place: str) -> str:
    roll = rng.random()
    if roll < 0.1:
        return ""
    address = rng.choice((f"{road}{rng.randint(1, 688)}号", f"{place}", f"{road}{place}附近"))
    return people.fullwidth(address) if rng.random() < 0.05 else address


def _pin(rng: random.Random, district: District,
         defects: tuple[str, ...]) -> tuple[float | None, float | None]:
    """BD-09 (lon, lat) of the resident's pin: inside the district, far away, or none."""
    if "outside_city" in defects:
        lon, lat = rng.choice(FOREIGN_POINTS)
        spread = 0.02
    elif rng.random() < 0.2:
        return None, None
    else:
        lon, lat = district.centre
        spread = district.radius
    angle = rng.uniform(0, 2 * math.pi)
    distance = spread * math.sqrt(rng.random())
    baidu = wgs_bd((lat + distance * math.sin(angle), lon + distance * math.cos(angle)))
    return round(baidu.lon, 6), round(baidu.lat, 6)


def _unpublished_type(rng: random.Random) -> int:
    published = {int(kind.code) for kind in message_board_types()}
    while True:
        candidate = rng.choice((rng.randint(131, 199), rng.randint(200, 999)))
        if candidate not in published:
            return candidate


def _status_path(rng: random.Random, posted_ms: int, end_ms: int, *, stale: bool) -> list[str]:
    """The statuses of the 1–3 versions served; a stale re-send needs at least two."""
    order = message_board_statuses()
    age_hours = (end_ms - posted_ms) / 3_600_000
    reachable = min(len(order) - 1, 1 + int(age_hours // _HOURS_PER_STEP))
    final = rng.choices(range(reachable + 1), weights=[(i + 1) ** 2 for i in range(reachable + 1)])[0]
    if stale:
        final = max(final, 1)
    count = rng.randint(2 if stale else 1, min(3, final + 1))
    earlier = sorted(rng.sample(range(final), count - 1))
    return [order[i] for i in earlier] + [order[final]]


def next_status(status: str) -> str:
    """The status a busy board moves a message to next; 已关闭 stays."""
    order = message_board_statuses()
    return order[min(order.index(status) + 1, len(order) - 1)] if status in order else status


def advance(previous: Version, status: str, at_ms: int, rng: random.Random, unit: str) -> Version:
    """A new version in `status` at `at_ms`; replying statuses carry the official reply."""
    payload = dict(previous.payload)
    payload["status"] = status
    payload["updateTime"] = at_ms
    replied = message_board_statuses()[2:]
    if status in replied and payload["replyTime"] is None:
        payload["replyContent"] = complaints.official_reply(unit, rng)
        payload["replyOrg"] = unit
        payload["replyTime"] = at_ms if status == replied[0] else (previous.updated_ms + at_ms) // 2
    return Version(at_ms, payload)


def touched(previous: Version, at_ms: int, rng: random.Random) -> Version:
    """The version a busy board writes when it works on a message: the next status, now."""
    return advance(previous, next_status(str(previous.payload["status"])), at_ms, rng,
                   "武汉市民呼我应服务中心")


def with_reply(previous: Version, at_ms: int, content: str, org: str, replied_ms: int) -> Version:
    """The version after the hub posts an official reply; a closed message stays closed."""
    payload = dict(previous.payload)
    closed = message_board_statuses()[-1]
    payload.update(
        status=closed if payload["status"] == closed else message_board_statuses()[2],
        updateTime=at_ms, replyContent=content, replyOrg=org, replyTime=replied_ms,
    )
    return Version(at_ms, payload)
