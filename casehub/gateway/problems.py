"""Problem details (RFC 9457): every refusal and failure of the gateway, as `application/problem+json`.

A problem's `type` is `urn:casehub:problem:<slug>`, stable for callers to branch on; `detail`
says what to fix. Neither ever carries personal data or echoes what the caller sent: a field or
header is named (also as the extension member `field` or `header`), its value is not.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException
from starlette.routing import Match, Route

from casehub.errors import StoreError

log = logging.getLogger("casehub.gateway")

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:casehub:problem:"


class Problem(Exception):
    """An error answered as problem+json; its `detail` is for the caller and holds no personal data.

    `extensions` are further members of the body (RFC 9457 §3.2), such as the `header` or
    `field` a refusal concerns; `headers` go on the response.
    """

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.headers = dict(headers or {})
        self.extensions = extensions

    @property
    def type(self) -> str:
        return TYPE_PREFIX + self.slug

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            **self.extensions,
        }
        return JSONResponse(body, status_code=self.status, media_type=PROBLEM_JSON, headers=self.headers)


def store_unavailable() -> Problem:
    return Problem(503, "store-unreachable", "Store unreachable", "the store did not answer; try again later")


def allowed_methods(request: Request) -> list[str]:
    """Every method the request's path is served with (RFC 9110 §15.5.6: a 405 says which):
    Starlette names only those of the first route of the path, and a path can have several (a
    GET and a POST declared apart)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE and isinstance(route, Route):
            methods |= route.methods or set()
    return sorted(methods)


def install(app: FastAPI) -> None:
    """Answer every error of `app` as a problem, whichever layer raised it, and say so in its
    OpenAPI (`document_validation_problems`)."""
    document_validation_problems(app)

    @app.exception_handler(Problem)
    async def on_problem(_: Request, exc: Problem) -> JSONResponse:
        return exc.response()

    @app.exception_handler(HTTPException)
    async def on_http_error(request: Request, exc: HTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        slug = "not-found" if exc.status_code == 404 else f"http-{exc.status_code}"
        detail = "no such resource or method here"
        return Problem(exc.status_code, slug, str(exc.detail), detail, headers=headers).response()

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Name the places only: FastAPI's own errors would echo what the caller sent.
        places = ", ".join(sorted({".".join(map(str, error["loc"])) for error in exc.errors()}))
        return Problem(422, "invalid-request", "Invalid request", f"invalid: {places}").response()

    @app.exception_handler(SQLAlchemyError)
    async def on_database_error(_: Request, exc: SQLAlchemyError) -> JSONResponse:
        log.error("gateway: store error %s", type(exc).__name__)  # its message may quote parameters
        return store_unavailable().response()

    @app.exception_handler(StoreError)
    async def on_store_error(_: Request, exc: StoreError) -> JSONResponse:
        log.error("gateway: %s", exc)  # the error tree's form: the SQLSTATE, never the driver's text
        return store_unavailable().response()

    @app.exception_handler(Exception)
    async def on_failure(_: Request, exc: Exception) -> JSONResponse:
        log.error("gateway: unexpected %s", type(exc).__name__)
        return Problem(500, "internal-error", "Internal error", "the gateway failed; see its log").response()


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri", "examples": [TYPE_PREFIX + "bad-signature"]},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "what to fix; never a value the caller sent"},
        "header": {"type": "string", "description": "the request header the problem concerns"},
        "field": {"type": "string", "description": "the body field the problem concerns, dotted"},
    },
}


def documented(described: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the problems a route answers, status → when."""
    return {
        status: {"description": description, "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}}
        for status, description in described.items()
    }


VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
"""The body FastAPI documents for its 422 by default, which the gateway never sends."""


def document_validation_problems(app: FastAPI) -> None:
    """Make `app`'s OpenAPI say what a refused parameter is answered with: FastAPI documents its
    own 422 body (`HTTPValidationError`, application/json) for every route with parameters, but
    the gateway answers a problem naming the places (`on_invalid`)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        problem = documented({422: "a path, query or header parameter out of its range (`detail` names it)"})
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.get("responses", {})
                if "422" in responses and PROBLEM_JSON not in responses["422"].get("content", {}):
                    responses["422"] = problem[422]
        components = schema.get("components", {}).get("schemas", {})
        for name in VALIDATION_SCHEMAS:
            components.pop(name, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
