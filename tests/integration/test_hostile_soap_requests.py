"""Hostile XML sent to the gateway's SOAP endpoint (`/soap/district`, its only SOAP route), served
by `casehub serve` in a process of its own: each document of `simulators.hostile` — XXE against
a local file and a local canary server, parameter entities, an external DTD, XInclude, billion
laughs, quadratic blow-up, 2 000 000 levels of nesting, a 15 MB text node, lying and invalid
encodings — is answered in under a second with a SOAP Fault naming its defect, nothing reaches
the canary, no file content comes back, and the gateway's peak memory above what it held stays
bounded. Afterwards the gateway is alive and answers a district's signed call. The time and
peak memory of each payload are printed.
"""

from __future__ import annotations

import http.server
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest
import requests
import zeep
from lxml import etree
from sqlalchemy import create_engine
from zeep.settings import Settings
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from casehub import credentials
from casehub.crypto import KeyRing
from casehub.store import migrate
from casehub.store.db import prepare
from simulators.testing import HOSTILE_MARK, hostile_document

REPO = Path(__file__).resolve().parents[2]
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
NAMESPACE = "urn:casehub:district:v1"
PATH = "/soap/district"
DISTRICT = "420106"
SECONDS = 1.0
PEAK_BYTES = 32 * 1024 * 1024
"""A request is capped at 1 MiB before it is parsed; what parsing a hostile one costs stays far
below this."""
START_SECONDS = 60.0
SECRET_TEXT = "TOP-SECRET-FILE-CONTENT"
ENVELOPE = (
    f'<?xml version="1.0" encoding="utf-8"?>\n<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:d="{NAMESPACE}">'
    f"<soap:Body><d:GetDispatches><d:DistrictCode>{HOSTILE_MARK}</d:DistrictCode></d:GetDispatches>"
    "</soap:Body></soap:Envelope>"
).encode()

PAYLOADS: list[tuple[str, str, str]] = [
    ("billion_laughs", "", "doctype_forbidden"),
    ("quadratic_blowup", "", "doctype_forbidden"),
    ("external_entity", "file", "doctype_forbidden"),
    ("external_entity", "canary", "doctype_forbidden"),
    ("parameter_entity", "canary", "doctype_forbidden"),
    ("external_dtd", "canary", "doctype_forbidden"),
    ("xinclude", "file", "xinclude_forbidden"),
    ("xinclude", "canary", "xinclude_forbidden"),
    ("deep_nesting", "", "body_too_large"),
    ("huge_text", "", "body_too_large"),
    ("utf16_declared_utf8", "", "encoding_mismatch"),
    ("bom_contradicts_declaration", "", "encoding_mismatch"),
    ("invalid_bytes", "", "invalid_encoding"),
    ("unknown_encoding", "", "unsupported_encoding"),
    ("truncated", "", "malformed_xml"),
]
"""(document, what it refers to, the fault's Code): the 14 MB nesting and the 15 MB text are
over the 1 MiB cap, so they are refused unread."""


class _Canary(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]]

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(f'<!ENTITY leak "{SECRET_TEXT}">'.encode())

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture(scope="module")
def canary() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server that records every request reaching it."""
    hits: list[str] = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), type("Canary", (_Canary,), {"hits": hits}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@dataclass
class Gateway:
    url: str
    process: subprocess.Popen[bytes]
    username: str
    password: str

    def _memory(self, field: str) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"no {field} for the gateway")

    def post(self, body: bytes) -> tuple[requests.Response, float, int]:
        """The answer to `body`, the seconds it took and the gateway's peak memory above its own."""
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")
        before = self._memory("VmRSS")
        started = time.perf_counter()
        response = requests.post(
            self.url + PATH, data=body, headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=30
        )
        return response, time.perf_counter() - started, max(self._memory("VmHWM") - before, 0)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """`casehub serve` on a fresh SQLite store with a key ring and one district's SOAP credential."""
    folder = tmp_path_factory.mktemp("gateway")
    url = f"sqlite:///{folder / 'casehub.db'}"
    engine = prepare(create_engine(url))
    migrate(engine)
    keyring = KeyRing.generate()
    issued = credentials.issue(engine, keyring, DISTRICT, kind="soap")
    engine.dispose()
    environment = {
        **os.environ,
        "CASEHUB_DB_URL": url,
        "CASEHUB_KEYRING": keyring.to_json(),
        "CASEHUB_GATEWAY_TOKEN": "hostile-test-token",
    }
    environment.pop("CASEHUB_KEYRING_FILE", None)
    log = folder / "gateway.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "casehub.cli", "serve", "--port", "0"],
            cwd=REPO,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_SECONDS
        while not (found := re.search(rb"running on http://127\.0\.0\.1:(\d+)", log.read_bytes())):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield Gateway(f"http://127.0.0.1:{int(found.group(1))}", process, issued.key_id, issued.secret)
    finally:
        process.terminate()
        process.wait(30)


def _fault_code(response: requests.Response) -> str:
    assert response.status_code == 500, response.text
    root = etree.fromstring(response.content, etree.XMLParser(resolve_entities=False, no_network=True))
    fault = root.find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    assert fault is not None and fault.findtext("faultcode") == "soap:Client", response.text
    return fault.findtext(f"detail/{{{NAMESPACE}}}DistrictFault/{{{NAMESPACE}}}Code") or ""


def _target(kind: str, canary: str, secret_file: Path, document: str) -> str:
    if kind == "file":
        return secret_file.as_uri()
    if kind == "canary":
        return f"{canary}/{document}"
    return ""


def test_each_hostile_request_is_a_fault_at_once_at_a_bounded_cost_and_the_gateway_serves_on(
    gateway: Gateway, canary: tuple[str, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, hits = canary
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET_TEXT, encoding="utf-8")
    cases = [
        (
            f"{document}-{kind}" if kind else document,
            hostile_document(document, ENVELOPE, _target(kind, url, secret_file, document)),
            code,
        )
        for document, kind, code in PAYLOADS
    ]
    nested = ENVELOPE.replace(HOSTILE_MARK.encode(), b"<a>" * 100_000 + b"</a>" * 100_000)
    cases.append(("deep_nesting within the cap", nested, "too_deep"))
    warm, _, _ = gateway.post(ENVELOPE)  # loads what the first SOAP request loads: lxml, the store
    assert b"FailedAuthentication" in warm.content
    rows = []
    for label, body, code in cases:
        response, seconds, peak = gateway.post(body)
        rows.append((label, len(body), seconds, peak))
        assert _fault_code(response) == code, label
        assert SECRET_TEXT not in response.text and len(response.content) < 2000, label
        assert seconds < SECONDS, (label, seconds)
        assert peak < PEAK_BYTES, (label, peak)
    assert hits == []
    assert gateway.process.poll() is None
    client = zeep.Client(
        f"{gateway.url}{PATH}?wsdl",
        wsse=UsernameToken(gateway.username, gateway.password, use_digest=True),
        transport=Transport(operation_timeout=30),
        settings=Settings(forbid_dtd=True, forbid_entities=True, forbid_external=True),
    )
    answer = client.service.GetDispatches(DistrictCode=DISTRICT)
    assert answer is None or list(answer) == []
    with capsys.disabled():
        print("\n/soap/district: each hostile request, answered by `casehub serve` in a process of its own")
        print(f"  {'payload':32} {'bytes':>10} {'seconds':>8} {'peak MiB':>9}")
        for label, size, seconds, peak in rows:
            print(f"  {label:32} {size:10d} {seconds:8.3f} {peak / 2**20:9.1f}")
