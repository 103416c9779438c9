"""Open311 GeoReport v2 under `/open311/v2/`, with mySociety's update extensions (docs/open311.md).

Every resource is served as `.xml` (the spec's required format) and `.json`, each suffix a route
of its own so that its OpenAPI states its one media type. Reads are public; `POST requests` and
`POST servicerequestupdates` need an `api_key` (`casehub open311-key issue`) with the scope
`open311:write` or `open311:update`. A filed request is landed sealed in the inbox and answered
with a `token` (the spec's deferred creation); the `process_requests_open311` DAG makes the case.

Parameters are read and checked here, not by FastAPI, so that every refusal is the spec's error
document in the suffix's format — `<errors><error><code/><description/></error></errors>`, in
JSON `[{code, description}]` — with 400 (a parameter), 403 (the api_key), 404 (no such
service, request or token), and beyond the spec 429 (the key's rate, with Retry-After) and 503
(no key ring or store; try again). A description names the field and the reason, never a value.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import Response
from rfc3339_validator import validate_rfc3339
from starlette.concurrency import run_in_threadpool

from casehub.errors import ConfigurationError, StoreError
from casehub.gateway.context import context_of
from casehub.geo import inside_city
from casehub.normalize import phone as normal_phone
from casehub.open311 import contracts, render
from casehub.open311.limits import RateLimiter
from casehub.partners import Partner
from casehub.paths import ROOT

if TYPE_CHECKING:
    from casehub.open311 import keys

log = logging.getLogger("casehub.gateway")

PREFIX = "/open311/v2"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-12-01T00:00:00+08:00"
"""When this door's contract last changed (discovery's `changeset`)."""
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_TEXT = 4000
MAX_SHORT = 100
MAX_IDS = 100
_ATTRIBUTE = re.compile(r"^attribute\[([A-Za-z0-9_]{1,64})\](\[\])?$")
_W3C_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

router = APIRouter(tags=["open311"])


class Refusal(Exception):
    """An answer in the spec's error shape; `description` names the field, never its value."""

    def __init__(self, code: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after


def _schema(name: str) -> dict[str, Any]:
    path = ROOT / "schemas" / "open311" / f"{name}.schema.json"
    schema: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return {k: v for k, v in schema.items() if not k.startswith("$") and not k.startswith("x-")}


def _array(name: str) -> dict[str, Any]:
    return {"type": "array", "items": _schema(name)}


ERRORS_SCHEMA = _array("error")
REFUSALS = {
    400: "a parameter is missing or wrong (the description names it)",
    403: "the api_key is missing, unknown, revoked or lacks the scope",
    404: "no such service, service request or token",
    429: "the api_key's rate is spent: send again after Retry-After seconds",
    503: "no key ring or the store did not answer: nothing was stored, try again later",
}


def _responses(fmt: str, body: dict[str, Any], codes: tuple[int, ...]) -> dict[int | str, Any]:
    media = render.media_type(fmt).split(";")[0]
    ok: dict[str, Any] = {"schema": body} if fmt == "json" else {"schema": {"type": "string"}}
    found: dict[int | str, Any] = {200: {"description": "the document", "content": {media: ok}}}
    for code in codes:
        error = {"schema": ERRORS_SCHEMA} if fmt == "json" else {"schema": {"type": "string"}}
        retry = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}
        headers = retry if code == 429 else {}
        found[code] = {"description": REFUSALS[code], "content": {media: error}, "headers": headers}
    return found


def _query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": "string", **schema}}


API_KEY_QUERY = _query("api_key", "optional on a read: the call counts against its rate", maxLength=200)
DATE_PARAMETERS = [
    _query("start_date", "earliest time included (W3C date-time with offset)", format="date-time"),
    _query("end_date", "latest time included (W3C date-time with offset)", format="date-time"),
]


