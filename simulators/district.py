"""The district platforms (区级平台) simulator: the 13 districts as clients of the hub's standard
interface (docs/district-interface.md), each with its own habit.

A district platform is not polled by the hub; it calls the hub. Each pass it lists its pending
dispatches (派遣, 督办 urge, 作废 cancel), stores each in its own system, confirms it, and then acts
on the cases it holds as its habit says:

- `prompt` (REST): accepts (签收), reports progress (处置) and completes (办结) every case in the
  pass that brought it, well inside the deadline;
- `soap`: the same over SOAP 1.1 with zeep, on the WSDL the gateway serves, signed with a
  WS-Security UsernameToken PasswordDigest;
- `tardy` (REST): returns (退回) a share of its cases, some with a neighbouring district to
  re-dispatch to; accepts the rest and then leaves a share untouched until the hub urges it
  (the overdue path), applies for postponement (延期) for a share, and completes the others only
  once their deadline has passed.

What a district does with a case is its `Plan`, a pure function of the seed, the district, the
case and the dispatch round (`attempt`: 1 for the first dispatch of the case to this district,
2 if it comes back, …), so a run is reproducible. Every action carries an `operation_id` derived
from (district, case, action, attempt): a rerun sends the same ids and the hub answers
`duplicate: true` instead of acting twice. Before an action is sent it is written to the
district's `actions.jsonl` as pending, with its body and time; a rerun after a crash re-sends
exactly that body, so the hub sees the same operation, not a conflicting one.

Each district keeps its own records under `<var_dir>/simulators/district/<code>/`:
`received.jsonl` (each dispatch as listed, the case record with the reporter's name and phone,
as a district platform stores them) and `actions.jsonl` (each action sent and the hub's answer).
The state of a district is read back from these files, so a new run carries on where the last
one stopped. The hub's answers are taken as a platform would: a refusal (4xx, `soap:Client`
Fault) is recorded and the case left; a failure of the hub or the network (5xx, 429,
`soap:Server`, no answer) is retried a few times with back-off and otherwise left for the next
pass. Log lines name districts, events, cases and actions, never a case's content or people.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import random
import re
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import requests
import zeep
import zeep.exceptions
import zeep.helpers
from lxml import etree
from zeep.settings import Settings
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from simulators.records import SHANGHAI

PARTNER = "district"
DEFAULT_TARGET = "http://127.0.0.1:8000"
DEFAULT_CREDENTIALS = "var/simulators/district/credentials.json"
SOAP_PATH = "/soap/district"
SOAP_SERVICE, SOAP_PORT = "DistrictService", "DistrictPort"

DISTRICTS: dict[str, str] = {
    "420102": "江岸区",
    "420103": "江汉区",
    "420104": "硚口区",
    "420105": "汉阳区",
    "420106": "武昌区",
    "420107": "青山区",
    "420111": "洪山区",
    "420112": "东西湖区",
    "420113": "汉南区",
    "420114": "蔡甸区",
    "420115": "江夏区",
    "420116": "黄陂区",
    "420117": "新洲区",
}
# Districts sharing a border (or facing each other across the river): where a district that
# finds a case outside its jurisdiction suggests it be re-dispatched.
NEIGHBOURS: dict[str, tuple[str, ...]] = {
    "420102": ("420103", "420116"),
    "420103": ("420102", "420104"),
    "420104": ("420103", "420105", "420112"),
    "420105": ("420104", "420114"),
    "420106": ("420107", "420111"),
    "420107": ("420106", "420111"),
    "420111": ("420106", "420107", "420115"),
    "420112": ("420104", "420114", "420116"),
    "420113": ("420114",),
    "420114": ("420105", "420112", "420113"),
    "420115": ("420111",),
    "420116": ("420102", "420112", "420117"),
    "420117": ("420116",),
}

PROMPT, SOAP, TARDY = "prompt", "soap", "tardy"
HABITS: tuple[str, ...] = (PROMPT, SOAP, TARDY)
# The demo's assignment: three districts run their own SOAP stack, two are slow, the rest prompt.
DEFAULT_HABITS: dict[str, str] = {
    **dict.fromkeys(DISTRICTS, PROMPT),
    **dict.fromkeys(("420106", "420107", "420116"), SOAP),
    **dict.fromkeys(("420111", "420114"), TARDY),
}

ACCEPT, PROGRESS, COMPLETE, POSTPONE, RETURN = "accept", "progress", "complete", "postpone", "return"
ACTIONS: tuple[str, ...] = (ACCEPT, PROGRESS, COMPLETE, POSTPONE, RETURN)
RECEIPT = "receipt"
DISPATCH, URGE, CANCEL = "dispatch", "urge", "cancel"

# When a step of a plan is due: at once, once the case's deadline has passed, or once the hub
# has urged (督办) the case.
NOW, AFTER_DEADLINE, WHEN_URGED = "now", "after_deadline", "when_urged"

# What became of one request: the hub acted (`ok`) or had already (`duplicate`), refused it for
# good (`refused`), or could not be reached or answer in time (`deferred`, tried again next pass).
OK, DUPLICATE, REFUSED, DEFERRED, PENDING = "ok", "duplicate", "refused", "deferred", "pending"

MAX_PAGES = 50  # listings a pass reads, at most, before it turns to the cases

log = logging.getLogger(__name__)
T = TypeVar("T")


# ---- habits, shares and plans: pure ----------------------------------------------------------


def assign_habits(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every district's habit: the default assignment with `overrides` (code → habit) applied."""
    habits = dict(DEFAULT_HABITS)
    for code, habit in (overrides or {}).items():
        if code not in DISTRICTS:
            raise ValueError(f"unknown district code {code!r}; expected one of {', '.join(DISTRICTS)}")
        if habit not in HABITS:
            raise ValueError(f"unknown habit {habit!r} for {code}; expected one of {', '.join(HABITS)}")
        habits[code] = habit
    return habits


