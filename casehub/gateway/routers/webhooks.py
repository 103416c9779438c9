"""Webhook intake: `POST /webhooks/{partner}` for every partner of the manifest with `[partner.push_in]`.

A delivery is acknowledged only once it is committed, sealed, in the webhook inbox
(`casehub/inbox.py`); anything else is a problem the sender can act on, and nothing of a refused
delivery is written. The checks run cheapest first, and the body is read only after the
headers pass: configuration (503), media type (415), declared size (413), the Standard Webhooks
headers (400) and timestamp (401), the size again while reading (413), the signature (401), the
envelope (422); then the inbox decides between new (202), duplicate (200) and conflict (409).
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from rfc3339_validator import validate_rfc3339
from starlette.concurrency import run_in_threadpool

from casehub.errors import ConfigurationError
from casehub.gateway import signatures
from casehub.gateway.context import context_of
from casehub.gateway.problems import Problem, documented

if TYPE_CHECKING:
    from standardwebhooks import Webhook

    from casehub.crypto import KeyRing
    from casehub.partners import Partner, PushIn

log = logging.getLogger("casehub.gateway")

router = APIRouter(tags=["webhooks"])

ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "timestamp", "data"],
    "properties": {
        "type": {"type": "string", "description": "one of the partner's `event_types` (manifest)"},
        "timestamp": {"type": "string", "format": "date-time", "description": "RFC 3339, with offset"},
        "data": {
            "type": "object",
            "description": (
                "the partner's record; its id and update-time fields (the manifest's `id_field` and "
                "`updated_field`, e.g. `reportId` and `updatedAt`) must be non-empty strings, the "
                "rest is checked by the pipeline, not here"
            ),
        },
    },
}
SIGNATURE_HEADERS = [
    {"name": signatures.ID, "in": "header", "required": True, "schema": {"type": "string", "maxLength": 128},
     "description": "the delivery's id, the same on every retry: the inbox is idempotent on it"},
    {"name": signatures.TIMESTAMP, "in": "header", "required": True, "schema": {"type": "string"},
     "description": "integer seconds since the Unix epoch, within the partner's tolerance of now"},
    {"name": signatures.SIGNATURE, "in": "header", "required": True, "schema": {"type": "string"},
     "description": "space-separated `v1,<base64>` HMAC-SHA256 signatures; one valid is enough"},
]


@router.post(
    "/webhooks/{partner}",
    status_code=202,
    summary="Receive a signed webhook",
    description=(
        "A partner's push (Standard Webhooks). Answered 202 `accepted` once the delivery is "
        "committed to the inbox, sealed; a retry with the same `webhook-id` and body is 200 "
        "`duplicate` and lands nothing; the same id with another body is 409. Every refusal is "
        "problem+json whose `type` names the reason and whose `header` or `field` names the place; "
        "the body is never echoed. 4xx: fix and send again; 503: send again later."
    ),
    responses={
        200: {"description": "a retry of a delivery already landed: nothing written",
              "content": {"application/json": {"example": {"webhook_id": "msg_2b…", "status": "duplicate"}}}},
        202: {"description": "landed, sealed and committed",
              "content": {"application/json": {"example": {"webhook_id": "msg_2b…", "status": "accepted"}}}},
        **documented({
            400: "`missing-header` or `malformed-header`: a Standard Webhooks header is absent or "
                 "not in its format (`header` names it)",
            401: "`bad-signature`: no signature matches; `stale-timestamp` / `future-timestamp`: "
                 "`webhook-timestamp` is outside the partner's tolerance",
            404: "`unknown-partner`: no partner pushes to this path",
            409: "`webhook-id-conflict`: this id was landed before with another body",
            413: "`body-too-large`: over the partner's `max_body_bytes`",
            415: "`unsupported-media-type`: the body is not `application/json`",
            422: "`invalid-json`: the body is not UTF-8 JSON; `invalid-envelope`: not an object, "
                 "or `field` (`type`, `timestamp`, `data`, `data.<id field>`, "
                 "`data.<update-time field>`) is wrong",
            503: "`not-configured`: no or a malformed webhook secret; `keyring-unavailable`: "
                 "nothing can be sealed; `store-unreachable`: the inbox cannot be written. Retry later",
        }),
    },
    openapi_extra={
        "parameters": SIGNATURE_HEADERS,
        "requestBody": {"required": True, "content": {"application/json": {"schema": ENVELOPE_SCHEMA}}},
    },
)
async def receive(
    request: Request, partner: Annotated[str, Path(description="the partner's code, as in the manifest")]
) -> JSONResponse:
    spec, verifiers, ring = _configured(request, partner)
    push = spec.pushing()
    try:
        _check_media_type(request.headers.get("content-type", ""))
        _check_declared_length(request.headers.get("content-length"), push.max_body_bytes)
        signed = signatures.parse_headers(request.headers)
        signatures.check_timestamp(signed, datetime.now(UTC), push.tolerance)
        body = await _read_body(request, push.max_body_bytes)
        text = _utf8(body)
        signatures.verify(signed, text, verifiers)
        event_type = _envelope(text, push)
    except Problem as problem:
        log.info("gateway: webhook of %s refused: %s", spec.code, problem.slug)
        raise
    return await _land(request, spec, ring, signed.webhook_id, event_type, body)


def _configured(request: Request, partner: str) -> tuple[Partner, tuple[Webhook, ...], KeyRing]:
    """The partner, its secrets and the key ring, or 404 / 503: never accept unsigned or land in clear."""
    context = context_of(request)
    try:
        spec = context.receiver(f"/webhooks/{partner}")
    except ConfigurationError as exc:
        log.error("gateway: webhooks are not served, the partner manifest is unusable: %s", exc)
        raise _not_configured("the gateway's partner manifest is unusable") from None
    if spec is None:
        raise Problem(404, "unknown-partner", "Unknown partner", "no partner pushes webhooks to this path")
    variable = spec.pushing().secret_env
    try:
        verifiers = signatures.verifiers(os.environ.get(variable, ""), variable)
    except ConfigurationError as exc:
        log.error("gateway: webhooks of %s refused: %s", spec.code, exc)
        raise _not_configured("the gateway holds no usable webhook secret for this partner") from None
    ring = context.keyring()
    if ring is None:
        raise _keyring_unavailable()
    return spec, verifiers, ring


def _not_configured(detail: str) -> Problem:
    return Problem(503, "not-configured", "Webhooks not configured", detail + "; nothing was accepted")


def _keyring_unavailable() -> Problem:
    return Problem(
        503, "keyring-unavailable", "Key ring unavailable",
        "the gateway cannot seal deliveries; nothing was stored, try again later",
    )


def _check_media_type(content_type: str) -> None:
    media_type, _, parameters = content_type.partition(";")
    charset = next(
        (value.strip().strip('"').lower() for key, _, value in
         (p.partition("=") for p in parameters.split(";")) if key.strip().lower() == "charset"),
        "utf-8",
    )
    if media_type.strip().lower() != "application/json" or charset != "utf-8":
        raise Problem(
            415, "unsupported-media-type", "Unsupported media type",
            "send the body as Content-Type: application/json (UTF-8)", header="content-type",
        )


def _too_large(limit: int) -> Problem:
    detail = f"the body exceeds this partner's {limit} bytes"
    return Problem(413, "body-too-large", "Body too large", detail, field="body")


def _check_declared_length(declared: str | None, limit: int) -> None:
    if declared is not None and declared.isdecimal() and int(declared) > limit:
        raise _too_large(limit)


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, read no further than `limit` bytes: a sender that declares none, or lies, is cut off."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _utf8(body: bytes) -> str:
    """The body as text; JSON is UTF-8 (RFC 8259 §8.1), and the signature is over that text."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise _not_json("the body is not UTF-8") from None


