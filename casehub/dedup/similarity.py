"""How alike two reports are, and why: a score in [0, 1] and the signals that fired (pure).

The text is the main evidence; place, category and reporter weigh it. A signal that cannot be
known — a hotline call has no coordinates or community code, a file may lack a category — is
left out of the weighing rather than counted against the pair, so a phone call and an app report
of one pothole are judged on what both tell. Evidence against (two known places far apart) lowers
the score. docs/dedup.md gives the weights, the thresholds and the figures behind them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from casehub.dedup.report import Report

TEXT_WEIGHT, PLACE_WEIGHT, CATEGORY_WEIGHT, REPORTER_WEIGHT = 0.55, 0.25, 0.15, 0.05
THRESHOLD = 0.5
"""A pair at or above this is a probable duplicate (判重提醒)."""
TEXT_FULL = 0.5
"""Text similarity that counts as full agreement: two tellings of one incident by different
people rarely share more than half their bigrams, and a copy shares all."""
TEXT_FLOOR = 0.03
"""Below this the texts share nothing of the incident: place and category alone are not a
duplicate (the same crossing has a pothole and a broken street light)."""
SHORT = 12
"""Bigrams under which a text is short (a phone-typed line): its overlap counts for less."""
PERSONAL_MAJORS = frozenset({"07", "12"})
"""劳动和社会保障, 民政: a wage, a pension, an allowance is the reporter's own matter."""
PERSONAL_MINORS = frozenset(
    {"050003", "050004", "050005", "050022", "060011", "060016", "060017", "060036", "100019", "100020"}
)
"""盗窃, 电信网络诈骗, 非法集资, 家庭暴力, 消费纠纷, 预付卡退费, 网购纠纷, 健身卡退费, 购房合同纠纷,
不动产证办理: each report is its reporter's own case, so two are one only from one reporter."""
OTHER_DOOR = -2.0
"""What `_place` answers for two places known apart — other buildings or doors named, or more
than 1.5 km between them: not one incident, whatever the words and the reporter."""
_EARTH_M = 6_371_000.0


@dataclass(frozen=True, slots=True)
class Match:
    """`score` of a pair and the signals that fired, e.g. `text:0.62`, `same_community`."""

    score: float
    signals: tuple[str, ...]
    text: float


def text_similarity(a: frozenset[int], b: frozenset[int]) -> float:
    """Bigram overlap, the share of the shorter text found in the longer (a terse record inside a
    long post), damped for very short texts, and never below the Jaccard index."""
    if not a or not b:
        return 0.0
    common = len(a & b)
    if not common:
        return 0.0
    shorter = min(len(a), len(b))
    jaccard = common / (len(a) + len(b) - common)
    containment = common / shorter * min(1.0, shorter / SHORT)
    return max(jaccard, 0.8 * containment + 0.2 * jaccard)


def distance_m(a: Report, b: Report) -> float | None:
    """Great-circle distance in metres, when both reports have coordinates."""
    if a.lng is None or a.lat is None or b.lng is None or b.lat is None:
        return None
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lng - a.lng)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_M * math.asin(min(1.0, math.sqrt(h)))


def _overlap(a: frozenset[int], b: frozenset[int]) -> tuple[int, float]:
    common = len(a & b)
    return common, common / min(len(a), len(b))


def _place(a: Report, b: Report, signals: list[str] | None) -> float | None:
    """How sure it is the same place (0–1), -1 for two places known to differ, None if unknown."""
    if (a.towers or a.doors) and (b.towers or b.doors) and _apart(a, b):
        if signals is not None:
            signals.append("other_building")
        return OTHER_DOOR
    metres = distance_m(a, b)
    found = 0.0
    fired: list[str] = []
    if a.grid_code and a.grid_code == b.grid_code:
        fired.append("same_grid")
        found = 1.0
    elif a.community_code and a.community_code == b.community_code:
        fired.append("same_community")
        found = 0.8
    if metres is not None:
        if metres <= 150:
            fired.append("within_150m")
            found = 1.0
        elif metres <= 500:
            fired.append("within_500m")
            found = max(found, 0.6)
    address = _overlap(a.address, b.address) if a.address and b.address else None
    if address is not None and address[0] >= 3 and address[1] >= 0.6:
        fired.append("same_address")
        found = max(found, 0.8)
    if fired:
        if signals is not None:
            signals.extend(fired)
        return found
    if metres is not None and metres > 1500:
        if signals is not None:
            signals.append("other_place")
        return OTHER_DOOR
    other_community = bool(a.community_code and b.community_code and a.community_code != b.community_code)
    other_address = address is not None and address[1] < 0.4
    if metres is None and (other_community or other_address):
        if signals is not None:
            signals.append("other_place")
        return -1.0
    return 0.0 if metres is not None or other_community or address is not None else None


def _apart(a: Report, b: Report) -> bool:
    """Both name buildings (`5栋`), or both doors (`102号`), and none in common."""
    if not ((a.towers and b.towers) or (a.doors and b.doors)):
        return False
    return a.towers.isdisjoint(b.towers) and a.doors.isdisjoint(b.doors)


