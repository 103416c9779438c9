"""The health commission's handling feedback (处置反馈) on the cases the hub sent it, read back as
the hub's workflow actions.

`GET /api/v1/feedback` pages the entries by feedbackAt (`since`, `until`, RFC 3339; page and
pageSize 1–200) and answers `{total, page, pageSize, items}` with no code: errors are HTTP
statuses (401 for a signature refused, 400 for a parameter), which the kit's transport maps.
The hub signs each request with its key id and the secret its uploads are signed with
(`SignedRead`), not a bearer token: the secret itself never goes over the wire.

Each entry is one feedback and never changes, so its feedbackId is both its identity for the
paginator and the operation id of the action: read twice (the lookback re-reads windows), it is
applied once. `to_action` turns an entry into the `feedback` action of
`schemas/district/actions.schema.json` with `case_id` (the hub's, as sent) and `action` beside
it; handledBy, the commission's office, has no place in the action and is left out.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from casehub.errors import InvalidRecord, Reason
from casehub.normalize import iso, offset_time
from casehub.ports import SourceKey, Window
from casehub.reasons import Code
from connectors.kit.problems import Problems, source_key
from connectors.kit.rest import RestSource
from connectors.kit.sink import signature
from connectors.kit.source import Endpoint

CHANNEL = "health_commission"
FEEDBACK = "/api/v1/feedback"
CODES = ("verified", "intervened", "referred", "no_action")
"""已核实, 已介入处置, 已转交疾控或医疗机构, 无需处置 (actions.schema.json `$defs/feedback`)."""
MAX_NOTE = 2000
_OPERATION_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class SignedRead(requests.auth.AuthBase):
    """The commission's signature on a read: X-App-Key, X-Timestamp and X-Signature,
    `sha256=<hex HMAC-SHA256 over "<METHOD> <path>?<query>.<timestamp>.">` — the upload's scheme
    (`connectors.kit.sink`) with the request target in place of the batch id and no body. Each
    attempt is signed afresh; the secret never appears in a repr or a log."""

    def __init__(self, login: str, secret: str, clock: Callable[[], float] = time.time) -> None:
        self._login = login
        self._secret = secret
        self._clock = clock

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        timestamp = str(int(self._clock()))
        request.headers["X-App-Key"] = self._login
        request.headers["X-Timestamp"] = timestamp
        target = f"{request.method} {request.path_url}"
        request.headers["X-Signature"] = signature(self._secret, target, timestamp, b"")
        return request

    def __repr__(self) -> str:
        return "SignedRead(***)"


class FeedbackKeys:
    """An entry's identity and time as the paginator reads them: feedbackId and feedbackAt."""

    channel = CHANNEL

    def key(self, raw: Mapping[str, Any]) -> SourceKey:
        return source_key(CHANNEL, raw, "feedbackId", "feedbackAt", offset_time)


def to_action(raw: Any) -> dict[str, Any]:
    """The hub's `feedback` action for one entry, or `InvalidRecord` naming every defect.

    `case_id`, `action`, `operation_id` (the feedbackId), `at` (feedbackAt, ISO 8601 with the
    +08:00 offset), `code` and `note`, all always there.
    """
    if not isinstance(raw, Mapping):
        raise InvalidRecord([Reason(str(Code.NOT_AN_OBJECT), "/", "the entry is not a JSON object")])
    problems = Problems(CHANNEL)
    operation_id = problems.required("feedbackId", raw.get("feedbackId"), Code.MISSING_ID)
    if operation_id is not None and not _OPERATION_ID.fullmatch(operation_id):
        problems.add(Code.INVALID_ID, "feedbackId", "feedbackId: not 1 to 64 of A-Z a-z 0-9 . _ : -")
        operation_id = None
    case_id = problems.identifier("caseId", raw.get("caseId"))
    code = problems.required("code", raw.get("code"))
    if code is not None and code not in CODES:
        problems.add(Code.INVALID_VALUE, "code", f"code: not one of {', '.join(CODES)}")
    note = problems.required("note", raw.get("note"))
    if note is not None and len(note) > MAX_NOTE:
        problems.add(Code.INVALID_VALUE, "note", f"note: over {MAX_NOTE} characters")
    at = problems.time(raw, "feedbackAt", offset_time)
    problems.check()
    if operation_id is None or case_id is None or code is None or note is None or at is None:
        raise AssertionError("a required value is missing but no problem was noted")
    return {
        "case_id": case_id,
        "action": "feedback",
        "operation_id": operation_id,
        "at": iso(at),
        "code": code,
        "note": note,
    }


class FeedbackSource(RestSource):
    """The commission's feedback entries, page by page: each record its JSON value, untouched."""

    mapper = FeedbackKeys()
    operation = f"GET {FEEDBACK}"
    path = FEEDBACK
    max_page_size = 200
    code_field = None
    data_field = None
    list_field = "items"

    def auth(self, endpoint: Endpoint) -> requests.auth.AuthBase:
        return SignedRead(endpoint.login, endpoint.secret)

    def params(self, window: Window, page: int, size: int) -> dict[str, int | str]:
        return {"since": iso(window.start), "until": iso(window.end), "page": page, "pageSize": size}
