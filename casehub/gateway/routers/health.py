"""Liveness and the store's reachability, for load balancers and compose health checks."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from casehub.gateway.context import context_of

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"] = Field(description="the gateway answers")
    store: Literal["ok", "unreachable"] = Field(description="whether the store answered `select 1`")


def healthz(request: Request) -> Health:
    try:
        with context_of(request).store().connect() as conn:
            conn.execute(text("select 1"))
    except SQLAlchemyError:
        return Health(status="ok", store="unreachable")
    return Health(status="ok", store="ok")


router.add_api_route(
    "/healthz",
    healthz,
    methods=["GET"],
    summary="Health",
    description="Needs no token. Always 200 while the gateway runs; `store` says whether the store answers.",
)