@dataclass(frozen=True)
class Shares:
    """How a tardy district treats its cases, as fractions of them: returned (of which
    `suggested` name a neighbouring district), missed (accepted, then left until urged) and
    postponed; the rest are completed once their deadline has passed."""

    returned: float = 0.2
    suggested: float = 0.5
    missed: float = 0.2
    postponed: float = 0.2

    def __post_init__(self) -> None:
        for name in ("returned", "suggested", "missed", "postponed"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"the {name} share must lie between 0 and 1")
        if self.returned + self.missed + self.postponed > 1.0 + 1e-9:
            raise ValueError("the returned, missed and postponed shares add up to more than 1")


@dataclass(frozen=True)
class Step:
    """One action of a plan: its own fields (note, result, days, reason, …) and when it is due."""

    action: str
    fields: Mapping[str, Any]
    due: str = NOW


@dataclass(frozen=True)
class Plan:
    """What a district does with one case in one dispatch round: the `course` (prompt, return,
    miss, postpone, late) and its steps, in order."""

    course: str
    steps: tuple[Step, ...]


_NOTES = (
    "已转{unit}办理，工作人员已与诉求人电话联系，并赴现场核查情况。",
    "{unit}已派员现场查看，正在协调相关责任单位抓紧处置。",
    "{unit}已约谈相关责任方，明确整改要求，正在督促落实。",
    "经{unit}初步核实，问题基本属实，已制定处置方案并组织实施。",
)
_URGED_NOTES = (
    "收到督办通知，{unit}已加派人员，正在加快办理。",
    "已按督办要求落实专人跟进，{unit}正在抓紧处置。",
)
# 办理结果, in the words of the hotline's and the message board's handling units
# (simulators.complaints), addressed to the resident (诉求人) whatever channel the case came by.
_RESULTS = (
    "经{unit}现场核实，诉求人反映的问题属实，已督促责任单位完成整改，并于{date}电话回访诉求人，诉求人表示认可。",
    "{unit}已安排工作人员现场处置，问题已于{date}解决，已将办理结果告知诉求人。",
    "经{unit}调查核实，该问题已纳入{year}年度整改计划统筹推进，已向诉求人做好解释说明工作。",
    "{unit}已约谈相关责任单位，督促其落实整改，问题已解决，后续将加强日常巡查，防止问题反弹。",
    "经{unit}核查，诉求人反映的情况与实际不符，已于{date}与诉求人沟通说明，诉求人表示理解。",
)
_POSTPONE_REASONS = (
    "该诉求涉及多个部门职责，需协调相关单位共同处置，申请延期办理。",
    "整改需待施工周期完成，现场已采取临时措施，申请延期办理。",
    "需进一步调查取证并与诉求人核实情况，申请延期办理。",
)
# 退回 reasons: (code, text); the first is used when a neighbouring district is suggested.
_OUTSIDE = ("not_in_jurisdiction", "经现场核实，诉求发生地不在本区管辖范围，属{neighbour}辖区，建议改派。")
_RETURN_REASONS = (
    ("not_our_department", "该诉求不属于区级职能范围，请市级平台协调市直相关部门办理。"),
    ("insufficient_information", "诉求地址不详，多次联系诉求人未果，无法开展核查，予以退回。"),
)


def _result(unit: str, today: date, rng: random.Random) -> str:
    return rng.choice(_RESULTS).format(unit=unit, date=f"{today.month}月{today.day}日", year=today.year)


def _unit(code: str, case: Mapping[str, Any]) -> str:
    """The handling unit's name as the case record gives it (`assigned_unit` is its code), or
    the district's own service centre."""
    unit = case.get("unit_name")
    return unit if isinstance(unit, str) and unit.strip() else f"{DISTRICTS[code]}民呼我应服务中心"


