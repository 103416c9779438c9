"""The SOAP clients under any reply: a loopback server answers the hotline's and urban
management's queries with arbitrary bytes, or with envelopes that are well-formed but wrong
(the operation's response element holding any elements, text and nesting, a Fault with any
detail), under HTTP 200 or 500.

Whatever comes back, a pull yields pages of records or raises one of the connector error tree's
partner errors (`ContractError`, `PermanentPartnerError`, `TransientPartnerError`), and nothing
else; an answer's text is never quoted in the error. Runs are derandomized, so CI sees the same
examples each time.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from casehub.errors import PartnerError
from connectors.hotline.client import NAMESPACE as HOTLINE_NS
from connectors.hotline.client import HotlineSource
from connectors.kit import Endpoint, RetryPolicy
from connectors.urban_mgmt.client import NAMESPACE as URBAN_NS
from connectors.urban_mgmt.client import UrbanMgmtSource
from tests.hostile_worker import WINDOW

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
MARKER = "泄露标记"
SETTINGS = settings(
    max_examples=120, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
SHAPES = {
    "hotline": (
        HOTLINE_NS,
        "QueryWorkOrdersResponse",
        ["ZS", "YM", "MYTS", "GDLB", "GD", "GDBH", "BT", "GXSJ"],
    ),
    "urban_mgmt": (
        URBAN_NS,
        "QueryCaseFilesResponse",
        ["Total", "PageNo", "PageSize", "CaseFiles", "CaseFile", "CaseNo", "Progress", "Step", "UpdateTime"],
    ),
}


class _Replying(http.server.BaseHTTPRequestHandler):
    """Answers every POST with the reply the test set last."""

    reply: ClassVar[list[tuple[int, str, bytes]]]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, media_type, body = self.reply[0]
        self.send_response(status)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture(scope="module")
def partner() -> Iterator[tuple[str, list[tuple[int, str, bytes]]]]:
    reply: list[tuple[int, str, bytes]] = [(200, "text/xml", b"")]
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), type("Replying", (_Replying,), {"reply": reply})
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", reply
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture(scope="module")
def sources(
    partner: tuple[str, list[tuple[int, str, bytes]]],
) -> Iterator[dict[str, HotlineSource | UrbanMgmtSource]]:
    url, _ = partner
    built = {
        "hotline": HotlineSource(
            Endpoint(url=url, login="casehub", secret="s", timeout=5.0, page_size=20),
            retry=RetryPolicy(attempts=1),
        ),
        "urban_mgmt": UrbanMgmtSource(
            Endpoint(url=url, login="casehub", secret="s", timeout=5.0, page_size=20),
            retry=RetryPolicy(attempts=1),
        ),
    }
    yield built
    for source in built.values():
        source.close()


texts = (
    st.none()
    | st.sampled_from(["", "0", "1", "20", "-3", "x", "2025-03-05 10:00:00", MARKER])
    | st.text(max_size=10)
)


def _clean(text: str) -> str:
    return "".join(ch for ch in text if ch.isprintable() and not 0xD800 <= ord(ch) <= 0xDFFF)


@st.composite
def elements(draw: st.DrawFn, namespace: str, names: list[str], depth: int = 0) -> etree._Element:
    qualified = draw(st.booleans())
    name = draw(st.sampled_from(names))
    node = etree.Element(f"{{{namespace}}}{name}" if qualified else name)
    text = draw(texts)
    if text is not None:
        node.text = _clean(text)
    if depth < 4:
        for child in draw(st.lists(elements(namespace, names, depth + 1), max_size=3)):
            node.append(child)
    return node


@st.composite
def replies(draw: st.DrawFn, channel: str) -> tuple[int, str, bytes]:
    """A reply in the shape of the channel's answer, or a Fault, wrong anywhere inside."""
    namespace, response, names = SHAPES[channel]
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope")
    body = etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body")
    if draw(st.booleans()):
        content = etree.SubElement(body, f"{{{namespace}}}{response}")
        for child in draw(st.lists(elements(namespace, names), max_size=4)):
            content.append(child)
    else:
        fault = etree.SubElement(body, f"{{{SOAP_ENV}}}Fault")
        for name in draw(st.lists(st.sampled_from(["faultcode", "faultstring", "detail"]), max_size=3)):
            part = etree.SubElement(fault, name)
            part.text = _clean(
                draw(
                    st.sampled_from(
                        ["soap:Server", "soap:Client", "wsse:FailedAuthentication", "x:", "", MARKER]
                    )
                )
            )
            if name == "detail":
                part.append(draw(elements(namespace, ["ServiceFault", "CWDM", "ErrorCode", "x"])))
    status = draw(st.sampled_from([200, 500]))
    return status, "text/xml; charset=utf-8", bytes(etree.tostring(envelope, encoding="utf-8"))


def _pull(source: HotlineSource | UrbanMgmtSource) -> None:
    """Pull the window: pages of records, or a partner error that quotes nothing of the reply."""
    failure = None
    try:
        for page in source.pages(WINDOW):
            assert all(isinstance(record, dict) for record in page)
    except PartnerError as error:
        failure = str(error)
    assert failure is None or MARKER not in failure


@pytest.mark.parametrize("channel", sorted(SHAPES))
@SETTINGS
@given(data=st.data())
def test_any_bytes_as_a_reply_are_records_or_a_partner_error(
    partner: tuple[str, list[tuple[int, str, bytes]]],
    sources: dict[str, HotlineSource | UrbanMgmtSource],
    channel: str,
    data: st.DataObject,
) -> None:
    _, reply = partner
    status = data.draw(st.sampled_from([200, 500]))
    media_type = data.draw(
        st.sampled_from(["text/xml; charset=utf-8", "text/html", "application/octet-stream"])
    )
    reply[0] = (status, media_type, data.draw(st.binary(max_size=400)))
    _pull(sources[channel])


@pytest.mark.parametrize("channel", sorted(SHAPES))
@SETTINGS
@given(data=st.data())
def test_any_wrong_envelope_as_a_reply_is_records_or_a_partner_error(
    partner: tuple[str, list[tuple[int, str, bytes]]],
    sources: dict[str, HotlineSource | UrbanMgmtSource],
    channel: str,
    data: st.DataObject,
) -> None:
    _, reply = partner
    reply[0] = data.draw(replies(channel))
    _pull(sources[channel])
