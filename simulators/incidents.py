"""Incidents reported on two channels: a resident's app report and a neighbour's hotline call
about the same thing within the hour — the cross-channel duplicates (判重) the hub must find.

The incidents depend on the seed and the span only, so the hotline and the community app, each
generating its own records from its own options, tell the same ones: the first `twins(options)`
of `incidents(options)` (one in twenty of its records, at most `MOST`, in place of records it
would otherwise have made up). Each partner's truth names
the incident a twin record tells (`incident`), so a test can check the hub's clusters against
it. Twins are never defective: both must become cases.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from simulators.records import Options, reported_time
from simulators.reports import Community, communities

MOST = 12
PER_RECORDS = 20


@dataclass(frozen=True)
class Telling:
    """How one incident is told: the hotline operator's summary and the resident's app report,
    with the partners' own category codes."""

    hotline_category: str
    app_category: str
    hotline_title: str
    hotline_content: str
    app_title: str
    app_content: str


TELLINGS: tuple[Telling, ...] = (
    Telling(
        "HL0106", "WL0404",
        "市民来电反映{community}{building}栋门口井盖破损",
        "来电人称{street}{community}{building}栋门口人行道井盖破损下陷，夜间看不清，存在踩空危险，要求尽快更换。",
        "{building}栋门口井盖坏了",
        "{building}栋门口那个井盖裂开塌下去了，晚上走路差点踩进去，快来修",
    ),
    Telling(
        "HL0104", "WL0101",
        "市民来电反映{community}{building}栋旁垃圾未清运",
        "来电人称{street}{community}{building}栋旁垃圾桶已满溢两天无人清运，气味很大，要求环卫部门及时清运。",
        "{building}栋垃圾没人收",
        "{building}栋旁边的垃圾桶满出来两天了，臭得很，蚊子苍蝇一大堆",
    ),
    Telling(
        "HL1006", "WL0202",
        "市民来电反映{community}{building}栋电梯故障",
        "来电人称{street}{community}{building}栋电梯今天停运，高层老人无法下楼，要求物业和维保单位尽快维修。",
        "{building}栋电梯又坏了",
        "{building}栋电梯今天又停了，家里老人下不了楼，物业快派人来修",
    ),
    Telling(
        "HL0107", "WL0401",
        "市民来电反映{community}{building}栋附近路灯不亮",
        "来电人称{street}{community}{building}栋附近一排路灯连续几晚不亮，夜间出行不安全，要求维修。",
        "{building}栋那边路灯不亮",
        "{building}栋那边的路灯好几个晚上都是黑的，回家摸黑走，麻烦修一下",
    ),
)


@dataclass(frozen=True)
class Incident:
    key: str
    community: Community
    telling: Telling
    slots: dict[str, str]
    called_ms: int
    """When the hotline was called; the app report follows within the hour."""
    filed_ms: int


def twins(options: Options) -> int:
    """How many of the incidents a partner with these options tells."""
    return min(MOST, options.records // PER_RECORDS)


def incidents(options: Options) -> tuple[Incident, ...]:
    """The span's incidents, the same for every partner with the same seed and span."""
    rng = random.Random(f"incidents:{options.seed}")
    start_ms, end_ms = options.window()
    by_district = communities()
    districts = sorted(by_district)
    found: list[Incident] = []
    for number in range(MOST):
        community = rng.choice(by_district[rng.choice(districts)])
        telling = rng.choice(TELLINGS)
        called = reported_time(rng, start_ms, end_ms, margin_ms=8 * 3_600_000) // 1000 * 1000
        filed = called + rng.randint(5, 55) * 60_000
        slots = {
            "community": community.name,
            "street": community.street,
            "building": str(rng.randint(1, 30)),
        }
        found.append(Incident(f"incident-{number + 1}", community, telling, slots, called, filed))
    return tuple(found)