DESCRIPTIONS = {
    "discovery": "The endpoint this hub serves, its formats and the date its contract last changed.",
    "services": "Every service: a minor category of the taxonomy, its major category as `group`, "
                "`metadata` true when it asks attributes. Public.",
    "services/{service_code}": "The attributes a service asks, as `attribute[code]` when a request is "
                               "filed; 404 for a code that is no service. Public.",
    "POST requests": "File a service request, form-encoded, with an `api_key` of scope `open311:write`. "
                     "The request is landed sealed before the answer, which is a `token` (deferred "
                     "creation): the same request again answers the same token and lands nothing.",
    "GET requests": "Service requests, newest first: by `service_request_id`, or by `service_code`, "
                    "`status` and a window on `requested_datetime` of at most 90 days (the last 90 by "
                    "default), at most 1 000. Public, masked: no reporter field, free text masked.",
    "requests/{service_request_id}": "One service request, masked as in the listing; 404 if unknown.",
    "tokens/{token}": "The `service_request_id` of a filed request once the pipeline made it a case; "
                      "null before, or when it was quarantined; 404 for a token never answered.",
    "GET servicerequestupdates": "mySociety's updates in a window of at most 90 days: each change of a "
                                 "case's status or result, and each update a client posted. Public.",
    "POST servicerequestupdates": "Post an update on a case, with an `api_key` of scope "
                                  "`open311:update`; idempotent on the client's `update_id`.",
}


def _served(fmt: str, path: str, method: str, summary: str, body: dict[str, Any],
            codes: tuple[int, ...], **extra: Any) -> Callable[[Callable[..., Awaitable[Response]]], Any]:
    decorate = router.get if method == "GET" else router.post
    described = DESCRIPTIONS.get(f"{method} {path}") or DESCRIPTIONS[path]
    return decorate(
        f"{PREFIX}/{path}.{fmt}",
        summary=f"{summary} ({fmt.upper()})",
        description=f"{described} Answered as {render.media_type(fmt).split(';')[0]}; errors are "
                    "GeoReport's error document in the same format.",
        response_class=Response,
        responses=_responses(fmt, body, codes),
        **extra,
    )


# --- what every route shares ----------------------------------------------------------------


def _partner(request: Request) -> Partner:
    from casehub.partners import serving

    state = request.app.state
    found = getattr(state, "open311_partner", None)
    if found is None:
        try:
            found = next(p for p in serving() if p.protocol == "open311")
        except (StopIteration, ConfigurationError):
            log.error("gateway: the partner manifest serves no open311 partner")
            raise Refusal(503, "the Open311 door is not configured") from None
        state.open311_partner = found
    partner: Partner = found
    return partner


_LIMITER_LOCK = threading.Lock()


def _limiter(request: Request) -> RateLimiter:
    state = request.app.state
    with _LIMITER_LOCK:
        if getattr(state, "open311_limiter", None) is None:
            served = _partner(request).serving()
            state.open311_limiter = RateLimiter(served.rate_per_minute, served.rate_burst)
    limiter: RateLimiter = state.open311_limiter
    return limiter


async def _client(request: Request, presented: str | None, scope: str | None) -> keys.Client | None:
    """The verified key (and a token of its rate taken); None for a read without one."""
    from casehub.open311 import keys  # the store's modules: loaded on first call

    if presented is None and scope is None:
        return None
    if not presented:
        raise Refusal(403, "api_key: required")
    engine = context_of(request).store()
    client = await run_in_threadpool(keys.verify, engine, presented)
    if client is None:
        raise Refusal(403, "api_key: not a valid key")
    if scope is not None and scope not in client.scopes:
        raise Refusal(403, f"api_key: lacks the scope {scope}")
    wait = _limiter(request).take(client.key_id)
    if wait:
        raise Refusal(429, "api_key: rate limit reached", retry_after=max(1, math.ceil(wait)))
    return client


