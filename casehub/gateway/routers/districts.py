"""The district standard interface over REST: `/districts/{district_code}/…` (docs/district-interface.md).

A district platform authenticates with its API key (`Authorization: Bearer cdk_…`); a key
acts only for its own district and within its scopes. Bodies are JSON objects checked against
`schemas/district/actions.schema.json`; a refusal is problem+json naming each field at fault in
`errors`, never echoing a value. The service behind it is `casehub.districts`, the same one the
SOAP endpoint calls.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from casehub.errors import ActionConflict, InvalidRecord, UnknownCase, WorkflowRefused
from casehub.gateway.context import context_of
from casehub.gateway.problems import Problem, documented
from casehub.paths import SCHEMAS_DIR

if TYPE_CHECKING:
    from casehub.credentials import Caller as Credential
    from casehub.districts import DistrictService

log = logging.getLogger("casehub.gateway")

MAX_BODY_BYTES = 64 * 1024
DISTRICT_CODE = r"^4201[0-9]{2}$"
CASE_ID = r"^[0-9a-f-]{36}$"
bearer = HTTPBearer(auto_error=False, scheme_name="districtKey", description="a district's API key, `cdk_…`")

router = APIRouter(
    prefix="/districts/{district_code}",
    tags=["district"],
    responses=documented(
        {
            401: "no, an unknown or a revoked API key",
            403: "the key lacks the scope, or belongs to another district",
            503: "the gateway has no key ring, or the store did not answer",
        }
    ),
)

District = Annotated[str, Path(pattern=DISTRICT_CODE, description="the district's 6-digit code, 4201xx")]


def _caller(
    request: Request,
    district_code: District,
    key: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Credential:
    from casehub import credentials

    if key is None:
        raise Problem(
            401,
            "unauthorized",
            "Unauthorized",
            "send Authorization: Bearer <district API key>",
            headers={"WWW-Authenticate": 'Bearer realm="casehub-districts"'},
        )
    caller = credentials.verify_api_key(context_of(request).store(), key.credentials.strip())
    if caller is None:
        raise Problem(
            401,
            "unauthorized",
            "Unauthorized",
            "the API key is unknown or revoked",
            headers={"WWW-Authenticate": 'Bearer realm="casehub-districts", error="invalid_token"'},
        )
    if caller.district_code != district_code:
        raise Problem(403, "forbidden", "Forbidden", "the API key belongs to another district")
    return caller


Caller = Annotated["Credential", Depends(_caller)]


def _scope(caller: Credential, scope: str) -> None:
    if scope not in caller.scopes:
        raise Problem(403, "forbidden", "Forbidden", f"the API key lacks the scope {scope}", scope=scope)


def _service(request: Request) -> DistrictService:
    service = context_of(request).districts()
    if service is None:
        raise Problem(503, "not-configured", "Gateway not configured", "the gateway has no key ring")
    return service


def _refused(error: WorkflowRefused | InvalidRecord) -> Problem:
    if isinstance(error, InvalidRecord):
        errors = [reason.as_dict() for reason in error.reasons]
        fields = ", ".join(sorted({reason.field for reason in error.reasons}))
        return Problem(
            422,
            "invalid-action",
            "Invalid action",
            f"the action breaks its schema at {fields}",
            errors=errors,
        )
    status = 404 if isinstance(error, UnknownCase) else 409
    slug = "not-found" if isinstance(error, UnknownCase) else "action-conflict"
    title = "Not found" if isinstance(error, UnknownCase) else "Action not allowed"
    errors = [{"code": error.code, "field": error.field, "message": str(error)}]
    return Problem(status, slug, title, str(error), field=error.field, errors=errors)


@router.get(
    "/dispatches",
    summary="The cases and notices waiting for the district, oldest first",
    responses=documented({422: "a limit outside 1–500"}),
)
async def dispatches(
    request: Request,
    district_code: District,
    caller: Caller,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Pending events of the district — `dispatch` (a new case with its deadline), `urge` (督办,
    its deadline has passed), `cancel` (withdrawn at its channel) — each with the case's current
    record (`schemas/recipients/district.json`). Listed until confirmed or acted on."""
    _scope(caller, "dispatches:read")
    service = _service(request)
    listing = await run_in_threadpool(service.dispatches, district_code, limit=limit)
    return {"dispatches": [entry.as_dict() for entry in listing]}