@lru_cache(maxsize=4096)
def _personal(category: str | None) -> bool:
    return category is not None and (category in PERSONAL_MINORS or category[:2] in PERSONAL_MAJORS)


def _evaluate(
    a: Report, b: Report, signals: list[str] | None, text: float | None = None
) -> tuple[float, float]:
    """(score, text similarity) of a pair; the signals that fired go to `signals` if given.
    `text` is the pair's text similarity when it is already known."""
    if text is None:
        text = text_similarity(a.words, b.words)
    if signals is not None:
        signals.append(f"text:{text:.2f}")
    total, weight = TEXT_WEIGHT * min(1.0, text / TEXT_FULL), TEXT_WEIGHT
    place = _place(a, b, signals)
    if place == OTHER_DOOR:
        return 0.0, text
    if place is not None:
        total += PLACE_WEIGHT * place
        weight += PLACE_WEIGHT
    if a.category and b.category:
        weight += CATEGORY_WEIGHT
        if a.category == b.category:
            total += CATEGORY_WEIGHT
            if signals is not None:
                signals.append("same_category")
        elif a.category[:2] == b.category[:2]:
            total += CATEGORY_WEIGHT * 0.5
            if signals is not None:
                signals.append("same_major")
    same_reporter = a.phone_index is not None and a.phone_index == b.phone_index
    if same_reporter:
        total += REPORTER_WEIGHT
        weight += REPORTER_WEIGHT
        if signals is not None:
            signals.append("same_reporter")
    value = max(0.0, total / weight)
    if text < TEXT_FLOOR or (not same_reporter and (_personal(a.category) or _personal(b.category))):
        if signals is not None:
            signals.append("text_floor" if text < TEXT_FLOOR else "personal_matter")
        value = min(value, THRESHOLD / 2)
    return round(value, 4), text


def value(a: Report, b: Report) -> float:
    """The pair's score alone: what blocking compares every candidate by (no signals built)."""
    return _evaluate(a, b, None)[0]


def value_at_least(a: Report, b: Report, floor: float) -> float | None:
    """The pair's score (`value`) if it can reach `floor`, None if it cannot (`Scoring`)."""
    return Scoring(a).at_least(b, floor)


class Scoring:
    """One report's scores against many candidates (`casehub.dedup.cluster.decide`), what the
    report brings (its category's major, whether it is a personal matter) worked out once.

    Most candidates of a block are far from a duplicate, and what rules them out is cheaper to
    know than the texts' overlap, the costliest part of a score (two sets of some fifty bigrams
    intersected): a personal matter between two reporters caps the score below the threshold,
    two places known apart rule the pair out, and the score with the words taken as the best
    they could be (the same text) is an upper bound of it — two residents' calls from addresses
    that share little cannot reach the threshold, whatever they say. Only a pair whose bound
    reaches the floor has its texts compared; `value` is unchanged for the pairs that pass.
    """

    __slots__ = ("major", "personal", "report")

    def __init__(self, report: Report) -> None:
        self.report = report
        self.major = report.category[:2] if report.category else None
        self.personal = _personal(report.category)

    def at_least(self, b: Report, floor: float) -> float | None:
        """The score against `b` (`value`) if it can reach `floor`, None if it cannot: the sums of
        `_evaluate` in its order, so a score is the same to the last bit."""
        a = self.report
        if floor <= THRESHOLD / 2:
            found = _evaluate(a, b, None)[0]
            return found if found >= floor else None
        same_reporter = a.phone_index is not None and a.phone_index == b.phone_index
        if not same_reporter and (self.personal or _personal(b.category)):
            return None
        place = _place(a, b, None)
        if place == OTHER_DOOR:
            return None
        category = category_weight = 0.0
        if a.category and b.category:
            category_weight = CATEGORY_WEIGHT
            if a.category == b.category:
                category = CATEGORY_WEIGHT
            elif self.major == b.category[:2]:
                category = CATEGORY_WEIGHT * 0.5
        reporter = REPORTER_WEIGHT if same_reporter else 0.0
        if place is None:
            placed, weight = 0.0, TEXT_WEIGHT + category_weight + reporter
        else:
            placed, weight = PLACE_WEIGHT * place, TEXT_WEIGHT + PLACE_WEIGHT + category_weight + reporter
        if round(max(0.0, (TEXT_WEIGHT + placed + category + reporter) / weight), 4) < floor:
            return None  # not even with the same words
        text = text_similarity(a.words, b.words)
        if text < TEXT_FLOOR:
            return None
        total = TEXT_WEIGHT * min(1.0, text / TEXT_FULL) + placed + category + reporter
        found = round(max(0.0, total / weight), 4)
        return found if found >= floor else None


def score(a: Report, b: Report) -> Match:
    """The pair's score and signals (module docstring). Symmetric; no I/O."""
    signals: list[str] = []
    result, text = _evaluate(a, b, signals)
    return Match(score=result, signals=tuple(signals), text=text)
