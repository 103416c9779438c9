"""The digital urban management (数字城管) simulator: the case-file SOAP service of urban_mgmt.wsdl.

POST /ws/casefile takes SOAP 1.1 document/literal requests signed with a WS-Security
UsernameToken PasswordDigest, checked as the hotline checks them; GET /ws/casefile?wsdl serves the
contract file with its address pointed at the host the caller used. Window queries page the case
files by UpdateTime, so a case the system works on while the hub pages moves to a later page;
each case file carries its progress log inline, so one raw record is one case file. Case files
injected through the admin surface are served, as given, after every window's own.

The service is the hotline's shape (simulators/soap.py): the same envelope reading, endpoint
and faults' wording; the elements, including the fault detail, are in this service's own
namespace.

Cases the hub transfers in (CreateCase) are the system's own from then on (simulators/transfers.py):
applied once per event id (`simulators.effects`), worked step by step at
`transfer_step_seconds`, and read back through QueryTransferProgress — never through
QueryCaseFiles or GetCaseFile, or the hub would ingest its own case back.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from lxml import etree

from simulators import casefiles, soap, transfers
from simulators.controls import (
    FaultPlan,
    Injection,
    ReceivedLog,
    SimulatorState,
    admin_router,
    received_path,
)
from simulators.effects import Effects
from simulators.generator import generate
from simulators.records import Options, now_ms
from simulators.store import RecordStore
from simulators.wssecurity import UsernameTokenVerifier

PARTNER = "urban_mgmt"
SERVICE = soap.Service(
    uri="urn:wuhan:szcg:casefile:v1",
    prefix="cg",
    fault_detail=("ErrorCode", "ErrorMessage"),
    wsdl=Path(__file__).resolve().parents[1] / "schemas" / "wsdl" / "urban_mgmt.wsdl",
    endpoint="/ws/casefile",
    list_item="Step",  # each entry of a case file's progress log (Progress)
)
MAX_PAGE_SIZE = 500
DEMO_PASSWORD = "urban-demo-secret"  # noqa: S105 - the documented demo credential, not a secret


def create_app(*, seed: int = 42, records: int = 300, defect_rate: float = 0.05, days: int = 7,
               anchor: datetime | None = None, var_dir: str | Path = "var",
               username: str = "casehub", password: str = DEMO_PASSWORD,
               hang_seconds: float = 30.0, retry_after: int = 1,
               transfer_step_seconds: float = 5.0) -> FastAPI:
    """A case-file service of `records` seeded case files over the `days` before `anchor`; a
    case transferred in takes a step every `transfer_step_seconds` on average (0: all at once)."""
    options = Options(seed, records, defect_rate, days, anchor)
    store = RecordStore(generate(PARTNER, options), resolution_ms=1000, seed=seed)
    state = SimulatorState(
        partner=PARTNER,
        store=store,
        faults=FaultPlan(hang_seconds=hang_seconds, retry_after=retry_after),
        received=ReceivedLog(received_path(var_dir, PARTNER)),
        responses=SERVICE.fault_responses(
            oversized=lambda count, declare_length: _oversized(store, count, declare_length),
            total="Total",
            hostile_xml=_hostile_xml,
        ),
        injection=Injection(accept=_injectable, listing=dict),
        step=casefiles.touched,
        busy=lambda version: casefiles.next_status(str(version.payload["StatusCode"]))
        != version.payload["StatusCode"],
    )
    verifier = UsernameTokenVerifier(username, password)
    effects = Effects()
    book = transfers.TransferBook(seed, round(transfer_step_seconds * 1000))
    state.on_reset.extend((verifier.forget, effects.reset, book.clear))
    operations = {
        **OPERATIONS,
        "CreateCase": partial(create_case, book=book, effects=effects),
        "QueryTransferProgress": partial(query_transfer_progress, book=book),
    }
    app = FastAPI(title="digital urban management simulator", docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.include_router(admin_router(state))
    app.include_router(effects.router())
    SERVICE.mount(app, state, operations, verifier.verify)
    return app


def _sample(store: RecordStore) -> dict[str, Any]:
    """A case file to repeat: the first one's current version."""
    _, version = next(store.currents())
    return dict(version.payload)


def _oversized(store: RecordStore, count: int, declare_length: bool) -> Response:
    """A QueryCaseFiles answer of `count` copies of one case file, Total saying so."""
    page = _page_response([_sample(store)], 1, 1)
    return SERVICE.oversized(page, "CaseFiles", ("Total", "PageSize"), count, declare_length)