@router.post(
    "/dispatches/{event_id}/receipt",
    summary="Confirm that the district has stored a dispatch",
    responses=documented({404: "no such event for this district"}),
)
async def receipt(
    request: Request,
    district_code: District,
    event_id: Annotated[str, Path(pattern=CASE_ID)],
    caller: Caller,
) -> dict[str, Any]:
    """Record that the district has stored the event: it is delivered and no longer listed.
    Confirming again answers the same."""
    _scope(caller, "dispatches:read")
    service = _service(request)
    try:
        state = await run_in_threadpool(service.acknowledge, district_code, event_id)
    except UnknownCase as error:
        raise _refused(error) from None
    return {"event_id": event_id, "state": state}


DISTRICT_ACTIONS = ("accept", "progress", "complete", "postpone", "return")
"""What a district does to a case, each its own operation: its body is its own schema's."""


ACTIONS_SCHEMA = SCHEMAS_DIR / "district" / "actions.schema.json"
"""The contract of the actions' bodies, which `casehub.workflow` checks them against; read here
for the OpenAPI without importing the workflow (and the store with it) when the app is built."""


def _action_body(action: str) -> dict[str, Any]:
    """The OpenAPI request body of `action`: its schema in the contract file."""
    schema = orjson.loads(ACTIONS_SCHEMA.read_bytes())["$defs"][action]
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _act_route(action: str) -> None:
    @router.post(
        f"/cases/{{case_id}}/{action}",
        name=f"act_{action}",
        summary=f"The district's {action} of a case dispatched to it",
        responses=ACT_RESPONSES,
        openapi_extra={"requestBody": _action_body(action)},
    )
    async def act(
        request: Request,
        district_code: District,
        case_id: Annotated[str, Path(pattern=CASE_ID)],
        caller: Caller,
    ) -> dict[str, Any]:
        """The body is `{"operation_id", "at", …}` with the action's fields
        (`schemas/district/actions.schema.json`): accept `handler`?; progress `note`; complete
        `result`; postpone `days` (1–15 working days, once) and `reason`; return `reason_code`,
        `reason` and `suggested_district`?. The same `operation_id` again answers as the first
        time did, with `duplicate: true`."""
        return await _act(request, district_code, case_id, action, caller)


ACT_RESPONSES = documented(
    {
        400: "a body that is not JSON",
        404: "no case of that id is dispatched to this district",
        409: "the case's status does not allow the action, or the operation id was used for another",
        413: "a body over 64 KiB",
        415: "a body that is not application/json",
        422: "a body that breaks the action's schema (each field named in `errors`)",
    }
)


async def _act(
    request: Request, district_code: str, case_id: str, action: str, caller: Credential
) -> dict[str, Any]:
    _scope(caller, "cases:write")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise Problem(415, "unsupported-media-type", "Unsupported media type", "send application/json")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise Problem(
                413, "body-too-large", "Body too large", f"a body is at most {MAX_BODY_BYTES} bytes"
            )
    try:
        document = orjson.loads(bytes(body))
    except orjson.JSONDecodeError:
        raise Problem(400, "malformed-json", "Malformed JSON", "the body is not JSON (UTF-8)") from None
    service = _service(request)
    try:
        outcome = await run_in_threadpool(service.act, district_code, case_id, action, document)
    except (InvalidRecord, UnknownCase, ActionConflict) as error:
        raise _refused(error) from None
    return outcome.as_dict()


for _action in DISTRICT_ACTIONS:
    _act_route(_action)