def plan(
    code: str,
    habit: str,
    case_id: str,
    case: Mapping[str, Any],
    attempt: int,
    *,
    seed: int,
    shares: Shares,
    today: date,
) -> Plan:
    """The plan of district `code` for `case` in dispatch round `attempt`.

    Drawn from a generator seeded by (seed, district, case, attempt), so the same inputs give
    the same plan and the same texts. A case that comes back to a district (attempt > 1) is not
    returned again: the city dispatch centre has decided, and two tardy neighbours must not pass
    a case back and forth. `today` dates the handling result.
    """
    rng = random.Random(f"{seed}:{code}:{case_id}:{attempt}")
    unit = _unit(code, case)
    handler = {"handler": unit}
    if habit in (PROMPT, SOAP):
        return Plan(
            "prompt",
            (
                Step(ACCEPT, handler),
                Step(PROGRESS, {"note": rng.choice(_NOTES).format(unit=unit)}),
                Step(COMPLETE, {"result": _result(unit, today, rng)}),
            ),
        )
    if habit != TARDY:
        raise ValueError(f"unknown habit {habit!r}")
    draw = rng.random() if attempt == 1 else shares.returned + (1 - shares.returned) * rng.random()
    if draw < shares.returned:
        neighbours = NEIGHBOURS[code]
        if rng.random() < shares.suggested:
            neighbour = rng.choice(neighbours)
            fields = {
                "reason_code": _OUTSIDE[0],
                "suggested_district": neighbour,
                "reason": _OUTSIDE[1].format(neighbour=DISTRICTS[neighbour]),
            }
        else:
            reason_code, reason = rng.choice(_RETURN_REASONS)
            fields = {"reason_code": reason_code, "reason": reason}
        return Plan("return", (Step(RETURN, fields),))
    result = _result(unit, today, rng)
    if draw < shares.returned + shares.missed:
        return Plan(
            "miss",
            (
                Step(ACCEPT, handler),
                Step(PROGRESS, {"note": rng.choice(_URGED_NOTES).format(unit=unit)}, WHEN_URGED),
                Step(COMPLETE, {"result": result}, WHEN_URGED),
            ),
        )
    note = {"note": rng.choice(_NOTES).format(unit=unit)}
    if draw < shares.returned + shares.missed + shares.postponed:
        return Plan(
            "postpone",
            (
                Step(ACCEPT, handler),
                Step(POSTPONE, {"days": rng.randint(3, 10), "reason": rng.choice(_POSTPONE_REASONS)}),
                Step(PROGRESS, note, AFTER_DEADLINE),
                Step(COMPLETE, {"result": result}, AFTER_DEADLINE),
            ),
        )
    return Plan(
        "late",
        (
            Step(ACCEPT, handler),
            Step(PROGRESS, note, AFTER_DEADLINE),
            Step(COMPLETE, {"result": result}, AFTER_DEADLINE),
        ),
    )


def operation_id(code: str, case_id: str, action: str, attempt: int) -> str:
    """The id of `action` on `case_id` by district `code` in dispatch round `attempt`: the same
    every time it is asked for, and within the interface's 64 characters of `[A-Za-z0-9._:-]`
    whatever the case id holds (it enters as a digest)."""
    digest = hashlib.sha256(case_id.encode("utf-8")).hexdigest()[:32]
    return f"{code}:{action}:{attempt}:{digest}"


def now_at(clock: Callable[[], datetime] | None = None) -> str:
    """RFC 3339 in Beijing time with microseconds, so an action taken within the second of its
    dispatch is not dated before it."""
    moment = (clock or (lambda: datetime.now(SHANGHAI)))()
    return moment.astimezone(SHANGHAI).isoformat(timespec="microseconds")


# ---- credentials -----------------------------------------------------------------------------


class CredentialsError(ValueError):
    """The credentials file cannot be used; the message is one line and names no secret."""


@dataclass(frozen=True)
class Credential:
    """What a district authenticates with: a REST API key, a SOAP username and password."""

    api_key: str | None = field(default=None, repr=False)
    soap_username: str | None = None
    soap_password: str | None = field(default=None, repr=False)

    def usable_for(self, habit: str) -> bool:
        if habit == SOAP:
            return bool(self.soap_username and self.soap_password)
        return bool(self.api_key)


def parse_credentials(document: Any, source: str = "credentials") -> dict[str, Credential]:
    """`{"<district code>": {"api_key", "soap_username", "soap_password"}}` checked: every key a
    district code, every value an object of strings (each optional)."""
    if not isinstance(document, Mapping):
        raise CredentialsError(f"{source}: expected a JSON object of district codes")
    parsed = {}
    for code, entry in document.items():
        if code not in DISTRICTS:
            raise CredentialsError(f"{source}: {code!r} is not one of the 13 district codes")
        if not isinstance(entry, Mapping):
            raise CredentialsError(f"{source}: district {code}: expected an object")
        values: dict[str, str | None] = {}
        for name in ("api_key", "soap_username", "soap_password"):
            value = entry.get(name)
            if value is not None and not isinstance(value, str):
                raise CredentialsError(f"{source}: district {code}: {name} must be a string")
            values[name] = value or None
        parsed[code] = Credential(**values)
    return parsed


def load_credentials(path: str | os.PathLike[str]) -> dict[str, Credential]:
    """The credentials file the hub's demo writes, read and checked (see `parse_credentials`)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CredentialsError(f"credentials file {path}: not found") from None
    except (OSError, UnicodeDecodeError) as failure:
        raise CredentialsError(
            f"credentials file {path}: cannot be read ({type(failure).__name__})"
        ) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as failure:
        raise CredentialsError(
            f"credentials file {path}: not JSON (line {failure.lineno}, column {failure.colno})"
        ) from None
    return parse_credentials(document, f"credentials file {path}")


# ---- the two transports ----------------------------------------------------------------------


class Transient(Exception):
    """The hub could not be reached or could not answer now; worth trying again."""

    def __init__(self, what: str, retry_after: float | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.retry_after = retry_after


class Refused(Exception):
    """The hub refused the request for good: `status` the HTTP status or the Fault's code,
    `reason` the problem type or DistrictFault code."""

    def __init__(self, status: int | str, reason: str, problem: Mapping[str, Any]) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.problem = dict(problem)


class Unauthorized(Refused):
    """The hub does not accept the district's credential: nothing else will work this pass."""


