"""The one exception tree of casehub, split by what the caller should do.

    CasehubError
    ├── ConfigurationError        a setting or key is missing or wrong: fix the deployment
    ├── TransientError            may pass if tried again later: retry with back-off
    │   ├── TransientPartnerError     (a PartnerError too) timeouts, 5xx, 429, dropped connections
    │   └── StoreUnavailable          (a StoreError too) the hub's own database cannot be reached
    ├── PartnerError              talking to a partner system failed
    │   ├── TransientPartnerError
    │   └── PermanentPartnerError     auth refused, 4xx: fail now, a person acts
    │       └── ContractError             the reply breaks the partner's contract: malformed,
    │                                     hostile or oversized; asking again returns the same
    ├── StoreError                the store refused a statement (its values are never repeated)
    │   └── StoreUnavailable
    ├── InvalidRecord             one record cannot become a unified case: quarantine it
    ├── DataQualityError          a batch breaks a critical data-quality expectation
    └── WorkflowRefused           a partner's action on a case is refused: the caller must change it
        ├── UnknownCase               no such case or event for this caller (404)
        └── ActionConflict            the case's status does not allow it, or an operation id is
                                      reused for another action (409)

Airflow's retry behaviour is derived from this tree (`dags/_glue.py`): a `TransientError` is
retried with back-off, everything else fails the try at once.

No exception here carries personal data or secrets: messages name the field and the reason,
never the value. `Reason` is the machine-readable form kept with a quarantined record.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Reason:
    """Why a record was quarantined: a stable code, the field it concerns, and a safe message."""

    code: str
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def describe(self) -> str:
        """`field: message`, the field named once: a mapper's message begins with it already."""
        return describe(self.field, self.message)


def describe(field: str, message: str) -> str:
    """A reason in words with its field named once (`LDHM: not a valid phone number`)."""
    if not field or message == field or message.startswith((f"{field}:", f"{field} ")):
        return message
    return f"{field}: {message}"


class CasehubError(Exception):
    """Base of every error casehub raises on purpose."""


class ConfigurationError(CasehubError):
    """A required setting, key or reference file is missing or malformed."""


class PartnerError(CasehubError):
    """A call to a partner system failed.

    Attributes describe the call, never its payload: `partner` is the channel code,
    `operation` the SOAP operation or REST path, `status` the HTTP status when there was one,
    `request_id` the partner's or our correlation id.
    """

    def __init__(
        self,
        message: str,
        *,
        partner: str,
        operation: str,
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.partner = partner
        self.operation = operation
        self.status = status
        self.request_id = request_id

    def __str__(self) -> str:
        where = f"{self.partner}.{self.operation}"
        status = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{where}{status}: {self.args[0]}"


class TransientError(CasehubError):
    """What failed may pass if tried again later; the caller retries with back-off."""


class TransientPartnerError(PartnerError, TransientError):
    """The partner may answer if asked again later.

    `retry_after` is the delay in seconds the partner asked for (HTTP Retry-After), if any.
    """

    def __init__(
        self,
        message: str,
        *,
        partner: str,
        operation: str,
        status: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, partner=partner, operation=operation, status=status, request_id=request_id)
        self.retry_after = retry_after


class PermanentPartnerError(PartnerError):
    """Asking again will not help: credentials, contract or request are wrong."""


class ContractError(PermanentPartnerError):
    """The partner's reply breaks its contract: not well-formed, hostile (DTDs, entities), over
    the size or page length the contract allows, or missing what every reply carries."""


class StoreError(CasehubError):
    """The hub's store refused a statement.

    `sqlstate` is the database's error code when it gave one. The driver's message is never
    kept: it can quote the row (`COPY …, column address: "…"`), and rows hold personal data.
    """

    def __init__(self, message: str, *, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class StoreUnavailable(StoreError, TransientError):
    """The store cannot be reached or dropped the connection: retry later."""


class InvalidRecord(CasehubError):
    """A raw record cannot become a valid unified case; it is quarantined with `reasons`."""

    def __init__(self, reasons: list[Reason]) -> None:
        if not reasons:
            raise ValueError("InvalidRecord needs at least one reason")
        super().__init__("; ".join(r.describe() for r in reasons))
        self.reasons = reasons


class DataQualityError(CasehubError):
    """A batch failed a critical expectation that cannot be pinned on single records."""

    def __init__(self, message: str, *, suite: str, expectations: list[str]) -> None:
        super().__init__(message)
        self.suite = suite
        self.expectations = expectations


class WorkflowRefused(CasehubError):
    """An action on a case (a district's 签收, 办结, 退回 …) that the hub refuses.

    `code` is a stable reason code, `field` the request field it concerns (JSON Pointer into the
    action, `/` for the whole request); the message names them, never a value.
    """

    def __init__(self, message: str, *, code: str, field: str = "/") -> None:
        super().__init__(message)
        self.code = code
        self.field = field


class UnknownCase(WorkflowRefused):
    """No case or event of that id exists for the caller (a case dispatched elsewhere does not)."""


class ActionConflict(WorkflowRefused):
    """The case's status does not allow the action, or its operation id was used for another one."""
