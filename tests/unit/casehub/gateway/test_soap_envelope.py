"""Hostile and malformed SOAP requests to the gateway's district endpoint, over real HTTP: each is a
SOAP 1.1 Fault with HTTP 500 naming what is wrong, before any credential is looked at. No DTD is
read, no entity expanded or fetched, no oversized body read whole, and nothing sent comes back."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pytest
import requests
from lxml import etree
from sqlalchemy import Engine

from casehub.gateway import create_app
from tests.threaded import serving

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
DISTRICT_NS = "urn:casehub:district:v1"
PATH = "/soap/district"
START_TIMEOUT_SECONDS = 30.0
MIB = 1024 * 1024
GET_DISPATCHES = "<d:GetDispatches><d:DistrictCode>420106</d:DistrictCode></d:GetDispatches>"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The gateway on a fresh SQLite store; these requests are all refused before it is touched."""
    from sqlalchemy import create_engine

    from casehub.store import migrate
    from casehub.store.db import prepare

    engine: Engine = prepare(create_engine(f"sqlite:///{tmp_path_factory.mktemp('soap') / 'casehub.db'}"))
    migrate(engine)
    environment = pytest.MonkeyPatch()
    for variable in ("CASEHUB_KEYRING", "CASEHUB_KEYRING_FILE"):
        environment.delenv(variable, raising=False)
    try:
        with serving(create_app(engine)) as url:
            yield url + PATH
    finally:
        engine.dispose()
        environment.undo()


@dataclass(frozen=True)
class Fault:
    faultcode: str
    faultstring: str
    code: str
    text: str


def post(url: str, body: bytes | Iterator[bytes], **headers: str) -> requests.Response:
    return requests.post(
        url, data=body, headers={"Content-Type": "text/xml; charset=utf-8", **headers}, timeout=30
    )


def fault_of(response: requests.Response) -> Fault:
    """The SOAP 1.1 Fault a refusal is answered with, checked to be one."""
    assert response.status_code == 500, response.text
    assert response.headers["content-type"].startswith("text/xml")
    root = etree.fromstring(response.content, etree.XMLParser(resolve_entities=False, no_network=True))
    fault = root.find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    assert fault is not None, response.text
    detail = fault.find(f"detail/{{{DISTRICT_NS}}}DistrictFault")
    assert detail is not None, response.text
    return Fault(
        fault.findtext("faultcode") or "",
        fault.findtext("faultstring") or "",
        detail.findtext(f"{{{DISTRICT_NS}}}Code") or "",
        response.text,
    )


def envelope(body: str, *, header: str = "", namespace: str = SOAP_ENV) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<soap:Envelope xmlns:soap="{namespace}" '
        f'xmlns:d="{DISTRICT_NS}">{header}<soap:Body>{body}</soap:Body></soap:Envelope>'
    ).encode()


def with_doctype(doctype: str, body: str = GET_DISPATCHES) -> bytes:
    prolog, rest = envelope(body).split(b"\n", 1)
    return prolog + b"\n" + doctype.encode() + b"\n" + rest


BILLION_LAUGHS = (
    '<!DOCTYPE soap:Envelope [\n<!ENTITY lol0 "lol">\n'
    + "\n".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10))
    + "\n]>"
)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_a_doctype_is_refused_even_without_entities(gateway: str, encoding: str) -> None:
    body = with_doctype("<!DOCTYPE soap:Envelope>").decode().replace('"utf-8"', f'"{encoding}"')
    content_type = {"Content-Type": f"text/xml; charset={encoding}"}
    fault = fault_of(post(gateway, body.encode(encoding), **content_type))
    assert (fault.faultcode, fault.code) == ("soap:Client", "doctype_forbidden")
    assert "DOCTYPE is not allowed" in fault.faultstring


def test_billion_laughs_is_refused_quickly_and_expands_nothing(gateway: str) -> None:
    body = GET_DISPATCHES.replace("420106", "&lol9;")
    started = datetime.now(UTC)
    response = post(gateway, with_doctype(BILLION_LAUGHS, body))
    assert (datetime.now(UTC) - started).total_seconds() < 5
    fault = fault_of(response)
    assert fault.code == "doctype_forbidden"
    assert "lol" not in fault.text and len(response.content) < 2000


