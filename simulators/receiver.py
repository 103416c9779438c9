"""What the stand-ins of the partners the hub pushes to share: a signed batch endpoint that
applies each batch id once, and the admin surface of every simulator.

A batch is checked in the order a real receiver checks it — the key id, the timestamp's age,
the signature over "<batch id>.<timestamp>." and the body, then the framing, which each partner
defines (`decode`) — and refused with 401, 400 or 415 and a JSON `{code, message}`. An accepted
batch is applied once: its id enters the ledger with its record count, and a batch id seen
before is acknowledged again with `duplicate: true` and no second effect. What arrived is in
`/_admin/received` (the decoded records, never the signature), the ledger in `/_admin/batches`.
Faults (`/_admin/faults`: 5xx, 429 with Retry-After, hang, trickle, …) come before any check.
A partner that answers the hub besides (the health commission's feedback) adds its routes to the
app, reaching the simulator's state at `app.state.simulator`, and hears of each batch applied.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from simulators.controls import (
    FaultPlan,
    FaultResponses,
    Injection,
    ReceivedLog,
    SimulatorState,
    admin_router,
    received_path,
    repeated,
)
from simulators.records import Version
from simulators.store import RecordStore

RECIPIENTS = Path(__file__).resolve().parents[1] / "schemas" / "recipients"
TOLERANCE_SECONDS = 300
"""How old (or how far ahead) a signature's timestamp may be."""
MAX_BATCH_ID = 64
JSON = "application/json"


class Refused(Exception):
    """A request the receiver refuses: HTTP `status` with `{code, message}`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


Decode = Callable[[bytes, Mapping[str, str], str], list[dict[str, Any]]]
"""The partner's framing: the body, the request headers and the batch id → the records."""


@dataclass
class Ledger:
    """Batch id → what it did: applied once, acknowledged on every delivery."""

    batches: dict[str, dict[str, Any]] = field(default_factory=dict)

    def apply(self, batch_id: str, records: int) -> tuple[dict[str, Any], bool]:
        known = self.batches.get(batch_id)
        if known is not None:
            known["deliveries"] += 1
            return known, True
        entry = {"records": records, "deliveries": 1, "receipt_id": uuid.uuid4().hex}
        self.batches[batch_id] = entry
        return entry, False

    def clear(self) -> None:
        self.batches.clear()


def _refusal(error: Refused) -> JSONResponse:
    return JSONResponse({"code": error.code, "message": error.message}, status_code=error.status)


def _bad_total(response: Response) -> Response:
    """A receipt whose count (or a listing whose total) is written the legacy way, "12条": not a
    number."""
    document = json.loads(bytes(response.body))
    for name in ("accepted", "total"):
        if name in document:
            document[name] = f"{document[name]}条"
    return JSONResponse(document, status_code=response.status_code)


def _nothing_to_inject(record: Any) -> Any:
    raise ValueError("a receiver serves no records; it only takes batches")


def _still(version: Version, at_ms: int, rng: Any) -> Version:
    return version


