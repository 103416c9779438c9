"""The SOAP 1.1 source: a partner's paged query operation through zeep, from a vendored WSDL.

The contract is the WSDL file under `schemas/wsdl/`; it is read from the file, never fetched,
and only the service address comes from the endpoint. Every request is signed with a
WS-Security UsernameToken (PasswordDigest, fresh nonce and Created time per request), and every
exchange is bounded in time and size (`connectors.kit.transport`, through `BoundedTransport`).

A SOAP partner fails in these ways, each mapped onto the error tree here, once for all of them:
- a SOAP Fault: WS-Security faults and `soap:Client` faults are permanent, `soap:Server`
  faults transient; a partner's own detail code (the source's `detail_element`) may say either;
- a bare HTTP error without a SOAP body (5xx, 429 with Retry-After): by status, as every
  connector does (`connectors.kit.transport`);
- HTTP 200 with an HTML maintenance page instead of an envelope: transient;
- no complete answer within the timeout (hung, trickling, refused connections): transient.
Every reply but an HTML page is read by `casehub.safexml` before zeep sees it, bounded in size
first: one that is hostile — a DOCTYPE (entities, external or parameter entities, an external
DTD), an XInclude, an encoding its bytes and its declaration contradict or bytes invalid in it,
nesting over 256 levels, a text node over 10 MB — breaks the contract whatever its HTTP status,
and the error names the defect. zeep's own guards stay on behind it (`forbid_dtd`,
`forbid_entities`, `forbid_external`, `xml_huge_tree` off). A success reply that is not a
well-formed SOAP envelope, breaks the WSDL, is over the size cap, holds more records than asked
for or a total that is not a number breaks the contract too (`ContractError`): asking again
gives the same reply, so it is not retried.

A connector declares the WSDL, the binding, the operation, the elements holding the total and
the records, and how a window and a page are asked for (`request`); records come back as plain
values, strings exactly as received with "" for an element the partner left out, nested
elements as dicts and lists of the same.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlparse

import requests
import zeep
from lxml import etree
from zeep.exceptions import Error as ZeepError
from zeep.exceptions import Fault, TransportError, XMLParseError
from zeep.helpers import serialize_object
from zeep.wsse.username import UsernameToken

from casehub import safexml
from casehub.errors import ContractError, PartnerError, PermanentPartnerError, TransientPartnerError
from casehub.ports import PageRecord, Window
from connectors.kit.retry import RetryPolicy
from connectors.kit.source import Endpoint, PagedSource
from connectors.kit.transport import (
    Reply,
    bounded,
    call_errors,
    exchange,
    is_html_page,
    maintenance_page,
    retry_after_seconds,
    status_error,
)

AUTHENTICATION_FAULTS = frozenset(
    {"FailedAuthentication", "InvalidSecurity", "InvalidSecurityToken", "FailedCheck"}
)
"""WS-Security fault codes (OASIS WSS 1.1 §12): the credentials, not the request, are wrong."""


def plain(value: Any) -> Any:
    """A zeep value as plain JSON-able values: zeep reads an empty element as None, which the
    partners mean as "", and a value of another type (should a WSDL type one) keeps its string
    form; nested elements become dicts and lists."""
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return {str(name): plain(item) for name, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value if isinstance(value, str) else str(value)


CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
"""What a faultcode's local name or a partner's detail code looks like; anything else a partner
put there is not repeated (it could be any text, a resident's phone number among it)."""


def _local_name(code: str | None) -> str:
    """`wsse:FailedAuthentication` → `FailedAuthentication`; prefixes vary between servers."""
    return _code((code or "").rpartition(":")[2]) or "(unreadable faultcode)"


def _code(text: str) -> str | None:
    """`text` as a code, if it is one."""
    return text if CODE.fullmatch(text) else None


class BoundedTransport(zeep.Transport):
    """zeep's transport with every exchange made by `connectors.kit.transport.exchange`: bounded
    in time (`seconds`, the whole reply) and size (`max_bytes`).

    The last reply is kept in `last_reply`, status, headers and body, because zeep drops them
    when it fails: the source judges a reply zeep cannot read by them (a maintenance page, an
    HTTP error, a Retry-After). A reply to a call is vetted by `casehub.safexml` before zeep is
    handed it (`UnsafeXml` if it is refused); an HTML page is left to be judged as one.
    """

    def __init__(self, session: requests.Session, *, seconds: float, max_bytes: int) -> None:
        super().__init__(timeout=seconds, operation_timeout=seconds, session=bounded(session))  # type: ignore[no-untyped-call]
        self.seconds = seconds
        self.max_bytes = max_bytes
        self.last_reply: Reply | None = None

    def post(self, address: str, message: bytes | str, headers: Mapping[str, str]) -> Reply:
        reply = self._exchange("POST", address, data=message, headers=headers)
        if reply.content.strip() and not is_html_page(reply):
            safexml.parse(reply.content)
        return reply

    def get(self, address: str, params: Mapping[str, str], headers: Mapping[str, str]) -> Reply:
        return self._exchange("GET", address, params=params, headers=headers)

    def load(self, url: str) -> bytes:
        """A WSDL or XSD document: a file as zeep reads it, an HTTP one within the same bounds."""
        if urlparse(url).scheme not in ("http", "https"):
            content: bytes = super().load(url)  # type: ignore[no-untyped-call]
            return content
        reply = self._exchange("GET", url)
        if reply.status_code >= 400:
            raise TransportError(status_code=reply.status_code)  # type: ignore[no-untyped-call]
        return reply.content

    def _exchange(self, method: str, url: str, **request: Any) -> Reply:
        self.last_reply = None
        self.last_reply = exchange(
            self.session, method, url, seconds=self.seconds, max_bytes=self.max_bytes, **request
        )
        return self.last_reply


class SoapSource(PagedSource):
    """A paged SOAP query operation as a `casehub.ports.Source`.

    Declare `wsdl`, `binding` and `record_type` (qualified names), `operation`, `total_element`
    (the reply's total count), `list_elements` (the container and item elements of the records)
    and implement
    `request`. `detail_element` names the partner's own error code in a Fault's detail;
    `transient_details` and `authentication_details` say what its codes mean. A handed-in
    session gets the bounded adapters of `connectors.kit.transport` mounted.
    """

    wsdl: ClassVar[Path]
    binding: ClassVar[str]
    record_type: ClassVar[str]
    total_element: ClassVar[str]
    list_elements: ClassVar[tuple[str, str]]
    detail_element: ClassVar[str | None] = None
    transient_details: ClassVar[frozenset[str]] = frozenset()
    authentication_details: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        wsdl: Path | None = None,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(endpoint, retry=retry)
        self._owns_session = session is None
        self._transport = BoundedTransport(
            session or requests.Session(), seconds=endpoint.timeout, max_bytes=endpoint.max_reply_bytes
        )
        settings = zeep.Settings(
            strict=True,
            forbid_dtd=True,
            forbid_entities=True,
            forbid_external=True,
            xml_huge_tree=False,
        )
        self._client = zeep.Client(  # type: ignore[no-untyped-call]
            str(wsdl or self.wsdl),
            transport=self._transport,
            settings=settings,
            wsse=UsernameToken(endpoint.login, endpoint.secret, use_digest=True),  # type: ignore[no-untyped-call]
        )
        self._service = self._client.create_service(self.binding, endpoint.url)  # type: ignore[no-untyped-call]
        kind = self._client.get_type(self.record_type)  # type: ignore[no-untyped-call]
        self._elements = [name for name, _ in kind.elements]

    @abstractmethod
    def request(self, window: Window, page: int, size: int) -> dict[str, Any]:
        """The operation's parameters for one page of the window, in the partner's own terms."""

    def close(self) -> None:
        """Release the HTTP connections, unless the session was handed in."""
        if self._owns_session:
            self._transport.session.close()

    def fetch(self, window: Window, page: int, size: int, request_id: str) -> tuple[list[PageRecord], int]:
        reply = self.call(self.operation, request_id, **self.request(window, page, size))
        total = getattr(reply, self.total_element, None)
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise ContractError(
                f"{self.total_element} (total) is not a whole number",
                partner=self.channel,
                operation=self.operation,
                status=self._status(),
                request_id=request_id,
            )
        container, item = self.list_elements
        listing = getattr(reply, container, None)
        records = list(getattr(listing, item, None) or [])
        return [self.record(each) for each in records], total

    def record(self, value: Any) -> PageRecord:
        """One record as plain values, every element of the record type present; one zeep could
        read nothing from (an empty element, text instead of elements) has every element "", and
        is quarantined for its missing id."""
        found = plain(serialize_object(value, dict))  # type: ignore[no-untyped-call]
        record: dict[str, Any] = dict.fromkeys(self._elements, "")
        if isinstance(found, dict):
            record.update((name, found[name]) for name in self._elements if name in found)
        return record

    def call(self, operation: str, request_id: str, **parameters: Any) -> Any:
        """One attempt at `operation`, its failures mapped onto the error tree."""
        with (
            self._client.settings(extra_http_headers={"X-Request-ID": request_id}),
            call_errors(partner=self.channel, operation=operation, request_id=request_id),
        ):
            try:
                return self._service[operation](**parameters)
            except Fault as fault:
                raise self._fault_error(fault, operation, request_id) from None
            except safexml.UnsafeXml as refused:
                if not refused.hostile:
                    raise self._reply_error(refused, operation, request_id) from None
                raise ContractError(
                    f"reply breaks the contract: {refused.message}",
                    partner=self.channel,
                    operation=operation,
                    status=self._status(),
                    request_id=request_id,
                ) from None
            except (ZeepError, ValueError) as error:
                raise self._reply_error(error, operation, request_id) from None

    def _status(self) -> int | None:
        reply = self._transport.last_reply
        return reply.status_code if reply is not None else None

    def _reply_error(self, error: Exception, operation: str, request_id: str) -> PartnerError:
        """A reply zeep could not read as the WSDL's answer, judged by the reply itself.

        An HTTP error status decides first, as for every connector. With a success status, an
        HTML page is a maintenance page (served as HTTP 200), which goes away by itself:
        transient. Anything else — XML that is not well-formed, a DTD or entities, an envelope
        the WSDL does not describe — breaks the contract, and asking again returns it.
        """
        partner = self.channel
        reply = self._transport.last_reply
        if reply is None:
            return PermanentPartnerError(
                f"request could not be made ({type(error).__name__})",
                partner=partner,
                operation=operation,
                request_id=request_id,
            )
        failure = status_error(reply, partner=partner, operation=operation, request_id=request_id)
        if failure is not None:
            return failure
        page = maintenance_page(
            reply, expected="a SOAP envelope", partner=partner, operation=operation, request_id=request_id
        )
        if page is not None:
            return page
        return ContractError(
            f"reply breaks the contract: {_defect(error)}",
            partner=partner,
            operation=operation,
            status=reply.status_code,
            request_id=request_id,
        )

    def _fault_error(self, fault: Fault, operation: str, request_id: str) -> PartnerError:
        """A SOAP Fault by its faultcode and the partner's detail code, never by its text."""
        code = _local_name(fault.code)
        detail = self._detail_code(fault)
        message = f"SOAP Fault {code}" + (f" ({detail})" if detail else "")
        if code.startswith("Server") or detail in self.transient_details:
            reply = self._transport.last_reply
            retry_after = retry_after_seconds(reply.headers.get("Retry-After")) if reply is not None else None
            return TransientPartnerError(
                message,
                partner=self.channel,
                operation=operation,
                status=self._status(),
                request_id=request_id,
                retry_after=retry_after,
            )
        refused = code in AUTHENTICATION_FAULTS or detail in self.authentication_details
        return PermanentPartnerError(
            f"{'credentials' if refused else 'request'} refused: {message}",
            partner=self.channel,
            operation=operation,
            status=self._status(),
            request_id=request_id,
        )

    def _detail_code(self, fault: Fault) -> str | None:
        """The partner's own reason for the fault, from the element `detail_element` of its detail."""
        if not isinstance(fault.detail, etree._Element) or self.detail_element is None:
            return None  # zeep hands a reply without a Fault element on as bytes
        for element in fault.detail.iter():
            if isinstance(element.tag, str) and element.tag.rpartition("}")[2] == self.detail_element:
                return _code(str(element.text or "").strip())
        return None


def _defect(error: Exception) -> str:
    """What is wrong with a reply, in words that never quote it."""
    if isinstance(error, safexml.UnsafeXml):
        return error.message
    if isinstance(error, XMLParseError):
        return "its elements do not match the WSDL"
    return "it is not a well-formed SOAP envelope"
