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
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from lxml import etree

from simulators import casefiles, soap
from simulators.controls import (
    FaultPlan,
    Injection,
    ReceivedLog,
    SimulatorState,
    admin_router,
    received_path,
)
from simulators.generator import generate
from simulators.records import Options
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
               hang_seconds: float = 30.0, retry_after: int = 1) -> FastAPI:
    """A case-file service of `records` seeded case files over the `days` before `anchor`."""
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
    state.on_reset.append(verifier.forget)
    app = FastAPI(title="digital urban management simulator", docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.include_router(admin_router(state))
    SERVICE.mount(app, state, OPERATIONS, verifier.verify)
    return app


def _sample(store: RecordStore) -> dict[str, Any]:
    """A case file to repeat: the first one's current version."""
    _, version = next(store.currents())
    return dict(version.payload)


def _oversized(store: RecordStore, count: int, declare_length: bool) -> Response:
    """A QueryCaseFiles answer of `count` copies of one case file, Total saying so."""
    page = _page_response([_sample(store)], 1, 1)
    return SERVICE.oversized(page, "CaseFiles", ("Total", "PageSize"), count, declare_length)


def _hostile_xml() -> Response:
    """A case-file page whose one description is the billion laughs."""
    description = {"CaseNo": "CG250101000001", "Description": soap.LAUGHS}
    return SERVICE.billion_laughs(_page_response([description], 1, 1))


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


OPERATIONS: dict[str, soap.Operation] = {
    "QueryCaseFiles": query_case_files,
    "GetCaseFile": get_case_file,
}