class Channel:
    """What a district platform needs of the hub's interface, whatever the transport."""

    def __init__(self, session: requests.Session, timeout: float) -> None:
        self._session = session
        self._timeout = timeout

    def close(self) -> None:
        self._session.close()

    def dispatches(self, limit: int) -> list[dict[str, Any]]:
        raise NotImplementedError

    def confirm(self, event_id: str) -> dict[str, Any]:
        raise NotImplementedError

    def act(self, case_id: str, action: str, body: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError


class RestChannel(Channel):
    """`/districts/{code}/…` with the district's bearer key; problem+json refusals."""

    def __init__(
        self, target: str, code: str, api_key: str, session: requests.Session, timeout: float
    ) -> None:
        super().__init__(session, timeout)
        self._base = f"{target.rstrip('/')}/districts/{code}"
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Accept": "application/json",
            "User-Agent": f"district-platform/{code}",
        }

    def dispatches(self, limit: int) -> list[dict[str, Any]]:
        answer = self._call("GET", "/dispatches", params={"limit": limit})
        listed = answer.get("dispatches")
        if not isinstance(listed, list):
            raise Transient("listing without a dispatches list")
        return listed

    def confirm(self, event_id: str) -> dict[str, Any]:
        return self._call("POST", f"/dispatches/{event_id}/receipt")

    def act(self, case_id: str, action: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("POST", f"/cases/{case_id}/{action}", json=dict(body))

    def _call(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        try:
            with self._session.request(
                method,
                self._base + path,
                headers=self._headers,
                timeout=self._timeout,
                allow_redirects=False,
                **options,
            ) as response:
                status, text, retry_after = (
                    response.status_code,
                    response.text,
                    response.headers.get("Retry-After"),
                )
        except requests.RequestException as failure:
            raise Transient(type(failure).__name__) from None
        try:
            document = json.loads(text) if text else {}
        except json.JSONDecodeError:
            document = None
        if status == 429 or status >= 500:
            raise Transient(f"HTTP {status}", _seconds(retry_after))
        if not isinstance(document, dict):
            raise Transient(f"HTTP {status} without a JSON object")
        if status in (401, 403):
            raise Unauthorized(status, str(document.get("type", "")), document)
        if status >= 300:
            raise Refused(status, str(document.get("type", "")), document)
        return document


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


_SOAP_OPERATIONS = {
    ACCEPT: "AcceptCase",
    PROGRESS: "ReportProgress",
    COMPLETE: "CompleteCase",
    POSTPONE: "ApplyPostponement",
    RETURN: "ReturnCase",
}
_SOAP_FIELDS = {
    "handler": "Handler",
    "note": "Note",
    "result": "Result",
    "days": "Days",
    "reason": "Reason",
    "reason_code": "ReasonCode",
    "suggested_district": "SuggestedDistrict",
}


class SoapChannel(Channel):
    """`/soap/district` through zeep, on the WSDL the gateway serves, each request signed with
    a fresh UsernameToken PasswordDigest (zeep draws a new nonce and Created every call)."""

    def __init__(
        self, target: str, code: str, username: str, password: str, session: requests.Session, timeout: float
    ) -> None:
        super().__init__(session, timeout)
        self._target = target.rstrip("/")
        self._code = code
        self._token = UsernameToken(username, password, use_digest=True)
        self._service: Any = None

    def dispatches(self, limit: int) -> list[dict[str, Any]]:
        answer = self._call("GetDispatches", DistrictCode=self._code, Limit=limit)
        return [_object(one) for one in _listed(answer)]

    def confirm(self, event_id: str) -> dict[str, Any]:
        return _object(self._call("AckDispatch", DistrictCode=self._code, EventId=event_id))

    def act(self, case_id: str, action: str, body: Mapping[str, Any]) -> dict[str, Any]:
        fields = {_SOAP_FIELDS[name]: value for name, value in body.items() if name in _SOAP_FIELDS}
        answer = self._call(
            _SOAP_OPERATIONS[action],
            DistrictCode=self._code,
            CaseId=case_id,
            OperationId=body["operation_id"],
            At=datetime.fromisoformat(body["at"]),
            **fields,
        )
        if isinstance(answer, Mapping) and "ActionResult" in answer:
            answer = answer["ActionResult"]
        return _object(answer)

    def _bind(self) -> Any:
        """The service, built on first use: the WSDL is fetched from the gateway, so a hub that
        is down costs a deferred pass, not a crash at start."""
        if self._service is None:
            client = zeep.Client(
                f"{self._target}{SOAP_PATH}?wsdl",
                wsse=self._token,
                transport=Transport(
                    session=self._session, timeout=self._timeout, operation_timeout=self._timeout
                ),
                settings=Settings(forbid_dtd=True, forbid_entities=True, forbid_external=True),
            )
            binding = client.wsdl.services[SOAP_SERVICE].ports[SOAP_PORT].binding.name
            self._service = client.create_service(binding, self._target + SOAP_PATH)
        return self._service

    def _call(self, operation: str, **request: Any) -> Any:
        try:
            return zeep.helpers.serialize_object(getattr(self._bind(), operation)(**request), dict)
        except zeep.exceptions.Fault as fault:
            code = str(fault.code or "")
            detail = _fault_detail(fault.detail)
            reason = detail.get("code") or code
            if "FailedAuthentication" in code or "FailedAuthentication" in reason:
                raise Unauthorized(code, reason, detail) from None
            if code.endswith("Server"):
                raise Transient(f"Fault {code} {reason}") from None
            raise Refused(code, reason, detail) from None
        except zeep.exceptions.TransportError as failure:
            if failure.status_code in (401, 403):
                raise Unauthorized(failure.status_code, "transport", {}) from None
            if failure.status_code == 429 or failure.status_code >= 500:
                raise Transient(f"HTTP {failure.status_code}") from None
            raise Refused(failure.status_code, "transport", {}) from None
        except (requests.RequestException, zeep.exceptions.Error, etree.XMLSyntaxError) as failure:
            raise Transient(type(failure).__name__) from None


def _fault_detail(detail: Any) -> dict[str, str]:
    """The DistrictFault detail's Code, Field and Message, lower-cased names; {} without one."""
    if detail is None:
        return {}
    found = {}
    for element in detail.iter():
        name = element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""
        if name in ("Code", "Field", "Message") and element.text:
            found[name.lower()] = element.text.strip()
    return found


def _listed(answer: Any) -> list[Any]:
    """The Dispatch elements of a GetDispatches answer, however zeep unwrapped the
    Dispatches/Dispatch nesting (a lone child comes back as the child itself)."""
    while (
        isinstance(answer, Mapping) and len(answer) == 1 and next(iter(answer)) in ("Dispatches", "Dispatch")
    ):
        answer = next(iter(answer.values()))
    if answer is None:
        return []
    if isinstance(answer, Mapping) and "Dispatch" in answer:
        return _listed(answer["Dispatch"])
    return list(answer) if isinstance(answer, list) else [answer]


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


def _object(answer: Any) -> dict[str, Any]:
    """A SOAP answer's element as a JSON object (see `_snake_keys`)."""
    converted = _snake_keys(answer)
    if not isinstance(converted, dict):
        raise Transient("SOAP answer without the expected element")
    return converted


def _snake_keys(value: Any) -> Any:
    """A zeep answer as JSON would carry it: snake_case names, times in RFC 3339, numbers as
    numbers, so a SOAP district stores and reads what a REST one does."""
    if isinstance(value, Mapping):
        return {_snake(str(key)): _snake_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_snake_keys(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


# ---- one district ----------------------------------------------------------------------------


@dataclass
class _Case:
    """A case as the district holds it: the record of its latest dispatch and what came after."""

    case_id: str
    attempt: int
    record: dict[str, Any]
    urged: bool = False
    cancelled: bool = False


def _append(path: Path, line: Mapping[str, Any]) -> None:
    """One JSON line, in a file only its owner can read: it holds residents' names and phones."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8") as stream:
        stream.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON lines of a district file; a line cut short by a crash is skipped."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as stream:
        for text in stream:
            try:
                line = json.loads(text)
            except json.JSONDecodeError:
                continue
            if isinstance(line, dict):
                yield line


class Ledger:
    """A district's own records: the dispatches it received and the actions it sent, in
    `received.jsonl` and `actions.jsonl`, read back when a run starts."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.received_path = folder / "received.jsonl"
        self.actions_path = folder / "actions.jsonl"
        self.events: set[str] = set()
        self.confirmed: set[str] = set()
        self.cases: dict[str, _Case] = {}
        self.operations: dict[str, dict[str, Any]] = {}  # operation id → its latest line
        for line in _lines(self.received_path):
            self._take(line)
        for line in _lines(self.actions_path):
            self._note(line)

    def store(self, dispatch: Mapping[str, Any], received_at: str) -> bool:
        """Keep a listed dispatch; False if this event was stored before."""
        if dispatch["event_id"] in self.events:
            return False
        line = {"received_at": received_at, **dispatch}
        _append(self.received_path, line)
        self._take(line)
        return True

    def record(self, line: Mapping[str, Any]) -> None:
        _append(self.actions_path, line)
        self._note(line)

    def _take(self, line: Mapping[str, Any]) -> None:
        event_id, case_id, kind = line.get("event_id"), line.get("case_id"), line.get("kind")
        if not isinstance(event_id, str) or not isinstance(case_id, str):
            return
        self.events.add(event_id)
        record = line.get("case") if isinstance(line.get("case"), dict) else {}
        held = self.cases.get(case_id)
        if kind == DISPATCH:
            self.cases[case_id] = _Case(case_id, (held.attempt if held else 0) + 1, dict(record or {}))
        elif held is not None and kind == URGE:
            held.urged = True
        elif held is not None and kind == CANCEL:
            held.cancelled = True

    def _note(self, line: Mapping[str, Any]) -> None:
        if line.get("action") == RECEIPT:
            if line.get("outcome") == OK and isinstance(line.get("event_id"), str):
                self.confirmed.add(line["event_id"])
        elif isinstance(line.get("operation_id"), str):
            self.operations[line["operation_id"]] = dict(line)


class Platform:
    """One district platform: its habit, its channel to the hub and its own records."""

    def __init__(
        self,
        code: str,
        habit: str,
        channel: Channel,
        folder: Path,
        *,
        seed: int,
        shares: Shares,
        limit: int = 100,
        retries: int = 3,
        backoff: float = 0.5,
        stop: threading.Event | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.code = code
        self.habit = habit
        self.channel = channel
        self.ledger = Ledger(folder)
        self.seed = seed
        self.shares = shares
        self.limit = limit
        self.retries = max(1, retries)
        self.backoff = backoff
        self._stop = stop or threading.Event()
        self._clock = clock or (lambda: datetime.now(SHANGHAI))

    def run_pass(self) -> Counter[str]:
        """List, store and confirm the pending dispatches, then act on every case held. Nothing
        that goes wrong escapes: it is counted, logged in one line and left for the next pass."""
        counts: Counter[str] = Counter()
        try:
            try:
                self._receive(counts)
            except Transient as failure:
                counts[DEFERRED] += 1
                log.warning(
                    "district %s: listing failed (%s); left for the next pass", self.code, failure.what
                )
            for case in list(self.ledger.cases.values()):
                if self._stop.is_set():
                    break
                try:
                    self._handle(case, counts)
                except Unauthorized:
                    raise
                except Exception as failure:  # noqa: BLE001 - one case never stops the platform
                    counts["error"] += 1
                    log.warning(
                        "district %s: case %s failed with %s; left for the next pass",
                        self.code,
                        case.case_id,
                        type(failure).__name__,
                    )
        except Unauthorized as refusal:
            counts["unauthorized"] += 1
            log.warning(
                "district %s: the hub refused its credential (%s); pass ended", self.code, refusal.status
            )
        except Exception as failure:  # noqa: BLE001 - one district never stops the others
            counts["error"] += 1
            log.warning("district %s: pass failed with %s", self.code, type(failure).__name__)
        return counts

    def close(self) -> None:
        self.channel.close()

    def _retrying(self, call: Callable[[], T]) -> tuple[T, int]:
        """The answer and the tries it took; a Transient once the tries are spent or on stop.
        The wait doubles from `backoff`, or is the hub's Retry-After if longer (30 s at most)."""
        tries = 1
        while True:
            try:
                return call(), tries
            except Transient as failure:
                delay = max(failure.retry_after or 0.0, self.backoff * 2 ** (tries - 1))
                if tries >= self.retries or self._stop.wait(min(delay, 30.0)):
                    raise
                tries += 1

    def _receive(self, counts: Counter[str]) -> None:
        for _ in range(MAX_PAGES):
            page, _ = self._retrying(lambda: self.channel.dispatches(self.limit))
            confirmed = 0
            for dispatch in page:
                if not (
                    isinstance(dispatch, dict)
                    and isinstance(dispatch.get("event_id"), str)
                    and isinstance(dispatch.get("case_id"), str)
                ):
                    counts["malformed"] += 1
                    continue
                if self.ledger.store(dispatch, now_at(self._clock)):
                    counts[str(dispatch.get("kind"))] += 1
                if self._confirm(dispatch["event_id"], counts):
                    confirmed += 1
            if len(page) < self.limit or not confirmed or self._stop.is_set():
                return

    def _confirm(self, event_id: str, counts: Counter[str]) -> bool:
        """Confirm a stored event; False if it was already, or the hub did not take it."""
        if event_id in self.ledger.confirmed:
            return False
        line: dict[str, Any] = {"logged_at": now_at(self._clock), "action": RECEIPT, "event_id": event_id}
        try:
            answer, tries = self._retrying(lambda: self.channel.confirm(event_id))
        except Unauthorized:
            raise
        except Refused as refusal:
            self.ledger.record(
                {**line, "outcome": REFUSED, "status": refusal.status, "problem": refusal.problem}
            )
            counts[REFUSED] += 1
            return False
        except Transient as failure:
            self.ledger.record({**line, "outcome": DEFERRED, "error": failure.what})
            counts[DEFERRED] += 1
            return False
        self.ledger.record({**line, "outcome": OK, "answer": answer, "tries": tries})
        counts[RECEIPT] += 1
        return True

    def _handle(self, case: _Case, counts: Counter[str]) -> None:
        """Send the plan's steps that are due and not yet answered, in order. A refusal ends the
        case here (a refused postponement only skips itself); a step not due or deferred waits,
        and so do the steps after it."""
        if case.cancelled:
            return
        now = self._clock()
        course = plan(
            self.code,
            self.habit,
            case.case_id,
            case.record,
            case.attempt,
            seed=self.seed,
            shares=self.shares,
            today=now.astimezone(SHANGHAI).date(),
        )
        for step in course.steps:
            operation = operation_id(self.code, case.case_id, step.action, case.attempt)
            previous = self.ledger.operations.get(operation)
            outcome = previous.get("outcome") if previous else None
            if outcome in (PENDING, DEFERRED) and previous is not None:
                # Sent before without a final answer: the hub may have acted, so the same body
                # goes again and the hub answers it as a duplicate.
                outcome = self._send(case, step.action, operation, previous["request"], counts)
            elif outcome is None:
                if not self._due(step, case, now):
                    return
                body = {"operation_id": operation, "at": now_at(self._clock), **step.fields}
                outcome = self._send(case, step.action, operation, body, counts)
            if outcome == DEFERRED or (outcome == REFUSED and step.action != POSTPONE):
                return

    def _due(self, step: Step, case: _Case, now: datetime) -> bool:
        """A step after the deadline is due once the case's deadline has passed (or the hub has
        urged it, which says as much); a case without a deadline has nothing to wait for."""
        if step.due == NOW:
            return True
        if step.due == WHEN_URGED:
            return case.urged
        deadline = case.record.get("deadline_at")
        if case.urged or not isinstance(deadline, str):
            return True
        try:
            return now >= datetime.fromisoformat(deadline)
        except ValueError:
            return True

    def _send(
        self, case: _Case, action: str, operation: str, body: Mapping[str, Any], counts: Counter[str]
    ) -> str:
        """Send one action, written ahead as pending; its outcome."""
        line = {
            "operation_id": operation,
            "case_id": case.case_id,
            "action": action,
            "attempt": case.attempt,
            "request": dict(body),
        }
        self.ledger.record({"logged_at": now_at(self._clock), **line, "outcome": PENDING})
        try:
            answer, tries = self._retrying(lambda: self.channel.act(case.case_id, action, body))
        except Unauthorized:
            raise
        except Refused as refusal:
            self.ledger.record(
                {
                    "logged_at": now_at(self._clock),
                    **line,
                    "outcome": REFUSED,
                    "status": refusal.status,
                    "problem": refusal.problem,
                }
            )
            counts[REFUSED] += 1
            log.warning(
                "district %s: %s of case %s refused (%s %s)",
                self.code,
                action,
                case.case_id,
                refusal.status,
                refusal.reason,
            )
            return REFUSED
        except Transient as failure:
            self.ledger.record(
                {"logged_at": now_at(self._clock), **line, "outcome": DEFERRED, "error": failure.what}
            )
            counts[DEFERRED] += 1
            return DEFERRED
        outcome = DUPLICATE if answer.get("duplicate") is True else OK
        self.ledger.record(
            {"logged_at": now_at(self._clock), **line, "outcome": outcome, "answer": answer, "tries": tries}
        )
        counts[action] += 1
        if outcome == DUPLICATE:
            counts[DUPLICATE] += 1
        return outcome


# ---- runs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """What each district did: code → counts of events received (dispatch, urge, cancel),
    receipts, actions the hub took (accept, …; duplicates among them as `duplicate`), refused
    and deferred requests; and the districts skipped for want of credentials."""

    counts: Mapping[str, Mapping[str, int]]
    habits: Mapping[str, str]
    skipped: tuple[str, ...] = ()

    def total(self, key: str) -> int:
        return sum(counts.get(key, 0) for counts in self.counts.values())

    def lines(self, *, idle: bool = True) -> list[str]:
        """One line per district for a person (`idle`: also those that did nothing); what a
        district did not do is not mentioned."""
        order = (DISPATCH, URGE, CANCEL, RECEIPT, *ACTIONS, DUPLICATE, REFUSED, DEFERRED)
        text = []
        for code, counts in self.counts.items():
            if not idle and not any(counts.values()):
                continue
            keys = [*order, *sorted(set(counts) - set(order))]
            done = ", ".join(f"{key} {counts[key]}" for key in keys if counts.get(key))
            text.append(
                f"{PARTNER} {code} {DISTRICTS[code]} ({self.habits[code]}): {done or 'nothing to do'}"
            )
        return text


def _merge(into: dict[str, Counter[str]], code: str, counts: Counter[str]) -> None:
    into.setdefault(code, Counter()).update(counts)


def platforms(
    target: str,
    credentials: Mapping[str, Credential],
    *,
    seed: int = 42,
    habits: Mapping[str, str] | None = None,
    shares: Shares | None = None,
    var_dir: str | os.PathLike[str] = "var",
    limit: int = 100,
    retries: int = 3,
    backoff: float = 0.5,
    timeout: float = 10.0,
    stop: threading.Event | None = None,
    clock: Callable[[], datetime] | None = None,
) -> tuple[list[Platform], tuple[str, ...]]:
    """A platform for every district with the credential its habit needs, and the codes of
    those skipped (each with one warning line)."""
    assigned = assign_habits(habits)
    root = Path(var_dir) / "simulators" / PARTNER
    built, skipped = [], []
    for code, habit in assigned.items():
        credential = credentials.get(code)
        if credential is None or not credential.usable_for(habit):
            kind = "SOAP username and password" if habit == SOAP else "API key"
            log.warning("district %s %s: no %s in the credentials; skipped", code, DISTRICTS[code], kind)
            skipped.append(code)
            continue
        session = requests.Session()
        channel: Channel
        if habit == SOAP:
            assert credential.soap_username and credential.soap_password  # usable_for checked them
            channel = SoapChannel(
                target, code, credential.soap_username, credential.soap_password, session, timeout
            )
        else:
            assert credential.api_key
            channel = RestChannel(target, code, credential.api_key, session, timeout)
        built.append(
            Platform(
                code,
                habit,
                channel,
                root / code,
                seed=seed,
                shares=shares or Shares(),
                limit=limit,
                retries=retries,
                backoff=backoff,
                stop=stop,
                clock=clock,
            )
        )
    return built, tuple(skipped)


def _credentials(value: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Credential]:
    if isinstance(value, Mapping):
        if all(isinstance(entry, Credential) for entry in value.values()):
            return dict(value)
        return parse_credentials(value)
    return load_credentials(value)


def run_once(
    target: str,
    credentials: str | os.PathLike[str] | Mapping[str, Any],
    *,
    seed: int = 42,
    habits: Mapping[str, str] | None = None,
    shares: Shares | None = None,
    var_dir: str | os.PathLike[str] = "var",
    limit: int = 100,
    retries: int = 3,
    backoff: float = 0.5,
    timeout: float = 10.0,
    clock: Callable[[], datetime] | None = None,
) -> Summary:
    """One pass over every district. `credentials` is the credentials file, its parsed JSON or
    code → `Credential`; `habits` overrides the default assignment (code → habit)."""
    built, skipped = platforms(
        target,
        _credentials(credentials),
        seed=seed,
        habits=habits,
        shares=shares,
        var_dir=var_dir,
        limit=limit,
        retries=retries,
        backoff=backoff,
        timeout=timeout,
        clock=clock,
    )
    counts: dict[str, Counter[str]] = {}
    try:
        for platform in built:
            _merge(counts, platform.code, platform.run_pass())
    finally:
        for platform in built:
            platform.close()
    return Summary(counts, assign_habits(habits), skipped)


def run(
    target: str,
    credentials: str | os.PathLike[str] | Mapping[str, Any],
    *,
    interval: float = 2.0,
    stop: threading.Event,
    seed: int = 42,
    habits: Mapping[str, str] | None = None,
    shares: Shares | None = None,
    var_dir: str | os.PathLike[str] = "var",
    limit: int = 100,
    retries: int = 3,
    backoff: float = 0.5,
    timeout: float = 10.0,
    on_pass: Callable[[Summary], None] | None = None,
) -> Summary:
    """Pass over every district every `interval` seconds until `stop` is set; the total."""
    built, skipped = platforms(
        target,
        _credentials(credentials),
        seed=seed,
        habits=habits,
        shares=shares,
        var_dir=var_dir,
        limit=limit,
        retries=retries,
        backoff=backoff,
        timeout=timeout,
        stop=stop,
    )
    assigned = assign_habits(habits)
    total: dict[str, Counter[str]] = {}
    try:
        while not stop.is_set():
            this: dict[str, Counter[str]] = {}
            for platform in built:
                if stop.is_set():
                    break
                _merge(this, platform.code, platform.run_pass())
            for code, counts in this.items():
                _merge(total, code, counts)
            if on_pass is not None:
                on_pass(Summary(this, assigned, skipped))
            stop.wait(interval)
    finally:
        for platform in built:
            platform.close()
    return Summary(total, assigned, skipped)


# ---- command line ----------------------------------------------------------------------------


def _habit(text: str) -> tuple[str, str]:
    code, _, habit = text.partition("=")
    if code not in DISTRICTS or habit not in HABITS:
        raise argparse.ArgumentTypeError(
            f"expected CODE=HABIT, CODE a district code, HABIT one of {', '.join(HABITS)}"
        )
    return code, habit


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a number between 0 and 1") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("expected a number between 0 and 1")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `python -m simulators district`."""
    defaults = ", ".join(f"{code} {habit}" for code, habit in DEFAULT_HABITS.items() if habit != PROMPT)
    parser.add_argument(
        "--target", default=DEFAULT_TARGET, help=f"the hub's base URL (default {DEFAULT_TARGET})"
    )
    parser.add_argument(
        "--credentials",
        default=DEFAULT_CREDENTIALS,
        help=f"JSON of each district's api_key, soap_username, soap_password (default {DEFAULT_CREDENTIALS})",
    )
    parser.add_argument("--once", action="store_true", help="one pass over every district, then exit")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between passes (default 2)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--habit",
        type=_habit,
        action="append",
        default=[],
        metavar="CODE=HABIT",
        help=f"a district's habit, repeatable (default: {defaults}, every other prompt)",
    )
    shares = Shares()
    parser.add_argument(
        "--return-rate",
        type=_share,
        default=shares.returned,
        help=f"share of a tardy district's cases it returns (default {shares.returned})",
    )
    parser.add_argument(
        "--suggest-rate",
        type=_share,
        default=shares.suggested,
        help=f"share of returns naming a neighbouring district (default {shares.suggested})",
    )
    parser.add_argument(
        "--miss-rate",
        type=_share,
        default=shares.missed,
        help=f"share left untouched until urged (default {shares.missed})",
    )
    parser.add_argument(
        "--postpone-rate",
        type=_share,
        default=shares.postponed,
        help=f"share postponed (default {shares.postponed}); the rest is completed after its deadline",
    )
    parser.add_argument("--limit", type=int, default=100, help="dispatches listed per request (default 100)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for each answer")
    parser.add_argument(
        "--var-dir",
        default="var",
        help="the districts' records go under <var-dir>/simulators/district/<code>/ (default var)",
    )


def main_from_args(args: argparse.Namespace) -> int:
    """Run as the options say; 2 if the credentials or shares cannot be used."""
    try:
        credentials = load_credentials(args.credentials)
        shares = Shares(args.return_rate, args.suggest_rate, args.miss_rate, args.postpone_rate)
    except ValueError as problem:
        print(f"{PARTNER}: {problem}", file=sys.stderr, flush=True)
        return 2
    options: dict[str, Any] = {
        "seed": args.seed,
        "habits": dict(args.habit),
        "shares": shares,
        "var_dir": args.var_dir,
        "limit": args.limit,
        "timeout": args.timeout,
    }
    if args.once:
        for line in run_once(args.target, credentials, **options).lines():
            print(line, flush=True)
        return 0
    stop = threading.Event()

    def finish(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, finish)
    print(f"{PARTNER} platforms calling {args.target.rstrip('/')} every {args.interval:g} s", flush=True)

    def report(summary: Summary) -> None:
        for line in summary.lines(idle=False):
            print(line, flush=True)

    run(args.target, credentials, interval=args.interval, stop=stop, on_pass=report, **options)
    return 0
