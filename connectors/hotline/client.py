"""Pull work orders from the mayor hotline 12345 (市长专线) over SOAP 1.1.

The contract is the vendored WSDL `schemas/wsdl/hotline.wsdl`; it is read from the file, never
fetched, and only the service address comes from the endpoint. Every request is signed with a
WS-Security UsernameToken (PasswordDigest, fresh nonce and Created time per request), and every
exchange is bounded in time and size (`connectors.transport`, through `BoundedTransport`).

The hotline fails in these ways, each mapped onto the error tree:
- a SOAP Fault: `wsse:FailedAuthentication` and `soap:Client` faults are permanent,
  `soap:Server` faults (and the detail code `ServiceUnavailable`) transient;
- a bare HTTP error without a SOAP body (5xx, 429 with Retry-After): by status, as every
  connector does (`connectors.transport`);
- HTTP 200 with an HTML maintenance page instead of an envelope: transient;
- no complete answer within the timeout (hung, trickling, refused connections): transient.
A success reply that is not a well-formed SOAP envelope, carries a DTD or entities (refused by
zeep's `forbid_dtd`/`forbid_entities`), breaks the WSDL, is over the size cap, holds more work
orders than asked for or a total (ZS) that is not a number breaks the contract
(`ContractError`): asking again gives the same reply, so it is not retried.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests
import zeep
from zeep.exceptions import DTDForbidden, EntitiesForbidden, Fault, TransportError, XMLParseError
from zeep.exceptions import Error as ZeepError
from zeep.wsse.username import UsernameToken

from casehub.errors import ContractError, PartnerError, PermanentPartnerError, TransientPartnerError
from casehub.normalize import SHANGHAI
from casehub.paths import SCHEMAS_DIR
from casehub.ports import PageRecord, RawRecord, Window
from connectors.base import ClosingSource, Endpoint, Paginator, RetryPolicy, with_retries
from connectors.transport import (
    Reply,
    bounded,
    call_errors,
    exchange,
    maintenance_page,
    retry_after_seconds,
    status_error,
)

PARTNER = "hotline"
WSDL = SCHEMAS_DIR / "wsdl" / "hotline.wsdl"
NAMESPACE = "urn:wuhan:12345:workorder:v1"
BINDING = f"{{{NAMESPACE}}}WorkOrderBinding"
WORK_ORDER = f"{{{NAMESPACE}}}WorkOrder"
LOCAL_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_PAGE_SIZE = 500
"""MYTS is limited to 1–500 by the contract."""
PROLOG_BYTES = 4096
"""How far into a reply a DTD is looked for, to name it as the defect."""

AUTHENTICATION_FAULTS = frozenset(
    {"FailedAuthentication", "InvalidSecurity", "InvalidSecurityToken", "FailedCheck"}
)
"""WS-Security fault codes (OASIS WSS 1.1 §12): the credentials, not the request, are wrong."""


def _sortable(local_time: str) -> int | None:
    """GXSJ as a number that orders like the time (yyyyMMddHHmmss), for spotting moved records;
    None when it is not a time of that shape."""
    digits = "".join(ch for ch in local_time if ch in "0123456789")
    return int(digits) if len(digits) == len("yyyyMMddHHmmss") else None


def _text(value: object) -> str:
    """An element's value as a string: zeep reads an empty element as None, the hotline's "",
    and any value of another type (should the WSDL ever type one) keeps its string form."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _local_time(moment: datetime) -> str:
    """A window bound as the hotline writes times: Asia/Shanghai local time, no offset."""
    return moment.astimezone(SHANGHAI).strftime(LOCAL_TIME_FORMAT)


def _local_name(code: str | None) -> str:
    """`wsse:FailedAuthentication` → `FailedAuthentication`; prefixes vary between servers."""
    return (code or "").rpartition(":")[2]


