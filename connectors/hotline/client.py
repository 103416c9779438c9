"""Pull work orders from the mayor hotline 12345 (市长专线) over SOAP 1.1.

The contract is the vendored WSDL `schemas/wsdl/hotline.wsdl`; it is read from the file, never
fetched, and only the service address comes from the endpoint. Every request is signed with a
WS-Security UsernameToken (PasswordDigest, fresh nonce and Created time per request).

The hotline fails in four ways, each mapped onto the error tree:
- a SOAP Fault: `wsse:FailedAuthentication` and `soap:Client` faults are permanent,
  `soap:Server` faults (and the detail code `ServiceUnavailable`) transient;
- a bare HTTP error without a SOAP body (5xx, 429 with Retry-After): by status, as every
  connector does (`connectors.base`);
- HTTP 200 with a maintenance page instead of an envelope: transient;
- no answer at all (timeouts, refused connections): transient.
An envelope that breaks the WSDL is permanent: asking again gives the same envelope.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
import zeep
from zeep.exceptions import Error as ZeepError
from zeep.exceptions import Fault, TransportError, XMLSyntaxError
from zeep.wsse.username import UsernameToken

from casehub.errors import PartnerError, PermanentPartnerError, TransientPartnerError
from casehub.normalize import SHANGHAI
from casehub.paths import SCHEMAS_DIR
from casehub.ports import RawRecord, Window
from connectors.base import (
    ClosingSource,
    Endpoint,
    Paginator,
    RetryPolicy,
    connection_error,
    retry_after_seconds,
    status_error,
    with_retries,
)

PARTNER = "hotline"
WSDL = SCHEMAS_DIR / "wsdl" / "hotline.wsdl"
NAMESPACE = "urn:wuhan:12345:workorder:v1"
BINDING = f"{{{NAMESPACE}}}WorkOrderBinding"
WORK_ORDER = f"{{{NAMESPACE}}}WorkOrder"
LOCAL_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_PAGE_SIZE = 500
"""MYTS is limited to 1–500 by the contract."""

AUTHENTICATION_FAULTS = frozenset(
    {"FailedAuthentication", "InvalidSecurity", "InvalidSecurityToken", "FailedCheck"}
)
"""WS-Security fault codes (OASIS WSS 1.1 §12): the credentials, not the request, are wrong."""


def _sortable(local_time: str) -> int:
    """GXSJ as a number that orders like the time (yyyyMMddHHmmss), for spotting moved records."""
    digits = "".join(ch for ch in local_time if ch.isdigit())
    return int(digits) if digits else 0


def _local_time(moment: datetime) -> str:
    """A window bound as the hotline writes times: Asia/Shanghai local time, no offset."""
    return moment.astimezone(SHANGHAI).strftime(LOCAL_TIME_FORMAT)


def _local_name(code: str | None) -> str:
    """`wsse:FailedAuthentication` → `FailedAuthentication`; prefixes vary between servers."""
    return (code or "").rpartition(":")[2]


class HotlineSource(ClosingSource):
    """The hotline's QueryWorkOrders, page by page, as a `casehub.ports.Source`.

    Records come back as plain dicts of the `GD` elements, strings exactly as received, with
    "" for an element the hotline left out; `HotlineMapper` makes sense of them.
    """

    channel = PARTNER

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        wsdl: Path = WSDL,
        transport: zeep.Transport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._retry = retry or RetryPolicy()
        self._owns_transport = transport is None
        self._transport = transport or zeep.Transport(  # type: ignore[no-untyped-call]
            timeout=endpoint.timeout,
            operation_timeout=endpoint.timeout,
            session=requests.Session(),
        )
        self._last_response: requests.Response | None = None
        self._transport.session.hooks["response"].append(self._remember)
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
        """Release the HTTP connections, unless the transport was handed in."""
        self._transport.session.hooks["response"].remove(self._remember)
        if self._owns_transport:
            self._transport.session.close()

    def pages(self, window: Window) -> Iterator[list[RawRecord]]:
        """Work orders whose GXSJ lies in the window, one partner page at a time."""
        start, end = _local_time(window.start), _local_time(window.end)
        paginator = Paginator(min(self._endpoint.page_size, MAX_PAGE_SIZE))
        while not paginator.done:
            reply = self._call(
                "QueryWorkOrders", KSSJ=start, JSSJ=end, YM=paginator.page, MYTS=paginator.page_size
            )
            orders = reply.GDLB.GD if reply.GDLB is not None else []
            records = [self._record(order) for order in orders]
            paginator.advance(len(records), reply.ZS, [(r["GDBH"], _sortable(r["GXSJ"])) for r in records])
            if records:
                yield records

    def _record(self, order: Any) -> RawRecord:
        return {name: getattr(order, name, None) or "" for name in self._elements}

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Keep the last HTTP response: zeep drops its headers (Retry-After) when it fails."""
        self._last_response = response

    def _call(self, operation: str, **parameters: Any) -> Any:
        def attempt(request_id: str) -> Any:
            self._last_response = None
            with self._client.settings(extra_http_headers={"X-Request-ID": request_id}):
                try:
                    return self._service[operation](**parameters)
                except Fault as fault:
                    raise self._fault_error(fault, operation, request_id) from None
                except (TransportError, XMLSyntaxError):
                    raise self._http_error(operation, request_id) from None
                except requests.RequestException as error:
                    raise connection_error(
                        error, partner=PARTNER, operation=operation, request_id=request_id
                    ) from error
                except ZeepError as error:
                    raise PermanentPartnerError(
                        f"reply breaks the contract ({type(error).__name__})",
                        partner=PARTNER,
                        operation=operation,
                        status=self._status(),
                        request_id=request_id,
                    ) from None

        return with_retries(attempt, self._retry)

    def _status(self) -> int | None:
        return self._last_response.status_code if self._last_response is not None else None

    def _http_error(self, operation: str, request_id: str) -> PartnerError:
        """A reply without a SOAP envelope: judged by its HTTP status.

        With a success status it is the hotline's maintenance page (an HTML body served as
        HTTP 200), which goes away by itself, so it is transient too.
        """
        error = None
        if self._last_response is not None:
            error = status_error(
                self._last_response, partner=PARTNER, operation=operation, request_id=request_id
            )
        return error or TransientPartnerError(
            "reply is not a SOAP envelope",
            partner=PARTNER,
            operation=operation,
            status=self._status(),
            request_id=request_id,
        )

    def _fault_error(self, fault: Fault, operation: str, request_id: str) -> PartnerError:
        """A SOAP Fault by its faultcode and detail code (CWDM), never by its text."""
        code = _local_name(fault.code)
        detail = self._detail_code(fault)
        message = f"SOAP Fault {code}" + (f" ({detail})" if detail else "")
        if code.startswith("Server") or detail == "ServiceUnavailable":
            http = self._last_response
            retry_after = retry_after_seconds(http.headers.get("Retry-After")) if http is not None else None
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
