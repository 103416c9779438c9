"""The city message board (城市留言板) simulator: a REST/JSON API with a bearer token.

Every answer is HTTP 200 with the envelope `{"code", "msg", "data"}`, errors included (code ≠ 0,
data null), except rate limiting (429 with Retry-After) and outright failures (5xx): the hub's
connector must read the code, not the status. Times are epoch milliseconds and coordinates BD-09.
Items injected through the admin surface are served byte for byte after every window's own
messages, so a test can hand the hub JSON that no encoder writes (invalid UTF-8, NaN, nesting
deeper than any parser goes).

An official reply is idempotent on its `Idempotency-Key` header (the hub sends its outbox event
id): the board applies a key once, answers a repeat as it answered the first time with
`"duplicate": true`, and refuses the key with code 40900 when it comes with another reply. Its
effects are counted by key at `/_admin/effects`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from simulators import messages
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
from simulators.effects import Effects
from simulators.generator import generate
from simulators.records import Options, now_ms
from simulators.store import RecordStore

PARTNER = "message_board"
MAX_PAGE_SIZE = 200
DEMO_TOKEN = "board-demo-token"  # noqa: S105 - the documented demo credential, not a secret
OK = 0
NO_TOKEN = 40100
BAD_TOKEN = 40101
NOT_FOUND = 40400
KEY_REUSED = 40900
BAD_PARAMETER = 42200
TOO_MANY = 42900
INTERNAL = 50000
MAX_KEY_LENGTH = 255
MAX_REPLY_CONTENT = 10_000
MAX_REPLY_ORG = 200


def envelope(
    code: int, msg: str, data: Any = None, status_code: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The board's answer shape; `data` is null whenever `code` is not 0."""
    return JSONResponse(
        {"code": code, "msg": msg, "data": data if code == OK else None},
        status_code=status_code,
        headers=headers,
    )


JSON = "application/json"


def _json(value: Any) -> bytes:
    """JSON as the board writes it (and as `JSONResponse` renders it)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _page_head(total: int, page: int, size: int) -> bytes:
    return b'{"code":0,"msg":"success","data":{"total":%d,"page":%d,"pageSize":%d,"list":[' % (
        total,
        page,
        size,
    )


def page_body(total: int, page: int, size: int, items: list[bytes]) -> bytes:
    """A listing's envelope around items already written as JSON, so injected ones stay verbatim."""
    return _page_head(total, page, size) + b",".join(items) + b"]}}"


class BadParameter(Exception):
    """A request parameter the board refuses, answered as code 42200."""


