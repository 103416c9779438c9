"""The district standard interface over SOAP 1.1: `POST /soap/district`, and its contract at
`GET /soap/district?wsdl` (docs/district-interface.md, `schemas/wsdl/district.wsdl`).

A request is read capped, parsed safely and its operation found, then its WS-Security token is
checked against the district's SOAP credential (nonces in the store, shared by every gateway
process), its `DistrictCode` must be the credential's, and the district service does the work,
the same one the REST side calls. Every refusal or failure is a SOAP Fault with HTTP 500: the
caller's to fix (`soap:Client`), the token refused (`wsse:FailedAuthentication`), or the hub's,
to be tried again later (`soap:Server`). A fault says what is wrong and where, never what was
sent; an unexpected failure is logged by its type alone, without the request.

lxml, the store and the service are imported when the first request comes, so that building
the gateway app stays cheap (the Airflow plugin builds it in every process).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from casehub.gateway.context import context_of
from casehub.gateway.problems import Problem, documented

if TYPE_CHECKING:
    from lxml import etree
    from sqlalchemy import Engine

    from casehub.crypto import KeyRing
    from casehub.districts import DistrictService
    from casehub.gateway.soap.envelope import SoapFault
    from casehub.gateway.soap.wssecurity import Credential

log = logging.getLogger("casehub.gateway")

router = APIRouter(tags=["district"])

PATH = "/soap/district"
XML_MEDIA_TYPE = "text/xml; charset=utf-8"
SOAP_BODY = {
    "required": True,
    "content": {"text/xml": {"schema": {"type": "string", "description": "a SOAP 1.1 envelope"}}},
}
FAULT_RESPONSE = {
    "description": (
        "a SOAP Fault: `soap:Client` (change the request), `wsse:FailedAuthentication` (the token "
        "was refused), `soap:Server` (try again later), `soap:VersionMismatch` (a SOAP 1.2 envelope), "
        "each with `DistrictFault` details of `Code`, `Field` and `Message`"
    ),
    "content": {"text/xml": {}},
}


@router.get(
    PATH,
    summary="The district SOAP contract (WSDL)",
    description=(
        "`?wsdl` serves `schemas/wsdl/district.wsdl` with its `soap:address` set to the URL the "
        "caller used, so a client built from it calls this gateway. No token needed."
    ),
    responses={
        200: {"description": "the WSDL", "content": {"text/xml": {}}},
        **documented({400: "`wsdl-expected`: the query has no `wsdl`"}),
    },
    openapi_extra={
        "parameters": [
            {
                "name": "wsdl",
                "in": "query",
                "required": True,
                "allowEmptyValue": True,
                "schema": {"type": "string"},
                "description": "present, with or without a value",
            },
        ],
    },
)
async def contract(request: Request) -> Response:
    if "wsdl" not in request.query_params:
        raise Problem(
            400,
            "wsdl-expected",
            "WSDL query expected",
            f"GET {PATH}?wsdl serves the contract; SOAP requests are POSTed to {PATH}",
        )
    from casehub.gateway.soap import district

    location = str(request.url.replace(query="", fragment=""))
    return Response(district.wsdl_for(location), media_type=XML_MEDIA_TYPE)


@router.post(
    PATH,
    summary="Call the district standard interface (SOAP 1.1)",
    description=(
        "Document/literal operations GetDispatches, AckDispatch, AcceptCase, ReportProgress, "
        "CompleteCase, ApplyPostponement and ReturnCase (`?wsdl`), each under a WS-Security "
        "UsernameToken with a PasswordDigest, a Nonce and a Created time within 300 s of the hub's "
        "clock. The body is at most 1 MiB, UTF-8 or UTF-16 as its declaration and Content-Type say; "
        "a DOCTYPE, an XInclude, nesting over 256 levels and a text node over 10 MB are refused."
    ),
    responses={
        200: {"description": "the operation's response", "content": {"text/xml": {}}},
        500: FAULT_RESPONSE,
    },
    openapi_extra={"requestBody": SOAP_BODY},
)
async def call(request: Request) -> Response:
    from casehub.gateway.soap import district, envelope

    operation = "-"
    try:
        charset = envelope.charset_of(request.headers.get("content-type"))
        parsed = envelope.parse_envelope(await envelope.read_body(request), charset=charset)
        operation = district.operation_of(parsed.body, request.headers.get("soapaction"))
        engine, ring = _configured(request)
        credential = await run_in_threadpool(_authenticate, engine, ring, parsed.header)
        work = district.read(parsed.body, operation)
        if work.district_code != credential.district_code:
            raise _refused("not this district's credential")
        answer: etree._Element = await run_in_threadpool(work.run, _service(engine, ring))
    except Exception as error:  # noqa: BLE001 - every failure is answered as a fault, never a trace
        fault = _fault(error, operation)
        body = envelope.fault_envelope(
            fault, namespace=district.NAMESPACE, prefix=district.PREFIX, detail=district.FAULT_DETAIL
        )
        return Response(body, status_code=envelope.FAULT_STATUS, media_type=XML_MEDIA_TYPE)
    return Response(envelope.response_envelope(answer, prefix=district.PREFIX), media_type=XML_MEDIA_TYPE)


def _configured(request: Request) -> tuple[Engine, KeyRing]:
    """The store and the key ring; without a ring no SOAP credential can be opened."""
    from casehub.gateway.soap.envelope import server_fault

    context = context_of(request)
    ring = context.keyring()
    if ring is None:
        raise server_fault("not_configured", "the hub holds no key ring, so no credential can be checked")
    return context.store(), ring


def _authenticate(engine: Engine, ring: KeyRing, header: etree._Element | None) -> Credential:
    from casehub.credentials import soap_password
    from casehub.gateway.soap.wssecurity import UsernameTokenVerifier

    verifier = UsernameTokenVerifier(engine, lambda username: soap_password(engine, ring, username))
    return verifier.verify(header)


def _refused(reason: str) -> SoapFault:
    from casehub.gateway.soap.wssecurity import refused

    return refused(reason)


def _service(engine: Engine, ring: KeyRing) -> DistrictService:
    from casehub.districts import DistrictService

    return DistrictService(engine, ring)


def _fault(error: Exception, operation: str) -> SoapFault:
    """The fault `error` is answered with, logged by its code (a failure of the hub's by its type)."""
    from sqlalchemy.exc import SQLAlchemyError

    from casehub.errors import (
        ConfigurationError,
        InvalidRecord,
        StoreError,
        StoreUnavailable,
        UnknownCase,
        WorkflowRefused,
    )
    from casehub.gateway.soap.district import element_of
    from casehub.gateway.soap.envelope import CLIENT, SERVER, Reason, SoapFault, server_fault

    if isinstance(error, SoapFault):
        fault = error
    elif isinstance(error, InvalidRecord):
        fault = SoapFault(CLIENT, [Reason(r.code, r.message, element_of(r.field)) for r in error.reasons])
    elif isinstance(error, UnknownCase):
        fault = SoapFault(CLIENT, [Reason("not_found", str(error), element_of(error.field))])
    elif isinstance(error, WorkflowRefused):
        fault = SoapFault(CLIENT, [Reason(error.code, str(error), element_of(error.field))])
    elif isinstance(error, StoreUnavailable | SQLAlchemyError):
        log.error("gateway: district SOAP %s: the store is unavailable (%s)", operation, type(error).__name__)
        return server_fault("store_unavailable", "the store did not answer; try again later")
    elif isinstance(error, StoreError | ConfigurationError):
        log.error("gateway: district SOAP %s failed: %s", operation, error)  # these name no value
        return server_fault("internal_error", "internal error; see the hub's log")
    else:
        # The type alone: an unexpected error's message can quote what the caller sent.
        log.error("gateway: district SOAP %s failed: unexpected %s", operation, type(error).__name__)
        return server_fault("internal_error", "internal error; see the hub's log")
    level = logging.ERROR if fault.faultcode == SERVER else logging.INFO
    log.log(level, "gateway: district SOAP %s refused: %s %s", operation, fault.faultcode, fault.code)
    return fault