def _keyring(request: Request) -> Any:
    ring = context_of(request).keyring()
    if ring is None:
        raise Refusal(503, "the hub cannot open or seal its records now")
    return ring


def _answer(fmt: str, root: str, value: Any, status: int = 200) -> Response:
    return Response(render.document(fmt, root, value), status_code=status, media_type=render.media_type(fmt))


def _refused(fmt: str, refusal: Refusal) -> Response:
    headers = {"Retry-After": str(refusal.retry_after)} if refusal.retry_after else None
    return Response(
        render.errors(fmt, refusal.code, refusal.description),
        status_code=refusal.code,
        media_type=render.media_type(fmt),
        headers=headers,
    )


async def _guarded(fmt: str, work: Callable[[], Awaitable[Response]]) -> Response:
    try:
        return await work()
    except Refusal as refusal:
        return _refused(fmt, refusal)
    except StoreError:
        return _refused(fmt, Refusal(503, "the store did not answer; try again later"))


def _single(params: Mapping[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise Refusal(400, f"{name}: given more than once")
    return values[0]


def _params(request: Request) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        found.setdefault(name, []).append(value)
    return found


def _time(name: str, value: str | None) -> datetime | None:
    """A W3C date-time with its offset (`2026-12-01T08:00:00+08:00`, `…Z`), or a bare date (UTC midnight)."""
    if value is None:
        return None
    if _W3C_DATE.match(value):
        value += "T00:00:00Z"
    if "\n" in value or not validate_rfc3339(value):
        raise Refusal(400, f"{name}: not a W3C date-time with offset")
    try:
        parsed = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        raise Refusal(400, f"{name}: not a W3C date-time with offset") from None
    if not datetime(1970, 1, 1, tzinfo=UTC) <= parsed <= datetime(9000, 1, 1, tzinfo=UTC):
        raise Refusal(400, f"{name}: outside the years the hub holds")
    return parsed


def _window(params: Mapping[str, list[str]], days: int) -> tuple[datetime, datetime]:
    """[start, end]: by default the last `days` days; one bound given, `days` from it; at most `days`."""
    start = _time("start_date", _single(params, "start_date"))
    end = _time("end_date", _single(params, "end_date"))
    span = timedelta(days=days)
    if start is None and end is None:
        end = datetime.now(UTC)
    if start is None and end is not None:
        start = end - span
    if end is None and start is not None:
        end = start + span
    if start is None or end is None:
        raise AssertionError("a window always has both bounds here")
    if end < start:
        raise Refusal(400, "end_date: before start_date")
    if end - start > span:
        raise Refusal(400, f"start_date, end_date: span more than {days} days")
    return start, end


def _listed(params: Mapping[str, list[str]], name: str) -> tuple[str, ...]:
    """A comma-separated parameter (it may also be repeated), blanks dropped."""
    return tuple(part.strip() for value in params.get(name, []) for part in value.split(",") if part.strip())


# --- discovery and services -----------------------------------------------------------------


def _discovery(request: Request) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/") + request.scope.get("root_path", "")
    return {
        "changeset": CHANGESET,
        "contact": "市民热线 casehub data-exchange hub — see docs/open311.md",
        "key_service": "API keys are issued by the hub's operators (casehub open311-key issue)",
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": base + PREFIX,
                "changeset": CHANGESET,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }


def _service(item: contracts.Service) -> dict[str, Any]:
    return {
        "service_code": item.service_code,
        "service_name": item.service_name,
        "description": item.description,
        "metadata": item.metadata,
        "type": "batch",
        "keywords": ",".join(item.keywords),
        "group": item.group,
    }


def _definition(item: contracts.Service) -> dict[str, Any]:
    return {
        "service_code": item.service_code,
        "attributes": [
            {
                "variable": True,
                "code": a.code,
                "datatype": a.datatype,
                "required": a.required,
                "datatype_description": "one of the values' keys" if a.values else a.datatype,
                "order": a.order,
                "description": a.description,
                "values": [{"key": key, "name": name} for key, name in a.values],
            }
            for a in item.attributes
        ],
    }


def _known_service(code: str) -> contracts.Service:
    found = contracts.service(code)
    if found is None:
        raise Refusal(404, "service_code: not a service of this hub")
    return found


# --- filing a request -----------------------------------------------------------------------


async def _form(request: Request, limit: int) -> dict[str, list[str]]:
    """The urlencoded body, read no further than `limit` bytes."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != FORM_TYPE:
        raise Refusal(400, f"body: send it as {FORM_TYPE}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdecimal() and int(declared) > limit:
        raise Refusal(400, f"body: over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refusal(400, f"body: over {limit} bytes")
        chunks.append(chunk)
    try:
        text = b"".join(chunks).decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), errors="strict",
                          max_num_fields=200)
    except (UnicodeDecodeError, ValueError):
        raise Refusal(400, "body: not UTF-8 form data") from None
    found: dict[str, list[str]] = {}
    for name, value in pairs:
        found.setdefault(name, []).append(value)
    return found


def _text(form: Mapping[str, list[str]], name: str, limit: int, *, required: bool = False) -> str | None:
    value = _single(form, name)
    value = value.strip() if value is not None else None
    if not value:
        if required:
            raise Refusal(400, f"{name}: required")
        return None
    if len(value) > limit:
        raise Refusal(400, f"{name}: longer than {limit} characters")
    if any(ord(ch) < 32 and ch not in "\n\r\t" for ch in value):
        raise Refusal(400, f"{name}: holds a control character")
    return value


def _degrees(form: Mapping[str, list[str]], name: str, low: float, high: float) -> float | None:
    value = _single(form, name)
    if value is None or not value.strip():
        return None
    try:
        degrees = float(value)
    except ValueError:
        raise Refusal(400, f"{name}: not a number") from None
    if not math.isfinite(degrees) or not low <= degrees <= high:
        raise Refusal(400, f"{name}: not between {low:g} and {high:g}")
    return degrees


def _media_url(form: Mapping[str, list[str]]) -> str | None:
    url = _text(form, "media_url", 500)
    if url is not None and not re.match(r"^https?://[^\s]+$", url):
        raise Refusal(400, "media_url: not an http(s) URL")
    return url


def _attributes(form: Mapping[str, list[str]], item: contracts.Service) -> list[dict[str, Any]]:
    """The answers to the service's questions, each checked against its definition."""
    asked = {a.code: a for a in item.attributes}
    given: dict[str, list[str]] = {}
    for name, values in form.items():
        match = _ATTRIBUTE.match(name)
        if name.startswith("attribute[") and match is None:
            raise Refusal(400, "attribute: a name is not attribute[code]")
        if match is not None:
            if match.group(1) not in asked:
                raise Refusal(400, f"attribute[{match.group(1)}]: not an attribute of this service")
            given.setdefault(match.group(1), []).extend(v.strip() for v in values if v.strip())
    answers = []
    for code, attribute in asked.items():
        values = given.get(code, [])
        if not values:
            if attribute.required:
                raise Refusal(400, f"attribute[{code}]: required by this service")
            continue
        if attribute.datatype != "multivaluelist" and len(values) > 1:
            raise Refusal(400, f"attribute[{code}]: given more than once")
        if any(len(v) > MAX_SHORT * 5 for v in values):
            raise Refusal(400, f"attribute[{code}]: too long")
        keys_of = {key: name for key, name in attribute.values}
        if attribute.values and any(v not in keys_of for v in values):
            raise Refusal(400, f"attribute[{code}]: not one of its values' keys")
        if attribute.datatype == "number":
            try:
                float(values[0])
            except ValueError:
                raise Refusal(400, f"attribute[{code}]: not a number") from None
        if attribute.datatype == "datetime":
            _time(f"attribute[{code}]", values[0])
        shown = [keys_of.get(v, v) for v in values]
        answers.append({"code": code, "description": attribute.description, "value": "、".join(shown)})
    return answers


def _filed(form: Mapping[str, list[str]]) -> dict[str, Any]:
    """The request's fields, checked as GeoReport v2 and the hub's contract require."""
    code = _text(form, "service_code", 6, required=True) or ""
    item = contracts.service(code)
    if item is None:
        raise Refusal(400, "service_code: not a service of this hub")
    lat = _degrees(form, "lat", -90, 90)
    lng = _degrees(form, "long", -180, 180)
    if (lat is None) != (lng is None):
        raise Refusal(400, "lat, long: give both or neither")
    address = _text(form, "address_string", 500)
    address_id = _text(form, "address_id", MAX_SHORT)
    if lat is None and address is None:
        if address_id is not None:
            raise Refusal(400, "address_id: not known here; send lat and long or address_string")
        raise Refusal(400, "lat, long or address_string: a location is required")
    if lat is not None and lng is not None and not inside_city(lng, lat):
        raise Refusal(400, "lat, long: outside the area this hub serves (Wuhan)")
    phone = _text(form, "phone", 32)
    if phone is not None:
        try:
            normal_phone(phone)
        except ValueError:
            raise Refusal(400, "phone: not a phone number of mainland China") from None
    _text(form, "email", 200)
    return {
        "service_code": code,
        "description": _text(form, "description", MAX_TEXT, required=True),
        "lat": lat,
        "long": lng,
        "address_string": address,
        "first_name": _text(form, "first_name", MAX_SHORT),
        "last_name": _text(form, "last_name", MAX_SHORT),
        "phone": phone,
        "media_url": _media_url(form),
        "attributes": _attributes(form, item),
    }


REQUEST_FORM = {
    "type": "object",
    "required": ["api_key", "service_code"],
    "properties": {
        "api_key": {"type": "string", "maxLength": 200, "description": "a key with open311:write"},
        "service_code": {"type": "string", "description": "a service's code (GET services)"},
        "lat": {"type": "number", "minimum": -90, "maximum": 90, "description": "WGS-84, with long"},
        "long": {"type": "number", "minimum": -180, "maximum": 180, "description": "WGS-84, with lat"},
        "address_string": {"type": "string", "maxLength": 500, "description": "needed without lat/long"},
        "description": {"type": "string", "maxLength": MAX_TEXT, "description": "required by this hub"},
        "first_name": {"type": "string", "maxLength": MAX_SHORT},
        "last_name": {"type": "string", "maxLength": MAX_SHORT},
        "phone": {"type": "string", "maxLength": 32},
        "email": {"type": "string", "maxLength": 200, "description": "accepted, never stored"},
        "media_url": {"type": "string", "maxLength": 500},
    },
}
UPDATE_FORM = {
    "type": "object",
    "required": ["api_key", "update_id", "service_request_id", "status", "updated_datetime", "description"],
    "properties": {
        "api_key": {"type": "string", "maxLength": 200, "description": "a key with open311:update"},
        "update_id": {"type": "string", "maxLength": 64, "description": "the client's id: idempotent on it"},
        "service_request_id": {"type": "string", "maxLength": 64},
        "status": {"type": "string", "enum": ["OPEN", "CLOSED", "open", "closed"]},
        "updated_datetime": {"type": "string", "format": "date-time"},
        "description": {"type": "string", "maxLength": MAX_TEXT},
        "media_url": {"type": "string", "maxLength": 500},
        "first_name": {"type": "string", "maxLength": MAX_SHORT},
        "last_name": {"type": "string", "maxLength": MAX_SHORT},
        "email": {"type": "string", "maxLength": 200},
    },
}


def _form_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {FORM_TYPE: {"schema": schema}}}}


