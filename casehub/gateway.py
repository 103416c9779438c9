"""The hub's gateway: health, store statistics, the quarantine and masked case reads over HTTP.

It runs on its own (`casehub serve`) and mounted in the Airflow API server (`plugins/`). Airflow
does not authenticate plugin apps, so the gateway guards itself: every route but `/health` needs
`Authorization: Bearer <CASEHUB_GATEWAY_TOKEN>`, and with no token configured those routes answer
503 rather than open up. Errors are problem details (RFC 9457) that never carry personal data:
a reporter is decrypted only in memory, and leaves masked.

Creating the app does no I/O and imports only FastAPI and SQLAlchemy, which every Airflow process
has loaded already, so the plugin stays cheap; the store and the key ring are reached on first use.
"""

from __future__ import annotations

import hmac
import logging
import os
from functools import cache
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException

if TYPE_CHECKING:
    from sqlalchemy import Engine, RowMapping

    from casehub.crypto import KeyRing

log = logging.getLogger(__name__)

TOKEN_ENV = "CASEHUB_GATEWAY_TOKEN"  # noqa: S105 - the variable's name, not a secret
PROBLEM_JSON = "application/problem+json"
HIDDEN_COLUMNS = ("pii_key_id", "reporter_phone_index", "reporter_fingerprint")


