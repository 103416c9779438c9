"""Cases transferred into digital urban management (外部转办, CreateCase) and their progress.

Another system (the hub) transfers a city-management case in; the system gives it a case file
number (案卷编号) of its own and works it as any case file: 待立案 (accepted, 受理) → 已立案 →
已派遣 → 已签收 → 处置中 → 已处置 → 已核查 → 已结案, with the same returns and rework as
`simulators.casefiles`, or, instead of registering it, hands the case back (99 已作废) when it is
not city management, a duplicate, or not found on site. The sender reads the steps back as
progress entries (QueryTransferProgress), each carrying the sender's case number (ExternalNo).

A transfer's steps are drawn once, when it is created, from the seed and its event id, so the
same transfer always takes the same path; they are dated `step_ms` apart on average from its
creation, and an entry is served from its time on, as the system's clock reaches it. A transfer
is applied once per event id and once per external number: the repeat answers the same case
file number, marked a duplicate. Transferred cases live here, apart from the generated case
files, so QueryCaseFiles never serves them back to the system they came from.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from simulators import casefiles
from simulators.casefiles import Step
from simulators.gazetteer import DISTRICTS
from simulators.grids import region_codes
from simulators.records import local_text, parse_local

ELEMENTS: tuple[str, ...] = (
    "EventId",
    "ExternalNo",
    "Title",
    "Description",
    "UnifiedCategoryCode",
    "UnifiedCategoryName",
    "Address",
    "DistrictCode",
    "StreetCode",
    "CommunityCode",
    "GridCode",
    "CoordX",
    "CoordY",
    "ReportTime",
    "DeadlineTime",
    "Urgency",
)
"""CreateCase's elements, in the WSDL's order."""
REQUIRED: tuple[str, ...] = (
    "EventId",
    "ExternalNo",
    "Title",
    "Description",
    "UnifiedCategoryCode",
    "ReportTime",
)
MAX_LENGTHS: dict[str, int] = {
    "EventId": 64,
    "ExternalNo": 64,
    "Title": 200,
    "Description": 10_000,
    "UnifiedCategoryName": 100,
    "Address": 500,
}
REGION_DIGITS: tuple[tuple[str, int], ...] = (
    ("DistrictCode", 6),
    ("StreetCode", 9),
    ("CommunityCode", 12),
    ("GridCode", 14),
)
URGENCIES = ("一般", "紧急", "特急")
ENTRY_FIELDS: tuple[str, ...] = (
    "ExternalNo",
    "CaseNo",
    "StepNo",
    "StatusCode",
    "StatusName",
    "Department",
    "Note",
    "Result",
    "ReasonCode",
    "UpdateTime",
)
HANDED_BACK: dict[str, str] = {  # 退回原因 at 99 已作废: code → the centre's note
    "01": "经核实不属于城市管理受理范围，退回转办方。",
    "02": "重复转办，已有案卷处置，退回转办方。",
    "03": "现场核实问题不存在，退回转办方。",
}
FIRST_SEQUENCE = 900_001  # transferred case files are numbered apart from the system's own
_DIGITS = re.compile(r"[0-9]+")
_METRES = re.compile(r"-?[0-9]{1,9}(?:\.[0-9]{1,6})?")
_DEPARTMENTS = {  # by the unified major category
    "01": "{district}城乡建设局",
    "03": "{district}生态环境分局",
    "04": "{district}交通运输局",
    "11": "{district}水务和湖泊局",
}
_DEFAULT_DEPARTMENT = "{district}城市管理执法局"
_RESULTS = ("已现场处置完毕，问题已解决。", "已责令整改，现场已规范。", "已安排人员清理完毕，现场恢复整洁。")


def check(fields: Mapping[str, str | None]) -> None:
    """Raise ValueError naming the first element of a CreateCase that is missing, malformed or
    too long, and what is wrong with it; never its value."""
    for name in REQUIRED:
        if not fields.get(name):
            raise ValueError(f"missing element {name} in CreateCase")
    for name, limit in MAX_LENGTHS.items():
        if len(fields.get(name) or "") > limit:
            raise ValueError(f"{name} is over {limit} characters")
    for name in ("EventId", "ExternalNo"):
        if any(ch.isspace() for ch in fields[name] or ""):
            raise ValueError(f"{name} must not hold spaces")
    category = fields["UnifiedCategoryCode"] or ""
    if not (len(category) == 6 and _DIGITS.fullmatch(category)):
        raise ValueError("UnifiedCategoryCode must be 6 digits")
    _check_regions(fields)
    _check_coordinates(fields)
    times = {}
    for name in ("ReportTime", "DeadlineTime"):
        if fields.get(name):
            try:
                times[name] = parse_local(fields[name] or "")
            except ValueError:
                raise ValueError(f"{name} must be a local time yyyy-MM-dd HH:mm:ss") from None
    if "DeadlineTime" in times and times["DeadlineTime"] < times["ReportTime"]:
        raise ValueError("DeadlineTime must not be earlier than ReportTime")
    if fields.get("Urgency") and fields["Urgency"] not in URGENCIES:
        raise ValueError(f"Urgency must be one of {', '.join(URGENCIES)}")


def _check_regions(fields: Mapping[str, str | None]) -> None:
    """Each region code given has its length, lies in the one above it and is a Wuhan region."""
    above = None
    for name, digits in REGION_DIGITS:
        code = fields.get(name)
        if not code:
            continue
        if not (len(code) == digits and _DIGITS.fullmatch(code)):
            raise ValueError(f"{name} must be {digits} digits")
        if above is not None and not code.startswith(above[1]):
            raise ValueError(f"{name} does not lie in {above[0]}")
        if code not in region_codes():
            raise ValueError(f"{name} is not a region of Wuhan")
        above = (name, code)


def _check_coordinates(fields: Mapping[str, str | None]) -> None:
    x, y = fields.get("CoordX"), fields.get("CoordY")
    if bool(x) != bool(y):
        raise ValueError("CoordX and CoordY come together or not at all")
    if x and y and not (_METRES.fullmatch(x) and _METRES.fullmatch(y)):
        raise ValueError("CoordX and CoordY must be metres, at most 6 decimals")


@dataclass(frozen=True)
class Transfer:
    """One case transferred in: its numbers and every step it will take, dated."""

    event_id: str
    external_no: str
    case_no: str
    steps: tuple[Step, ...]
    reason: str  # 退回原因代码 when it is handed back (99), else ""

    def entries(self, now_ms: int) -> list[dict[str, str]]:
        """The progress entries the system has written by `now_ms`."""
        entries = []
        result = ""
        for number, step in enumerate(self.steps, start=1):
            if step.at_ms > now_ms:
                break
            if step.status == casefiles.HANDLED:
                result = step.note
            elif step.status in (casefiles.REWORK, casefiles.PROCESSING):
                result = ""
            handed_back = step.status == casefiles.CANCELLED
            entries.append(
                {
                    "ExternalNo": self.external_no,
                    "CaseNo": self.case_no,
                    "StepNo": str(number),
                    "StatusCode": step.status,
                    "StatusName": casefiles.statuses()[step.status],
                    "Department": step.department,
                    "Note": step.note,
                    "Result": step.note if handed_back else result,
                    "ReasonCode": self.reason if handed_back else "",
                    "UpdateTime": local_text(step.at_ms),
                }
            )
        return entries


class TransferBook:
    """The cases transferred in, by event id and by external number, numbered by day."""

    def __init__(self, seed: int, step_ms: int) -> None:
        if step_ms < 0:
            raise ValueError("the step pace must not be negative")
        self.seed = seed
        self.step_ms = step_ms
        self.clear()

    def clear(self) -> None:
        """Nothing transferred: the reset hook."""
        self._by_event: dict[str, Transfer] = {}
        self._by_external: dict[str, Transfer] = {}
        self._numbers: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._by_external)

    def create(self, fields: Mapping[str, Any], now_ms: int) -> tuple[Transfer, bool]:
        """The transfer for a checked CreateCase, and whether it existed already (a duplicate)."""
        event_id, external_no = str(fields["EventId"]), str(fields["ExternalNo"])
        known = self._by_event.get(event_id) or self._by_external.get(external_no)
        if known is not None:
            return known, True
        created_ms = now_ms - now_ms % 1000
        day = local_text(created_ms)[2:10].replace("-", "")
        self._numbers[day] = self._numbers.get(day, FIRST_SEQUENCE - 1) + 1
        rng = random.Random(f"{self.seed}:transfer:{event_id}")
        steps, reason = _plan(rng, fields, created_ms, self.step_ms)
        transfer = Transfer(event_id, external_no, f"CG{day}{self._numbers[day]:06d}", tuple(steps), reason)
        self._by_event[event_id] = transfer
        self._by_external[external_no] = transfer
        return transfer, False

    def window(self, start_ms: int, end_ms: int, now_ms: int) -> list[dict[str, str]]:
        """Entries written by `now_ms` with UpdateTime in [start, end), by time, CaseNo, StepNo."""
        found = [
            (parse_local(entry["UpdateTime"]), entry["CaseNo"], int(entry["StepNo"]), entry)
            for transfer in self._by_external.values()
            for entry in transfer.entries(now_ms)
        ]
        found.sort(key=lambda hit: hit[:3])
        return [entry for at_ms, _, _, entry in found if start_ms <= at_ms < end_ms]


def _district(fields: Mapping[str, Any]) -> str:
    """The district's name by the region code given, or the city's where none is."""
    code = str(fields.get("DistrictCode") or fields.get("GridCode") or "")[:6]
    return next((district.name for district in DISTRICTS if district.code == code), "武汉市")


def _plan(
    rng: random.Random, fields: Mapping[str, Any], created_ms: int, step_ms: int
) -> tuple[list[Step], str]:
    """Every step the transfer will take, and the reason code if it is handed back.

    One transfer in twelve is handed back (99) instead of being registered; one in twenty is
    returned by its department and dispatched to the district's enforcement bureau; one in
    sixteen fails verification and is reworked.
    """
    district = _district(fields)
    centre = f"{district}城市管理监督指挥中心"
    department = _DEPARTMENTS.get(str(fields["UnifiedCategoryCode"])[:2], _DEFAULT_DEPARTMENT)
    department = department.format(district=district)
    at = created_ms
    elapsed = 0.0

    def later() -> int:
        """The next step's time: half to one and a half paces on, to the system's second."""
        nonlocal elapsed
        elapsed += step_ms * rng.uniform(0.5, 1.5)
        return created_ms + int(elapsed) // 1000 * 1000

    steps = [Step(casefiles.REPORTED, at, centre, "外部转办案卷，已受理，待立案。")]
    if rng.random() < 1 / 12:
        reason = rng.choice(list(HANDED_BACK))
        at = later()
        return [*steps, Step(casefiles.CANCELLED, at, centre, HANDED_BACK[reason])], reason
    at = later()
    steps.append(Step(casefiles.REGISTERED, at, centre, "符合立案条件，予以立案。"))
    at = later()
    steps.append(Step(casefiles.DISPATCHED, at, centre, f"派遣至{department}处置。", department))
    if rng.random() < 0.05:
        at = later()
        steps.append(Step(casefiles.RETURNED, at, department, "非本单位职责范围，申请退回。"))
        department = _DEFAULT_DEPARTMENT.format(district=district)
        at = later()
        steps.append(Step(casefiles.DISPATCHED, at, centre, f"派遣至{department}处置。", department))
    for status, note in (
        (casefiles.ACCEPTED, "已签收。"),
        (casefiles.PROCESSING, "已安排人员现场处置。"),
        (casefiles.HANDLED, rng.choice(_RESULTS)),
    ):
        at = later()
        steps.append(Step(status, at, department, note, department))
    if rng.random() < 1 / 16:
        for status, who, note in (
            (casefiles.REWORK, centre, "核查未通过：问题仍存在，要求返工。"),
            (casefiles.PROCESSING, department, "已重新安排人员处置。"),
            (casefiles.HANDLED, department, rng.choice(_RESULTS)),
        ):
            at = later()
            steps.append(Step(status, at, who, note, department))
    for status, note in (
        (casefiles.VERIFIED, "监督员现场核查，问题已解决。"),
        (casefiles.CLOSED, "核查通过，予以结案。"),
    ):
        at = later()
        steps.append(Step(status, at, centre, note, department))
    return steps, ""
