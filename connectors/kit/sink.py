"""The outbound half of the kit: a signed batch `POST` to a recipient, as a `casehub.ports.Sink`.

Mirrors the sources: a partner's sink declares its `path` and how a batch is framed (`frame`:
the body and its content headers — NDJSON in gzip, a JSON document); the base owns signing,
the bounded exchange (`connectors.kit.transport`), the meaning of HTTP failures, the retries
(`connectors.kit.retry`: Retry-After obeyed, back-off with jitter) and reading the receipt.

Every request carries, besides the body:

    X-App-Key       the hub's key id at the partner (the connection's login)
    X-Batch-Id      the batch's idempotency key: the partner applies a batch id once
    X-Record-Count  how many records the body holds
    X-Timestamp     Unix seconds when this attempt was signed
    X-Signature     sha256=<hex HMAC-SHA256 over "<batch id>.<timestamp>." + the body as sent>
    X-Request-ID    one id for all attempts of the delivery

Each attempt is signed afresh, so a retry after a long Retry-After is not refused as stale.
A receipt is `{"batchId", "accepted", "duplicate", "receiptId"}`; one for another batch, or one
that cannot be read, breaks the contract.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import requests

from casehub.errors import ContractError
from casehub.ports import OutboundBatch, Receipt
from connectors.kit.retry import RetryPolicy, with_retries
from connectors.kit.source import Closing
from connectors.kit.transport import Reply, bounded, call_errors, exchange, maintenance_page, status_error

MAX_RECEIPT_BYTES = 64 * 1024
"""A receipt is a few hundred bytes; anything near this is not one."""


@dataclass(frozen=True, kw_only=True)
class Destination:
    """Where a recipient takes batches and the hub's key there; `secret` signs every batch.

    `timeout` bounds one upload in seconds (connecting, sending, the whole receipt).
    """

    url: str
    login: str
    secret: str = field(repr=False)
    timeout: float = 30.0
    max_reply_bytes: int = MAX_RECEIPT_BYTES

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError("destination timeout must be positive")
        if not self.secret:
            raise ValueError("destination has no signing secret")


def signature(secret: str, batch_id: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 under `secret` over "<batch id>.<timestamp>." and the body."""
    mac = hmac.new(secret.encode(), f"{batch_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class SignedBatchSink(Closing):
    """A recipient's batch upload. Declare `partner`, `path`, and implement `frame`."""

    partner: ClassVar[str]
    path: ClassVar[str]

    def __init__(
        self,
        destination: Destination,
        *,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.destination = destination
        self.retry = retry or RetryPolicy()
        self._owns_session = session is None
        self._session = bounded(session or requests.Session())
        self._clock = clock
        self._sleep = sleep

    @property
    def recipient(self) -> str:
        return self.partner

    @property
    def operation(self) -> str:
        return f"POST {self.path}"

    @abstractmethod
    def frame(self, batch: OutboundBatch) -> tuple[bytes, dict[str, str]]:
        """The body as sent and its content headers (Content-Type, Content-Encoding)."""

    def deliver(self, batch: OutboundBatch) -> Receipt:
        body, content = self.frame(batch)

        def attempt(request_id: str) -> Receipt:
            timestamp = str(int(self._clock()))
            headers = {
                **content,
                "Accept": "application/json",
                "X-App-Key": self.destination.login,
                "X-Batch-Id": batch.batch_id,
                "X-Record-Count": str(len(batch.records)),
                "X-Timestamp": timestamp,
                "X-Signature": signature(self.destination.secret, batch.batch_id, timestamp, body),
                "X-Request-ID": request_id,
            }
            with call_errors(partner=self.partner, operation=self.operation, request_id=request_id):
                reply = exchange(
                    self._session,
                    "POST",
                    self.destination.url.rstrip("/") + self.path,
                    seconds=self.destination.timeout,
                    max_bytes=self.destination.max_reply_bytes,
                    data=body,
                    headers=headers,
                )
            failure = status_error(
                reply, partner=self.partner, operation=self.operation, request_id=request_id
            )
            if failure is not None:
                raise failure
            return self.receipt(reply, batch, request_id)

        return with_retries(attempt, self.retry, sleep=self._sleep)

    def receipt(self, reply: Reply, batch: OutboundBatch, request_id: str) -> Receipt:
        """The partner's receipt for `batch`; a maintenance page is transient, anything else
        that is not a receipt for this batch breaks the contract."""
        page = maintenance_page(
            reply, expected="a receipt", partner=self.partner, operation=self.operation, request_id=request_id
        )
        if page is not None:
            raise page
        try:
            document = json.loads(reply.content.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            document = None
        accepted = document.get("accepted") if isinstance(document, dict) else None
        duplicate = document.get("duplicate") if isinstance(document, dict) else None
        if (
            not isinstance(document, dict)
            or document.get("batchId") != batch.batch_id
            or isinstance(accepted, bool)
            or not isinstance(accepted, int)
            or not isinstance(duplicate, bool)
        ):
            raise ContractError(
                "reply is not a receipt for the batch sent",
                partner=self.partner,
                operation=self.operation,
                status=reply.status_code,
                request_id=request_id,
            )
        reference = document.get("receiptId")
        return Receipt(
            batch_id=batch.batch_id,
            accepted=accepted,
            duplicate=duplicate,
            reference=reference if isinstance(reference, str) else None,
        )

    def close(self) -> None:
        """Release the HTTP connections, unless the session was handed in."""
        if self._owns_session:
            self._session.close()
