"""The progress of cases transferred into digital urban management, pulled back as the hub's
workflow actions.

`QueryTransferProgress` pages the steps urban management took on the cases the hub transferred
in (CreateCase) by their UpdateTime, as QueryCaseFiles pages case files: the same window,
paging, retries, bounds and fault mapping (`TransferProgressSource`, on the kit's `SoapSource`).
Each entry is one step and never changes, so its identity is the case file number with the
step's place in the log (StepNo); the paginator reads that, not the case file number, which
every step of a case shares.

`to_action` turns one entry into the action the hub applies to its own case (ExternalNo is the
hub's case id), a body of the district standard interface (`schemas/district/actions.schema.json`)
with `case_id` and `action` beside it:

| StatusCode | action | what it carries |
|---|---|---|
| 01 待立案 (taken in for registration, 受理) | `accept` | — |
| 02–07, 11 已退回 (to the centre), 12 返工 | `progress` | `note`: the step's, else its status's name |
| 08 已结案 closed | `complete` | `result`: Result, the department's |
| 99 已作废 handed back | `return` | `reason_code` from ReasonCode, `reason`: Result |

Only the keys the action's schema takes are there (`note` only for progress, `result` only for
complete); a text the schema could not take is a defect of the entry. The operation id
`<CaseNo>:<StepNo>:<StatusCode>` is stable per entry, so an entry read twice (the lookback
re-reads windows) is the same operation and is applied once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from casehub.errors import InvalidRecord
from casehub.normalize import iso, local_time
from casehub.ports import PageRecord
from casehub.reasons import Code
from connectors.kit.problems import Problems
from connectors.urban_mgmt.client import NAMESPACE, UrbanMgmtSource

CHANNEL = "urban_mgmt"
ACCEPTED = "01"  # 待立案: the system took the case in
CLOSED = "08"  # 已结案
HANDED_BACK = "99"  # 已作废: not the system's to handle
STEPS = {
    "02": "已立案",
    "03": "已派遣",
    "04": "已签收",
    "05": "处置中",
    "06": "已处置",
    "07": "已核查",
    "11": "已退回",
    "12": "返工",
}
"""The statuses a case passes through on its way, with their names (urban_mgmt_statuses.csv)."""
REASONS = {"01": "not_our_department", "02": "duplicate", "03": "other"}
"""ReasonCode 退回原因代码 of a case handed back — not city management, a duplicate, not found on
site — as the standard interface's reason codes."""
MAX_LENGTHS = {"note": 2000, "result": 4000, "reason": 1000}
"""The longest texts the standard interface takes (actions.schema.json)."""
MAX_STEP = 999
_STEP = re.compile(r"[1-9][0-9]{0,2}")
_CASE_NO = re.compile(r"CG[0-9]{12}")  # 案卷编号: CG + yyMMdd + 6 digits


def _step_number(value: str) -> int:
    if not _STEP.fullmatch(value):
        raise ValueError(f"not a step number from 1 to {MAX_STEP}")
    return int(value)


def _text(problems: Problems, field: str, key: str, value: str | None) -> str | None:
    """`value`, unless it is longer than the action's `key` may be (noted against `field`)."""
    if value is not None and len(value) > MAX_LENGTHS[key]:
        problems.add(Code.INVALID_VALUE, field, f"{field}: over {MAX_LENGTHS[key]} characters")
        return None
    return value


def to_action(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The hub's workflow action for one progress entry, or `InvalidRecord` naming every defect.

    `case_id`, `action`, `operation_id` and `at` (ISO 8601 with the +08:00 offset) always; then
    `note` for progress, `result` for complete, `reason_code` and `reason` for return.
    """
    problems = Problems(CHANNEL)
    case_id = problems.identifier("ExternalNo", raw.get("ExternalNo"))
    case_no = problems.identifier("CaseNo", raw.get("CaseNo"))
    if case_no is not None and not _CASE_NO.fullmatch(case_no):
        problems.add(Code.INVALID_ID, "CaseNo", "CaseNo: not CG and 12 digits")
        case_no = None
    step = problems.parse(
        Code.INVALID_VALUE, "StepNo", _step_number, problems.required("StepNo", raw.get("StepNo"))
    )
    status = problems.required("StatusCode", raw.get("StatusCode"))
    at = problems.time(raw, "UpdateTime", local_time)
    details: dict[str, Any] = {}
    if status == ACCEPTED:
        action = "accept"
    elif status in STEPS:
        action = "progress"
        note = problems.optional("Note", raw.get("Note")) or STEPS[status]
        details["note"] = _text(problems, "Note", "note", note)
    elif status == CLOSED:
        action = "complete"
        result = problems.required("Result", raw.get("Result"))
        details["result"] = _text(problems, "Result", "result", result)
    elif status == HANDED_BACK:
        action = "return"
        code = problems.required("ReasonCode", raw.get("ReasonCode"))
        details["reason_code"] = REASONS.get(code or "")
        if code is not None and details["reason_code"] is None:
            problems.add(Code.INVALID_VALUE, "ReasonCode", "ReasonCode: not one of the codes in the contract")
        details["reason"] = _text(
            problems, "Result", "reason", problems.required("Result", raw.get("Result"))
        )
    elif status is not None:
        problems.add(Code.UNKNOWN_STATUS, "StatusCode", "StatusCode: not a status of a transferred case")
    problems.check()
    if case_id is None or case_no is None or step is None or status is None or at is None:
        raise AssertionError("a required value is missing but no problem was noted")
    return {
        "case_id": case_id,
        "action": action,
        "operation_id": f"{case_no}:{step}:{status}",
        "at": iso(at),
        **details,
    }


class TransferProgressSource(UrbanMgmtSource):
    """QueryTransferProgress, page by page: each record a `ProgressEntry`'s elements as strings.

    The case-file source's service, window and faults, another operation and record. An entry's
    identity for the paginator is its operation id and its time, not the case file number.
    """

    operation = "QueryTransferProgress"
    record_type = f"{{{NAMESPACE}}}TransferProgressEntry"
    list_elements = ("ProgressEntries", "ProgressEntry")

    def versions(self, records: Sequence[PageRecord]) -> list[tuple[str, datetime]]:
        """(operation id, update time) of the entries `to_action` reads; the others are left out
        here, and refused where the actions are applied."""
        found = []
        for record in records:
            if not isinstance(record, dict):
                continue
            try:
                action = to_action(record)
            except InvalidRecord:
                continue
            found.append((str(action["operation_id"]), datetime.fromisoformat(action["at"])))
        return found
