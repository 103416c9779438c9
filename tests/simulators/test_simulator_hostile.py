"""The SOAP simulators turned hostile: `hostile_xml` answers with the document asked for, built
around the partner's real page, and refuses to arm with a document it does not have or without
the target a document refers to."""

from __future__ import annotations

import pytest
import requests

from simulators import testing


def _answer(hotline: testing.RunningSimulator, http: requests.Session) -> requests.Response:
    return http.post(hotline.url + "/ws/workorder", data=b"", timeout=10)


@pytest.mark.parametrize(
    ("document", "target", "sign"),
    [
        ("billion_laughs", None, b"&lol9;"),
        ("quadratic_blowup", None, b"&a;" * 1000),
        ("external_entity", "file:///etc/hostname", b'SYSTEM "file:///etc/hostname"'),
        ("parameter_entity", "http://127.0.0.1:9/dtd", b"%remote;"),
        (
            "external_dtd",
            "http://127.0.0.1:9/dtd",
            b'<!DOCTYPE soap:Envelope SYSTEM "http://127.0.0.1:9/dtd">',
        ),
        ("xinclude", "file:///etc/hostname", b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude"'),
        ("deep_nesting", None, b"<a>" * 2_000_000),
        ("huge_text", None, b"x" * 15_000_000),
        ("utf16_declared_utf8", None, '<?xml version="1.0" encoding="utf-8"?>'.encode("utf-16-le")),
        ("bom_contradicts_declaration", None, b'\xef\xbb\xbf<?xml version="1.0" encoding="utf-16"?>'),
        ("invalid_bytes", None, b"\xc3\x28\xa0\xa1\xff\xfe"),
        ("unknown_encoding", None, b'encoding="x-no-such-encoding"'),
    ],
)
def test_each_hostile_document_is_served_around_a_work_order_page(
    hotline: testing.RunningSimulator, http: requests.Session, document: str, target: str | None, sign: bytes
) -> None:
    plan = hotline.faults("hostile_xml", document=document, target=target)
    assert (plan["document"], plan["target"]) == (document, target or "")
    answer = _answer(hotline, http)
    assert answer.status_code == 200
    assert sign in answer.content
    assert "GDBH".encode("utf-16-le" if document == "utf16_declared_utf8" else "utf-8") in answer.content


def test_a_truncated_answer_is_half_a_page(hotline: testing.RunningSimulator, http: requests.Session) -> None:
    hotline.faults("hostile_xml", document="truncated")
    answer = _answer(hotline, http).content
    assert answer.startswith(b"<?xml") and not answer.rstrip().endswith(b"Envelope>")


def test_an_unknown_document_or_a_missing_target_is_refused(
    hotline: testing.RunningSimulator, http: requests.Session
) -> None:
    for body in (
        {"mode": "hostile_xml", "document": "nonsense"},
        {"mode": "hostile_xml", "document": "external_entity"},
    ):
        refused = http.post(hotline.url + "/_admin/faults", json=body, timeout=5)
        assert refused.status_code == 422
    assert hotline.armed()["mode"] == "none"


def test_urban_management_turns_hostile_too(http: requests.Session) -> None:
    with testing.start("urban_mgmt", records=5) as urban:
        urban.faults("hostile_xml", document="xinclude", target="file:///etc/hostname")
        answer = http.post(urban.url + "/ws/casefile", data=b"", timeout=10)
        assert answer.status_code == 200
        assert b"XInclude" in answer.content and b"CG250101000001" in answer.content