def receiver_app(
    *,
    partner: str,
    title: str,
    path: str,
    login: str,
    secret: str,
    decode: Decode,
    var_dir: str | Path,
    hang_seconds: float,
    retry_after: int,
    clock: Callable[[], float] = time.time,
    injection: Injection | None = None,
    on_batch: Callable[[list[dict[str, Any]]], None] | None = None,
) -> FastAPI:
    """A receiver of `partner`'s signed batches at `POST path`, with the admin surface.

    `injection` takes what the partner serves besides (nothing, by default); `on_batch` hears the
    records of each batch applied, once per batch id.
    """
    ledger = Ledger()
    allowed = allowed_fields(partner)
    state = SimulatorState(
        partner=partner,
        store=RecordStore((), resolution_ms=1, seed=0),
        faults=FaultPlan(hang_seconds=hang_seconds, retry_after=retry_after),
        received=ReceivedLog(received_path(var_dir, partner)),
        responses=FaultResponses(
            fault=lambda: JSONResponse({"code": "INTERNAL", "message": "内部错误 internal error"},
                                       status_code=500),
            throttled=lambda seconds: JSONResponse(
                {"code": "TOO_MANY_REQUESTS", "message": "请求过于频繁 too many requests"},
                status_code=429, headers={"Retry-After": str(seconds)}),
            oversized=lambda count, declare_length: repeated(
                b'{"padding":[', b'"0000000000"', count, b"]}", separator=b",", media_type=JSON,
                declare_length=declare_length),
            bad_total=_bad_total,
        ),
        injection=injection or Injection(accept=_nothing_to_inject, listing=dict),
        step=_still,
        busy=lambda version: False,
    )
    state.on_reset.append(ledger.clear)
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(admin_router(state))
    app.state.simulator = state

    @app.get("/_admin/batches")
    async def batches() -> dict[str, Any]:
        return {"partner": partner, "batches": ledger.batches}

    @app.post(path)
    async def upload(request: Request) -> Response:
        body = await request.body()

        async def answer() -> Response:
            try:
                return accept(request.headers, body)
            except Refused as error:
                state.received.record("upload", {"batch_id": request.headers.get("X-Batch-Id")},
                                      {"status": error.status, "code": error.code})
                return _refusal(error)

        return await state.serve(answer)

    def accept(headers: Mapping[str, str], body: bytes) -> Response:
        batch_id = _signed(headers, body, login, secret, clock())
        records = decode(body, headers, batch_id)
        if not records:
            raise Refused(400, "EMPTY_BATCH", "批次无记录 a batch holds at least one record")
        if headers.get("X-Record-Count") != str(len(records)):
            raise Refused(400, "COUNT_MISMATCH", "记录数不符 X-Record-Count does not match the body")
        for position, record in enumerate(records, start=1):
            if not set(record) <= allowed:
                raise Refused(422, "FIELD_NOT_ALLOWED",
                              f"字段不在许可清单 record {position} has a field outside the allow-list")
        entry, duplicate = ledger.apply(batch_id, len(records))
        if not duplicate and on_batch is not None:
            on_batch(records)
        receipt = {"batchId": batch_id, "accepted": entry["records"], "duplicate": duplicate,
                   "receiptId": entry["receipt_id"]}
        state.received.record("upload", {"batch_id": batch_id, "records": records},
                              {"status": 200, "duplicate": duplicate, "accepted": entry["records"]})
        return JSONResponse(receipt)

    return app


def allowed_fields(partner: str) -> frozenset[str]:
    """The fields the partner agreed to receive: its allow-list's properties."""
    schema = json.loads((RECIPIENTS / f"{partner}.json").read_text(encoding="utf-8"))
    return frozenset(schema["properties"])


def signature(secret: str, batch_id: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{batch_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _signed(headers: Mapping[str, str], body: bytes, login: str, secret: str, now: float) -> str:
    """The batch id of a request whose key id, timestamp and signature hold; else refused."""
    if not hmac.compare_digest(headers.get("X-App-Key", "").encode(), login.encode()):
        raise Refused(401, "UNKNOWN_APP_KEY", "应用标识无效 unknown X-App-Key")
    batch_id = headers.get("X-Batch-Id", "")
    if not batch_id or len(batch_id) > MAX_BATCH_ID or not batch_id.isascii():
        raise Refused(400, "BAD_BATCH_ID", "批次号无效 X-Batch-Id is missing or malformed")
    timestamp = headers.get("X-Timestamp", "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        raise Refused(401, "STALE_TIMESTAMP", "时间戳无效 X-Timestamp is missing or outside 300 s")
    expected = signature(secret, batch_id, timestamp, body)
    if not hmac.compare_digest(headers.get("X-Signature", "").encode(), expected.encode()):
        raise Refused(401, "BAD_SIGNATURE", "签名无效 X-Signature does not match")
    return batch_id


def json_object(line: bytes, where: str) -> dict[str, Any]:
    """One JSON object; anything else is refused, naming where it was."""
    try:
        value = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Refused(400, "BAD_JSON", f"格式错误 {where} is not UTF-8 JSON") from None
    if not isinstance(value, dict):
        raise Refused(400, "BAD_JSON", f"格式错误 {where} is not a JSON object")
    return value