def test_an_external_file_entity_is_never_read(gateway: str, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT", encoding="utf-8")
    doctype = f'<!DOCTYPE soap:Envelope [<!ENTITY xxe SYSTEM "file://{secret}">]>'
    fault = fault_of(post(gateway, with_doctype(doctype, GET_DISPATCHES.replace("420106", "&xxe;"))))
    assert fault.code == "doctype_forbidden"
    assert "TOP-SECRET" not in fault.text


class _Counting(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]]

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'<!ENTITY leak "fetched">')

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture
def entity_server() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server that counts what is fetched from it."""
    hits: list[str] = []
    handler = type("Handler", (_Counting,), {"hits": hits})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join(START_TIMEOUT_SECONDS)


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE soap:Envelope [<!ENTITY xxe SYSTEM "{url}/entity">]>',
        '<!DOCTYPE soap:Envelope [<!ENTITY % remote SYSTEM "{url}/parameter"> %remote;]>',
        '<!DOCTYPE soap:Envelope SYSTEM "{url}/dtd">',
    ],
    ids=["general entity", "parameter entity", "external DTD"],
)
def test_an_external_entity_or_dtd_over_the_network_is_never_fetched(
    gateway: str, entity_server: tuple[str, list[str]], doctype: str
) -> None:
    url, hits = entity_server
    body = GET_DISPATCHES.replace("420106", "&xxe;") if "xxe" in doctype else GET_DISPATCHES
    fault = fault_of(post(gateway, with_doctype(doctype.format(url=url), body)))
    assert fault.code == "doctype_forbidden"
    assert hits == [] and "fetched" not in fault.text


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", "empty_body"),
        (b"   \n", "empty_body"),
        (b"this is not XML", "malformed_xml"),
        (b"<soap:Envelope xmlns:soap='" + SOAP_ENV.encode() + b"'><soap:Body>", "malformed_xml"),
        (b"<a>" * 10_000 + b"</a>" * 10_000, "too_deep"),
        (
            envelope("<d:GetDispatches><d:DistrictCode>&undeclared;</d:DistrictCode></d:GetDispatches>"),
            "malformed_xml",
        ),
        ("<html><body>维护中</body></html>".encode(), "not_an_envelope"),
        (envelope(GET_DISPATCHES, namespace="urn:not-soap"), "not_an_envelope"),
    ],
    ids=["empty", "blank", "not xml", "unclosed", "too deep", "undeclared entity", "html", "other namespace"],
)
def test_what_is_not_a_well_formed_soap_envelope_is_a_client_fault(
    gateway: str, body: bytes, code: str
) -> None:
    fault = fault_of(post(gateway, body))
    assert (fault.faultcode, fault.code) == ("soap:Client", code)


def test_a_malformed_request_is_named_by_place_not_by_its_content(gateway: str) -> None:
    fault = fault_of(post(gateway, "<张明 phone='13800138000'>".encode()))
    assert fault.code == "malformed_xml" and "line 1" in fault.faultstring
    assert "13800138000" not in fault.text and "张明" not in fault.text


def test_a_soap_12_envelope_is_a_version_mismatch(gateway: str) -> None:
    response = post(gateway, envelope(GET_DISPATCHES, namespace=SOAP12_ENV))
    fault = fault_of(response)
    assert (fault.faultcode, fault.code) == ("soap:VersionMismatch", "soap_version")
    assert "SOAP 1.2" in fault.faultstring and SOAP_ENV in fault.faultstring


def test_a_body_over_one_mib_is_refused_by_its_declared_length(gateway: str) -> None:
    padding = "<!--" + "x" * MIB + "-->"
    fault = fault_of(post(gateway, envelope(GET_DISPATCHES + padding)))
    assert (fault.faultcode, fault.code) == ("soap:Client", "body_too_large")
    assert str(MIB) in fault.faultstring


def test_a_body_over_one_mib_is_refused_when_no_length_is_declared(gateway: str) -> None:
    """Sent chunked: the size is counted while the body is read."""

    def chunks() -> Iterator[bytes]:
        yield envelope(GET_DISPATCHES).split(b"<soap:Body>")[0]
        for _ in range(32):  # 2 MiB in all
            yield b"<!--" + b"y" * (64 * 1024 - 7) + b"-->"

    fault = fault_of(post(gateway, chunks()))
    assert (fault.faultcode, fault.code) == ("soap:Client", "body_too_large")


def test_a_body_of_just_under_one_mib_is_read(gateway: str) -> None:
    body = envelope(GET_DISPATCHES + "<!--" + "x" * (MIB - 1000) + "-->")
    assert len(body) < MIB
    assert fault_of(post(gateway, body)).code != "body_too_large"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("", "invalid_body"),
        (GET_DISPATCHES * 2, "invalid_body"),
    ],
    ids=["nothing", "two operations"],
)
def test_a_body_must_hold_exactly_one_operation(gateway: str, body: str, code: str) -> None:
    fault = fault_of(post(gateway, envelope(body)))
    assert (fault.faultcode, fault.code) == ("soap:Client", code)
    assert "exactly one element" in fault.faultstring


def test_an_envelope_without_a_body_is_refused(gateway: str) -> None:
    body = f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Header/></soap:Envelope>'.encode()
    fault = fault_of(post(gateway, body))
    assert (fault.faultcode, fault.code) == ("soap:Client", "missing_body")


@pytest.mark.parametrize(
    "operation",
    [
        "<d:DeleteCase><d:CaseId>x</d:CaseId></d:DeleteCase>",
        '<GetDispatches xmlns="urn:wuhan:12345:workorder:v1"><DistrictCode>1</DistrictCode></GetDispatches>',
        "<GetDispatches><DistrictCode>420106</DistrictCode></GetDispatches>",
    ],
    ids=["unknown name", "another namespace", "no namespace"],
)
def test_an_unknown_operation_is_refused_naming_the_known_ones(gateway: str, operation: str) -> None:
    fault = fault_of(post(gateway, envelope(operation)))
    assert (fault.faultcode, fault.code) == ("soap:Client", "unknown_operation")
    assert "GetDispatches, AckDispatch, AcceptCase" in fault.faultstring


def test_a_soap_action_naming_another_operation_is_refused(gateway: str) -> None:
    response = post(gateway, envelope(GET_DISPATCHES), SOAPAction=f'"{DISTRICT_NS}/ReturnCase"')
    assert fault_of(response).code == "soap_action_mismatch"


def test_a_header_the_hub_must_understand_but_does_not_is_refused(gateway: str) -> None:
    header = (
        '<soap:Header><t:Transaction xmlns:t="urn:example:tx" soap:mustUnderstand="1">5</t:Transaction>'
        "</soap:Header>"
    )
    fault = fault_of(post(gateway, envelope(GET_DISPATCHES, header=header)))
    assert (fault.faultcode, fault.code) == ("soap:MustUnderstand", "header_not_understood")


def test_past_the_envelope_a_gateway_without_a_key_ring_answers_a_server_fault(gateway: str) -> None:
    """This gateway has no key ring: a well-formed request gets past every check above to find it."""
    fault = fault_of(post(gateway, envelope(GET_DISPATCHES)))
    assert (fault.faultcode, fault.code) == ("soap:Server", "not_configured")