# --- the routes, each served as .xml and .json ----------------------------------------------


def _install(fmt: str) -> None:
    @_served(fmt, "discovery", "GET", "Service discovery", _schema("discovery"), ())
    async def discovery(request: Request) -> Response:
        return _answer(fmt, "discovery", _discovery(request))

    @_served(fmt, "services", "GET", "Service list: the taxonomy's minor categories",
             _schema("services"), ())
    async def service_list() -> Response:
        return _answer(fmt, "services", [_service(s) for s in contracts.services()])

    @_served(fmt, "services/{service_code}", "GET", "Service definition: its attributes",
             _schema("service_definition"), (404,))
    async def service_definition(service_code: str) -> Response:
        async def work() -> Response:
            return _answer(fmt, "service_definition", _definition(_known_service(service_code)))

        return await _guarded(fmt, work)

    @_served(fmt, "requests", "POST", "File a service request (deferred: answered with a token)",
             _array("token"), (400, 403, 429, 503), openapi_extra=_form_body(REQUEST_FORM))
    async def create_request(request: Request) -> Response:
        async def work() -> Response:
            from casehub.open311 import intake, keys  # the store's modules: loaded on first call

            spec = _partner(request)
            form = await _form(request, spec.serving().max_body_bytes)
            client = await _client(request, _single(form, "api_key") or "", keys.WRITE)
            fields = _filed(form)
            ring = _keyring(request)
            if client is None:
                raise AssertionError("a write always has a client")
            try:
                token, new = await run_in_threadpool(
                    intake.land_request, context_of(request).store(), ring, spec.code, client.key_id, fields,
                    datetime.now(UTC),
                )
            except ConfigurationError:
                raise Refusal(503, "the hub cannot seal the request now; nothing was stored") from None
            outcome = "landed" if new else "seen again"
            log.info("gateway: open311 request %s by key %s", outcome, client.key_id)
            return _answer(fmt, "service_requests", [{"token": token, "service_request_id": None}])

        return await _guarded(fmt, work)

    @_served(fmt, "requests", "GET", "Service requests: by ids, or by service, window and status",
             _array("request"), (400, 403, 429, 503),
             openapi_extra={"parameters": [
                 _query("service_request_id", f"comma-separated ids (at most {MAX_IDS}): overrides the rest"),
                 _query("service_code", "comma-separated service codes"),
                 *DATE_PARAMETERS,
                 _query("status", "comma-separated: open, closed"),
                 API_KEY_QUERY,
             ]})
    async def list_requests(request: Request) -> Response:
        async def work() -> Response:
            from casehub.open311 import records  # the store's modules: loaded on first call

            params = _params(request)
            served = _partner(request).serving()
            await _client(request, _single(params, "api_key"), None)
            ids = _listed(params, "service_request_id")
            if len(ids) > MAX_IDS:
                raise Refusal(400, f"service_request_id: more than {MAX_IDS} ids")
            codes = _listed(params, "service_code")
            unknown = [c for c in codes if contracts.service(c) is None]
            if unknown:
                raise Refusal(400, "service_code: not a service of this hub")
            states = _listed(params, "status")
            if set(states) - {"open", "closed"}:
                raise Refusal(400, "status: open or closed")
            start, end = _window(params, served.window_days)
            query = records.RequestQuery(ids, codes, None if ids else start, None if ids else end,
                                         states, served.max_records)
            found = await run_in_threadpool(records.find_requests, context_of(request).store(),
                                            _keyring(request), query)
            return _answer(fmt, "service_requests", found)

        return await _guarded(fmt, work)

    @_served(fmt, "requests/{service_request_id}", "GET", "One service request", _array("request"),
             (403, 404, 429, 503), openapi_extra={"parameters": [API_KEY_QUERY]})
    async def one_request(request: Request, service_request_id: str) -> Response:
        async def work() -> Response:
            from casehub.open311 import records  # the store's modules: loaded on first call

            await _client(request, _single(_params(request), "api_key"), None)
            query = records.RequestQuery(ids=(service_request_id,), limit=1)
            found = await run_in_threadpool(records.find_requests, context_of(request).store(),
                                            _keyring(request), query)
            if not found:
                raise Refusal(404, "service_request_id: no such service request")
            return _answer(fmt, "service_requests", found)

        return await _guarded(fmt, work)

    @_served(fmt, "tokens/{token}", "GET", "What became of a filed request", _array("token"),
             (403, 404, 429, 503), openapi_extra={"parameters": [API_KEY_QUERY]})
    async def token(request: Request, token: str) -> Response:
        async def work() -> Response:
            from casehub.open311 import intake  # the store's modules: loaded on first call

            await _client(request, _single(_params(request), "api_key"), None)
            state = await run_in_threadpool(intake.token_state, context_of(request).store(),
                                            _partner(request).code, token)
            if state is None:
                raise Refusal(404, "token: no request was filed under it")
            return _answer(fmt, "service_requests",
                           [{"token": state.token, "service_request_id": state.service_request_id}])

        return await _guarded(fmt, work)

    @_served(fmt, "servicerequestupdates", "GET", "Updates of service requests in a window (mySociety)",
             _array("update"), (400, 403, 429, 503),
             openapi_extra={"parameters": [*DATE_PARAMETERS, API_KEY_QUERY]})
    async def list_updates(request: Request) -> Response:
        async def work() -> Response:
            from casehub.open311 import records  # the store's modules: loaded on first call

            params = _params(request)
            served = _partner(request).serving()
            await _client(request, _single(params, "api_key"), None)
            start, end = _window(params, served.window_days)
            found = await run_in_threadpool(records.find_updates, context_of(request).store(),
                                            _keyring(request), start, end, served.max_records)
            return _answer(fmt, "service_request_updates", found)

        return await _guarded(fmt, work)

    @_served(fmt, "servicerequestupdates", "POST", "Post an update on a service request (mySociety)",
             _array("update_created"), (400, 403, 404, 429, 503), openapi_extra=_form_body(UPDATE_FORM))
    async def post_update(request: Request) -> Response:
        async def work() -> Response:
            from casehub.open311 import keys, records  # the store's modules: loaded on first call

            spec = _partner(request)
            form = await _form(request, spec.serving().max_body_bytes)
            client = await _client(request, _single(form, "api_key") or "", keys.UPDATE)
            if client is None:
                raise AssertionError("a write always has a client")
            update_id = _text(form, "update_id", 64, required=True) or ""
            if any(ch.isspace() for ch in update_id):
                raise Refusal(400, "update_id: holds white space")
            case = _text(form, "service_request_id", 64, required=True) or ""
            status = (_text(form, "status", 8, required=True) or "").lower()
            if status not in ("open", "closed"):
                raise Refusal(400, "status: OPEN or CLOSED")
            updated = _time("updated_datetime", _text(form, "updated_datetime", 64, required=True))
            description = _text(form, "description", MAX_TEXT, required=True) or ""
            posted = records.PostedUpdate(
                update_id=update_id, service_request_id=case, status=status,
                updated_at=updated or datetime.now(UTC), description=description, media_url=_media_url(form),
                names=[n for n in (_text(form, f, MAX_SHORT) for f in ("first_name", "last_name")) if n],
            )
            _text(form, "email", 200)
            engine = context_of(request).store()
            if not await run_in_threadpool(records.case_exists, engine, case):
                raise Refusal(404, "service_request_id: no such service request")
            try:
                hub_id = await run_in_threadpool(records.record_update, engine, client.key_id, posted,
                                                 datetime.now(UTC))
            except records.UpdateConflict:
                raise Refusal(400, "update_id: posted before with other content") from None
            return _answer(fmt, "service_request_updates", [{"update_id": hub_id}])

        return await _guarded(fmt, work)


for _fmt in render.FORMATS:
    _install(_fmt)