def create_app(
    *,
    seed: int = 42,
    records: int = 200,
    defect_rate: float = 0.05,
    days: int = 7,
    anchor: datetime | None = None,
    var_dir: str | Path = "var",
    token: str = DEMO_TOKEN,
    hang_seconds: float = 30.0,
    retry_after: int = 1,
) -> FastAPI:
    """A message board serving `records` seeded messages over the `days` before `anchor`."""
    options = Options(seed, records, defect_rate, days, anchor)
    store = RecordStore(generate(PARTNER, options), resolution_ms=1, seed=seed)
    state = SimulatorState(
        partner=PARTNER,
        store=store,
        faults=FaultPlan(hang_seconds=hang_seconds, retry_after=retry_after),
        received=ReceivedLog(received_path(var_dir, PARTNER)),
        responses=FaultResponses(
            fault=lambda: envelope(INTERNAL, "系统内部错误 internal error"),
            throttled=lambda seconds: envelope(
                TOO_MANY,
                "请求过于频繁 too many requests",
                status_code=429,
                headers={"Retry-After": str(seconds)},
            ),
            oversized=lambda count, declare_length: repeated(
                _page_head(count, 1, count),
                _json(dict(next(store.currents())[1].payload)),
                count,
                b"]}}",
                separator=b",",
                media_type=JSON,
                declare_length=declare_length,
            ),
            bad_total=_bad_total,
        ),
        injection=Injection(accept=_injectable, listing=_listed),
        step=messages.touched,
        busy=lambda version: messages.next_status(version.payload["status"]) != version.payload["status"],
    )
    effects = Effects()
    replies: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}  # key → (request, answer data)
    state.on_reset += [effects.reset, replies.clear]
    app = FastAPI(title="message board simulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(admin_router(state))
    app.include_router(effects.router())

    @app.exception_handler(HTTPException)
    async def unknown_path(request: Request, error: HTTPException) -> JSONResponse:
        return envelope(NOT_FOUND, f"no such resource: {request.method} {request.url.path}")

    async def guarded(request: Request, answer: Callable[[], Awaitable[Response]]) -> Response:
        """Injected faults first (they happen in front of the board), then the token."""

        async def checked() -> Response:
            scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not presented.strip():
                return envelope(NO_TOKEN, "缺少令牌 missing bearer token")
            if not hmac.compare_digest(presented.strip().encode(), token.encode()):
                return envelope(BAD_TOKEN, "令牌无效 invalid bearer token")
            return await answer()

        return await state.serve(checked)

    @app.get("/api/v1/messages")
    async def list_messages(request: Request) -> Response:
        return await guarded(request, lambda: listing(request))

    async def listing(request: Request) -> Response:
        try:
            query = request.query_params
            start = _integer(query.get("updatedFrom"), "updatedFrom", 0, 0)
            end = _integer(query.get("updatedTo"), "updatedTo", 2**62, 0)
            page = _integer(query.get("page"), "page", 1, 1)
            size = _integer(query.get("pageSize"), "pageSize", 20, 1, MAX_PAGE_SIZE)
        except BadParameter as error:
            return envelope(BAD_PARAMETER, str(error))
        if start > end:
            return envelope(BAD_PARAMETER, "参数错误 updatedFrom must not be later than updatedTo")
        served: list[Mapping[str, Any] | bytes] = [*state.store.window(start, end), *state.injected]
        items = [
            item if isinstance(item, bytes) else _json(dict(item))
            for item in served[(page - 1) * size : page * size]
        ]
        return Response(page_body(len(served), page, size, items), media_type=JSON)

    @app.get("/api/v1/messages/{message_id}")
    async def get_message(request: Request, message_id: str) -> Response:
        return await guarded(request, lambda: message(message_id))

    async def message(message_id: str) -> Response:
        if not message_id.isdigit():
            return envelope(BAD_PARAMETER, f"参数错误 id must be an integer, got {message_id!r}")
        version = state.store.current(str(int(message_id)))
        if version is None:
            return envelope(NOT_FOUND, f"留言不存在 no message {message_id}")
        return envelope(OK, "success", dict(version.payload))

    @app.post("/api/v1/messages/{message_id}/reply")
    async def reply(request: Request, message_id: str) -> Response:
        return await guarded(request, lambda: replied(request, message_id))

    async def replied(request: Request, message_id: str) -> Response:
        body = await request.body()
        key = request.headers.get("Idempotency-Key")
        try:
            reply = _reply(body)
            _idempotency_key(key)
        except BadParameter as error:
            state.received.record(
                "reply",
                {"id": message_id, "idempotencyKey": key, "body": body.decode("utf-8", "replace")},
                {"code": BAD_PARAMETER, "msg": str(error)},
            )
            return envelope(BAD_PARAMETER, str(error))
        source_id = str(int(message_id)) if message_id.isdigit() else message_id
        asked = {"id": source_id, "idempotencyKey": key, **reply}
        earlier = replies.get(key) if key is not None else None
        if earlier is not None:
            if earlier[0] != asked:
                msg = "幂等键冲突 Idempotency-Key was used for another reply"
                state.received.record("reply", asked, {"code": KEY_REUSED, "msg": msg})
                return envelope(KEY_REUSED, msg)
            state.received.record("reply", asked, {"code": OK, "msg": "success", "duplicate": True})
            return envelope(OK, "success", {**earlier[1], "duplicate": True})
        current = state.store.current(source_id)
        if current is None:
            msg = f"留言不存在 no message {message_id}"
            state.received.record("reply", asked, {"code": NOT_FOUND, "msg": msg})
            return envelope(NOT_FOUND, msg)
        at_ms = state.store.next_time(source_id, now_ms())
        version = messages.with_reply(
            current, at_ms, reply["replyContent"], reply["replyOrg"], reply["replyTime"]
        )
        state.store.append(source_id, version)
        data: dict[str, Any] = {"id": int(source_id), "status": version.payload["status"]}
        if key is not None:
            effects.apply(key)
            replies[key] = (asked, data)
            data = {**data, "duplicate": False}
        state.received.record("reply", asked, {"code": OK, "msg": "success", **data})
        return envelope(OK, "success", data)

    return app


def _integer(raw: str | None, name: str, default: int, low: int, high: int = 2**62) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadParameter(f"参数错误 {name} must be an integer from {low} to {high}, got {raw!r}")
    return int(raw)


def _idempotency_key(key: str | None) -> None:
    """Absent (the reply is applied every time it is posted), or 1–255 printable ASCII characters."""
    if key is not None and not (0 < len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()):
        raise BadParameter(
            f"参数错误 Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters"
        )


def _reply(body: bytes) -> dict[str, Any]:
    """replyContent and replyOrg non-empty strings within their lengths, replyTime epoch ms
    (`schemas/partners/message_board_reply.json`)."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadParameter("参数错误 body must be a JSON object") from None
    if not isinstance(document, dict):
        raise BadParameter("参数错误 body must be a JSON object")
    for name, longest in (("replyContent", MAX_REPLY_CONTENT), ("replyOrg", MAX_REPLY_ORG)):
        if not isinstance(document.get(name), str) or not document[name].strip():
            raise BadParameter(f"参数错误 {name} must be a non-empty string")
        if len(document[name]) > longest:
            raise BadParameter(f"参数错误 {name} must be at most {longest} characters")
    replied = document.get("replyTime")
    if isinstance(replied, bool) or not isinstance(replied, int) or replied <= 0:
        raise BadParameter("参数错误 replyTime must be epoch milliseconds")
    return {"replyContent": document["replyContent"], "replyOrg": document["replyOrg"], "replyTime": replied}


def _bad_total(response: Response) -> Response:
    """The real answer with its total written as legacy systems sometimes do, "60条": a string."""
    body = re.sub(rb'"total":(\d+)', '"total":"\\1条"'.encode(), bytes(response.body), count=1)
    return Response(body, status_code=response.status_code, media_type=JSON)


def _injectable(record: Any) -> bytes:
    """An item to serve byte for byte: `{"text": raw JSON}`, or `{"base64": raw bytes}` for bytes
    that are not text (invalid UTF-8). Neither is checked to be JSON: that is the point."""
    if (
        not isinstance(record, Mapping)
        or len(record) != 1
        or not isinstance(next(iter(record.values())), str)
    ):
        raise ValueError('an item is {"text": "..."} or {"base64": "..."}')
    if "text" in record:
        try:
            return str(record["text"]).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text must be valid Unicode; send other bytes as base64") from None
    if "base64" in record:
        try:
            return base64.b64decode(str(record["base64"]), validate=True)
        except binascii.Error:
            raise ValueError("base64 is not valid base64") from None
    raise ValueError('an item is {"text": "..."} or {"base64": "..."}')


def _listed(item: bytes) -> dict[str, Any]:
    return {"base64": base64.b64encode(item).decode("ascii"), "bytes": len(item)}