class Problem(Exception):
    """An error answered as problem+json; its `detail` is for the caller and holds no personal data."""

    def __init__(self, status: int, slug: str, title: str, detail: str, **headers: str) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail, self.headers = status, slug, title, detail, headers

    def response(self) -> JSONResponse:
        body = {
            "type": f"urn:casehub:problem:{self.slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        return JSONResponse(body, status_code=self.status, media_type=PROBLEM_JSON, headers=self.headers)


def mask_name(name: str | None) -> str | None:
    """The first character only (欧阳明华 → 欧*): a caller is recognisable to staff, not identifiable."""
    return name[0] + "*" if name else None


def mask_phone(phone: str | None) -> str | None:
    """+8613800138000 → +86138****8000, the way Chinese service desks print a number."""
    if not phone:
        return None
    prefix, national = ("+86", phone[3:]) if phone.startswith("+86") else ("", phone)
    if len(national) < 8:
        return prefix + "*" * len(national)
    return prefix + national[:3] + "*" * (len(national) - 7) + national[-4:]


def create_app(engine: Engine | None = None, *, token: str | None = None) -> FastAPI:
    """The gateway on `engine` (default: the configured store), guarded by `token` (default: env)."""
    app = FastAPI(title="casehub gateway", docs_url=None, redoc_url=None, openapi_url=None)

    def store() -> Engine:
        from casehub.store import connect

        return engine if engine is not None else connect()

    @cache
    def keyring() -> KeyRing | None:
        from casehub.crypto import load_keyring
        from casehub.errors import ConfigurationError

        if not (os.environ.get("CASEHUB_KEYRING") or os.environ.get("CASEHUB_KEYRING_FILE")):
            return None
        try:
            return load_keyring()
        except ConfigurationError as exc:
            log.warning("gateway: reporters stay hidden, the key ring is unusable: %s", exc)
            return None

    def authorized(request: Request) -> None:
        expected = token if token is not None else os.environ.get(TOKEN_ENV)
        if not expected:
            raise Problem(
                503,
                "not-configured",
                "Gateway not configured",
                f"the gateway has no token configured: set {TOKEN_ENV}",
            )
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
            raise Problem(
                401,
                "unauthorized",
                "Unauthorized",
                "send Authorization: Bearer <gateway token>",
                **{"WWW-Authenticate": 'Bearer realm="casehub"'},
            )

    @app.exception_handler(Problem)
    async def on_problem(_: Request, exc: Problem) -> JSONResponse:
        return exc.response()

    @app.exception_handler(HTTPException)
    async def on_http_error(_: Request, exc: HTTPException) -> JSONResponse:
        slug = "not-found" if exc.status_code == 404 else f"http-{exc.status_code}"
        return Problem(exc.status_code, slug, str(exc.detail), "no such resource or method here").response()

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Name the places only: FastAPI's own errors would echo what the caller sent.
        places = ", ".join(sorted({".".join(map(str, error["loc"])) for error in exc.errors()}))
        return Problem(422, "invalid-request", "Invalid request", f"invalid: {places}").response()

    @app.exception_handler(SQLAlchemyError)
    async def on_store_error(_: Request, exc: SQLAlchemyError) -> JSONResponse:
        log.error("gateway: store error %s", type(exc).__name__)  # its message may quote parameters
        return Problem(503, "store-unreachable", "Store unreachable", "the store did not answer").response()

    @app.exception_handler(Exception)
    async def on_failure(_: Request, exc: Exception) -> JSONResponse:
        log.error("gateway: unexpected %s", type(exc).__name__)
        return Problem(500, "internal-error", "Internal error", "the gateway failed; see its log").response()

    @app.get("/health")
    def health() -> dict[str, str]:
        try:
            with store().connect() as conn:
                conn.execute(text("select 1"))
        except SQLAlchemyError:
            return {"status": "ok", "store": "unreachable"}
        return {"status": "ok", "store": "ok"}

    @app.get("/stats", dependencies=[Depends(authorized)])
    def stats() -> dict[str, Any]:
        from casehub.stats import collect

        return collect(store())

    @app.get("/quarantine", dependencies=[Depends(authorized)])
    def quarantine(channel: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Open entries and their reasons, oldest first: what `casehub quarantine list` shows."""
        from casehub.store.models import Quarantine

        query = select(Quarantine).where(Quarantine.state == "open").order_by(Quarantine.id)
        if channel:
            query = query.where(Quarantine.channel == channel)
        columns = ("id", "channel", "source_id", "source_updated_at", "quarantined_at", "attempts", "reasons")
        with store().connect() as conn:
            rows = conn.execute(query.limit(max(1, min(limit, 1000)))).mappings().all()
        return [{name: row[name] for name in columns} for row in rows]

    @app.get("/cases/{case_id}", dependencies=[Depends(authorized)])
    def case(case_id: str) -> dict[str, Any]:
        from casehub.store.models import Case

        with store().connect() as conn:
            row = conn.execute(select(Case).where(Case.case_id == case_id)).mappings().one_or_none()
        if row is None:
            raise Problem(404, "case-not-found", "Case not found", "no case with this id")
        shown = {k: v for k, v in row.items() if not k.startswith("reporter_") and k not in HIDDEN_COLUMNS}
        return {**shown, "reporter": reporter(row)}

    def reporter(row: RowMapping) -> dict[str, str | None]:
        """Name and phone, masked; null without a key ring (the ID number is never shown)."""
        from casehub.crypto import associated_data
        from casehub.errors import ConfigurationError

        ring = keyring()
        if ring is None:
            return {"name": None, "phone": None}
        shown: dict[str, str | None] = {}
        for field, mask in (("name", mask_name), ("phone", mask_phone)):
            column = f"reporter_{field}"
            aad = associated_data("cases", column, row["case_id"])
            try:
                shown[field] = mask(ring.open_text(row["pii_key_id"], row[column], aad))
            except ConfigurationError as exc:
                log.warning("gateway: %s of a case stays hidden: %s", column, exc)
                shown[field] = None
        return shown

    return app


def serve(host: str, port: int) -> None:
    """Run the gateway with uvicorn (`casehub serve`), warning at once if it can authorize no one."""
    import uvicorn

    if not os.environ.get(TOKEN_ENV):
        log.warning("gateway: %s is not set; every route but /health answers 503", TOKEN_ENV)
    uvicorn.run(create_app(), host=host, port=port, proxy_headers=True, log_level="info")