def _hostile_xml(document: str, target: str) -> Response:
    """A case-file page made the hostile `document`, the attack in its one description."""
    description = {"CaseNo": "CG250101000001", "Description": soap.MARK}
    return SERVICE.hostile(_page_response([description], 1, 1), document, target)


def _injectable(record: Any) -> dict[str, Any]:
    """A case file to serve as given: element names with strings, or for a list of steps
    (`Progress`) a list of objects of element names and strings; all what XML can carry."""
    if not isinstance(record, Mapping) or not all(
        isinstance(name, str) and (isinstance(value, str) or _is_steps(value))
        for name, value in record.items()
    ):
        raise ValueError("a case file is an object of element names and string values "
                         "(or lists of such objects, for steps)")
    SERVICE.element("CaseFile", record)  # lxml refuses names and text that XML cannot hold
    return dict(record)


def _is_steps(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(step, Mapping)
        and all(isinstance(name, str) and isinstance(text, str) for name, text in step.items())
        for step in value
    )


def _page_response(items: list[Mapping[str, Any]], page: int, size: int) -> etree._Element:
    response = SERVICE.element("QueryCaseFilesResponse",
                               {"Total": str(len(items)), "PageNo": str(page), "PageSize": str(size)})
    listing = etree.SubElement(response, SERVICE.tag("CaseFiles"))
    for item in items[(page - 1) * size: page * size]:
        listing.append(SERVICE.element("CaseFile", item))
    return response


def query_case_files(state: SimulatorState, operation: etree._Element) -> etree._Element:
    """QueryCaseFiles: case files with UpdateTime in [StartTime, EndTime), stale re-sends and
    injected ones at the end."""
    start, end, page, size = SERVICE.window(operation, "StartTime", "EndTime", "PageNo", "PageSize",
                                            MAX_PAGE_SIZE)
    return _page_response([*state.store.window(start, end), *state.injected], page, size)


def get_case_file(state: SimulatorState, operation: etree._Element) -> etree._Element:
    """GetCaseFile: the current version of one case file."""
    version = SERVICE.current(state, operation, "CaseNo", "case file")
    response = SERVICE.element("GetCaseFileResponse")
    response.append(SERVICE.element("CaseFile", version.payload))
    return response


def create_case(state: SimulatorState, operation: etree._Element, *, book: transfers.TransferBook,
                effects: Effects) -> etree._Element:
    """CreateCase: a case transferred in, recorded, checked, and created once per EventId (and
    per ExternalNo); a repeat answers the same CaseNo with Duplicate true."""
    fields = {name: SERVICE.child_text(operation, name) for name in transfers.ELEMENTS}
    try:
        transfers.check(fields)
    except ValueError as error:
        state.received.record("CreateCase", fields, {"ErrorCode": "BadRequest", "ErrorMessage": str(error)})
        raise soap.client_fault(str(error)) from None
    transfer, duplicate = book.create(fields, now_ms())
    if not duplicate:
        effects.apply(transfer.event_id)
    state.received.record("CreateCase", fields, {"CaseNo": transfer.case_no, "Duplicate": duplicate})
    return SERVICE.element("CreateCaseResponse",
                           {"CaseNo": transfer.case_no, "Duplicate": "true" if duplicate else "false"})


def query_transfer_progress(state: SimulatorState, operation: etree._Element, *,
                            book: transfers.TransferBook) -> etree._Element:
    """QueryTransferProgress: the steps of transferred cases with UpdateTime in [StartTime,
    EndTime) that the system has taken by now, paged as QueryCaseFiles is."""
    start, end, page, size = SERVICE.window(operation, "StartTime", "EndTime", "PageNo", "PageSize",
                                            MAX_PAGE_SIZE)
    entries = book.window(start, end, now_ms())
    response = SERVICE.element("QueryTransferProgressResponse",
                               {"Total": str(len(entries)), "PageNo": str(page), "PageSize": str(size)})
    listing = etree.SubElement(response, SERVICE.tag("ProgressEntries"))
    for entry in entries[(page - 1) * size: page * size]:
        listing.append(SERVICE.element("ProgressEntry", entry))
    return response


OPERATIONS: dict[str, soap.Operation] = {
    "QueryCaseFiles": query_case_files,
    "GetCaseFile": get_case_file,
}
"""The operations on the system's own case files; `create_app` adds CreateCase and
QueryTransferProgress, bound to the app's transfers and effects."""