def _not_json(detail: str) -> Problem:
    return Problem(422, "invalid-json", "Body is not JSON", detail, field="body")


def _invalid(field: str, why: str) -> Problem:
    return Problem(422, "invalid-envelope", "Invalid envelope", f"{field}: {why}", field=field)


def _envelope(text: str, push: PushIn) -> str:
    """The event type of a well-formed envelope; a 422 naming the first wrong field otherwise."""
    try:
        envelope = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise _not_json("the body is not JSON") from None
    if not isinstance(envelope, dict):
        raise _invalid("body", "a JSON object expected")
    event_type = envelope.get("type")
    if event_type not in push.event_types:
        raise _invalid("type", f"one of {', '.join(push.event_types)} expected")
    timestamp = envelope.get("timestamp")
    if not isinstance(timestamp, str) or "\n" in timestamp or not validate_rfc3339(timestamp):
        raise _invalid("timestamp", "an RFC 3339 date-time with offset expected")
    data = envelope.get("data")
    if not isinstance(data, dict):
        raise _invalid("data", "a JSON object expected")
    for name in (push.id_field, push.updated_field):
        value = data.get(name)
        if not isinstance(value, str) or not value:
            raise _invalid(f"data.{name}", "a non-empty string expected")
    return str(event_type)


async def _land(
    request: Request, spec: Partner, ring: KeyRing, webhook_id: str, event_type: str, body: bytes
) -> JSONResponse:
    from casehub import inbox

    engine = context_of(request).store()
    try:
        outcome = await run_in_threadpool(
            inbox.land, engine, ring, spec.code, webhook_id, event_type, body, datetime.now(UTC)
        )
    except ConfigurationError as exc:
        log.error("gateway: webhook of %s not landed: %s", spec.code, exc)
        raise _keyring_unavailable() from None
    if outcome is inbox.LandOutcome.CONFLICT:
        log.warning("gateway: webhook of %s refused: webhook-id-conflict", spec.code)
        raise Problem(
            409, "webhook-id-conflict", "Webhook id reused",
            "this webhook-id was landed before with another body; send a new id for new content",
            header=signatures.ID,
        )
    status = 202 if outcome is inbox.LandOutcome.ACCEPTED else 200
    return JSONResponse({"webhook_id": webhook_id, "status": outcome.value}, status_code=status)