class BoundedTransport(zeep.Transport):
    """zeep's transport with every exchange made by `connectors.transport.exchange`: bounded in
    time (`seconds`, the whole reply) and size (`max_bytes`).

    The last reply is kept in `last_reply`, status, headers and body, because zeep drops them
    when it fails: the source judges a reply zeep cannot read by them (a maintenance page, an
    HTTP error, a Retry-After).
    """

    def __init__(self, session: requests.Session, *, seconds: float, max_bytes: int) -> None:
        super().__init__(timeout=seconds, operation_timeout=seconds, session=bounded(session))  # type: ignore[no-untyped-call]
        self.seconds = seconds
        self.max_bytes = max_bytes
        self.last_reply: Reply | None = None

    def post(self, address: str, message: bytes | str, headers: Mapping[str, str]) -> Reply:
        return self._exchange("POST", address, data=message, headers=headers)

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


class HotlineSource(ClosingSource):
    """The hotline's QueryWorkOrders, page by page, as a `casehub.ports.Source`.

    Records come back as plain dicts of the `GD` elements, strings exactly as received, with
    "" for an element the hotline left out; `HotlineMapper` makes sense of them. A handed-in
    session gets the bounded adapters of `connectors.transport` mounted.
    """

    channel = PARTNER

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        wsdl: Path = WSDL,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._retry = retry or RetryPolicy()
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
            str(wsdl),
            transport=self._transport,
            settings=settings,
            wsse=UsernameToken(endpoint.login, endpoint.secret, use_digest=True),  # type: ignore[no-untyped-call]
        )
        self._service = self._client.create_service(BINDING, endpoint.url)  # type: ignore[no-untyped-call]
        work_order = self._client.get_type(WORK_ORDER)  # type: ignore[no-untyped-call]
        self._elements = [name for name, _ in work_order.elements]

    def close(self) -> None:
        """Release the HTTP connections, unless the session was handed in."""
        if self._owns_session:
            self._transport.session.close()

    def pages(self, window: Window) -> Iterator[list[PageRecord]]:
        """Work orders whose GXSJ lies in the window, one partner page at a time."""
        start, end = _local_time(window.start), _local_time(window.end)
        paginator = Paginator(min(self._endpoint.page_size, MAX_PAGE_SIZE))
        while not paginator.done:
            records, total = self._page(start, end, paginator.page, paginator.page_size)
            paginator.advance(len(records), total, _versions(records))
            if records:
                yield list(records)

    def _page(self, start: str, end: str, page: int, size: int) -> tuple[list[RawRecord], int]:
        """One page of QueryWorkOrders and its total (ZS), checked against the contract."""
        operation = "QueryWorkOrders"

        def attempt(request_id: str) -> tuple[list[RawRecord], int]:
            reply = self._attempt(operation, request_id, KSSJ=start, JSSJ=end, YM=page, MYTS=size)

            def broken(message: str) -> ContractError:
                status = self._status()
                return ContractError(
                    message, partner=PARTNER, operation=operation, status=status, request_id=request_id
                )

            total = getattr(reply, "ZS", None)
            if isinstance(total, bool) or not isinstance(total, int) or total < 0:
                raise broken("ZS (total) is not a whole number")
            listing = getattr(reply, "GDLB", None)
            orders = list(getattr(listing, "GD", None) or [])
            if len(orders) > size:
                raise broken(f"page holds {len(orders)} work orders, more than the {size} asked for")
            return [self._record(order) for order in orders], total

        return with_retries(attempt, self._retry)

    def _record(self, order: Any) -> RawRecord:
        """A GD as a dict of strings; a GD zeep could read nothing from (an empty `<GD/>`, text
        instead of elements) has every element "", and is quarantined for its missing id."""
        return {name: _text(getattr(order, name, None)) for name in self._elements}

    def _attempt(self, operation: str, request_id: str, **parameters: Any) -> Any:
        with (
            self._client.settings(extra_http_headers={"X-Request-ID": request_id}),
            call_errors(partner=PARTNER, operation=operation, request_id=request_id),
        ):
            try:
                return self._service[operation](**parameters)
            except Fault as fault:
                raise self._fault_error(fault, operation, request_id) from None
            except (ZeepError, ValueError) as error:
                raise self._reply_error(error, operation, request_id) from None

    def _status(self) -> int | None:
        reply = self._transport.last_reply
        return reply.status_code if reply is not None else None

    def _reply_error(self, error: Exception, operation: str, request_id: str) -> PartnerError:
        """A reply zeep could not read as the WSDL's answer, judged by the reply itself.

        An HTTP error status decides first, as for every connector. With a success status, an
        HTML page is the hotline's maintenance page (served as HTTP 200), which goes away by
        itself: transient. Anything else — XML that is not well-formed, a DTD or entities, an
        envelope the WSDL does not describe — breaks the contract, and asking again returns it.
        """
        reply = self._transport.last_reply
        if reply is None:
            return PermanentPartnerError(
                f"request could not be made ({type(error).__name__})",
                partner=PARTNER,
                operation=operation,
                request_id=request_id,
            )
        failure = status_error(reply, partner=PARTNER, operation=operation, request_id=request_id)
        if failure is not None:
            return failure
        page = maintenance_page(
            reply, expected="a SOAP envelope", partner=PARTNER, operation=operation, request_id=request_id
        )
        if page is not None:
            return page
        return ContractError(
            f"reply breaks the contract: {_defect(error, reply)}",
            partner=PARTNER,
            operation=operation,
            status=reply.status_code,
            request_id=request_id,
        )

    def _fault_error(self, fault: Fault, operation: str, request_id: str) -> PartnerError:
        """A SOAP Fault by its faultcode and detail code (CWDM), never by its text."""
        code = _local_name(fault.code)
        detail = self._detail_code(fault)
        message = f"SOAP Fault {code}" + (f" ({detail})" if detail else "")
        if code.startswith("Server") or detail == "ServiceUnavailable":
            reply = self._transport.last_reply
            retry_after = retry_after_seconds(reply.headers.get("Retry-After")) if reply is not None else None
            return TransientPartnerError(
                message,
                partner=PARTNER,
                operation=operation,
                status=self._status(),
                request_id=request_id,
                retry_after=retry_after,
            )
        refused = code in AUTHENTICATION_FAULTS or detail == "FailedAuthentication"
        return PermanentPartnerError(
            f"{'credentials' if refused else 'request'} refused: {message}",
            partner=PARTNER,
            operation=operation,
            status=self._status(),
            request_id=request_id,
        )

    @staticmethod
    def _detail_code(fault: Fault) -> str | None:
        """CWDM 错误代码 from the fault detail, the hotline's own reason for the fault."""
        if fault.detail is None:
            return None
        for element in fault.detail.iter():
            if isinstance(element.tag, str) and element.tag.rpartition("}")[2] == "CWDM":
                return str(element.text or "").strip() or None
        return None


def _defect(error: Exception, reply: Reply) -> str:
    """What is wrong with a reply, in words that never quote it.

    A DTD can only stand in the prolog, before the root element; libxml2 refuses one whose
    entities expand too far before zeep sees it, as XML that is not well-formed.
    """
    if isinstance(error, DTDForbidden) or b"<!DOCTYPE" in reply.content[:PROLOG_BYTES]:
        return "it carries a DTD"
    if isinstance(error, EntitiesForbidden):
        return "it declares entities"
    if isinstance(error, XMLParseError):
        return "its elements do not match the WSDL"
    return "it is not a well-formed SOAP envelope"


def _versions(records: list[RawRecord]) -> list[tuple[str, int]]:
    """(GDBH, GXSJ as a number) of the records that carry both, for the paginator."""
    found = []
    for record in records:
        updated = _sortable(record["GXSJ"])
        if record["GDBH"] and updated is not None:
            found.append((record["GDBH"], updated))
    return found
