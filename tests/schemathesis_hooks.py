"""Schemathesis hooks for the gateway's run (`tests/integration/test_gateway_schemathesis.py`).

The SOAP 1.1 HTTP binding answers every fault with HTTP 500 (§6.2; WS-I Basic Profile R1126),
so for `/soap/district` a 500 is the protocol's refusal, not a crash: the run expects it there
and this check holds it to what it must be instead — a SOAP Fault the caller has to fix, never
the hub's own `soap:Server` failure.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from lxml import etree

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP_PATH = "/soap/district"
CALLERS_FAULTS = frozenset(
    {"soap:Client", "soap:VersionMismatch", "soap:MustUnderstand", "wsse:FailedAuthentication"}
)


@schemathesis.check
def soap_fault_is_the_callers(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 500 from the SOAP endpoint is a well-formed SOAP Fault with a caller's faultcode."""
    if case.operation.path != SOAP_PATH or response.status_code != 500:
        return None
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(response.content, parser)
    fault = root.find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    assert fault is not None, "a 500 that is not a SOAP Fault"
    code = fault.findtext("faultcode")
    assert code in CALLERS_FAULTS, f"the hub's own failure: {code}"
    return True
