"""What every simulator shares beside its protocol: faults on demand, a record of what it
received, and the admin surface (`/_admin/…`) the demo and the tests steer it with.

Faults apply to protocol requests only, never to the admin surface, so a test can always see the
simulator's state while the protocol misbehaves. A hang is an async sleep: it holds one request
past any sane client timeout while the event loop keeps answering the others.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field

from simulators.records import SHANGHAI, Version, now_ms
from simulators.store import RecordStore, Step

FaultMode = Literal["5xx", "hang", "429", "fault", "error_body", "none"]

_MAINTENANCE_PAGE = (
    "<html><head><title>系统维护</title></head>"
    "<body><h1>系统维护中，请稍后再试</h1><p>System under maintenance.</p></body></html>"
)


@dataclass(frozen=True)
class ArmedFault:
    mode: str
    hang_seconds: float
    retry_after: int


class FaultPlan:
    """The next `count` protocol requests after `after` good ones fail in `mode`."""

    def __init__(self, *, hang_seconds: float, retry_after: int) -> None:
        self.default_hang_seconds = hang_seconds
        self.default_retry_after = retry_after
        self.hanging = 0  # requests held by a hang right now
        self._release = asyncio.Event()
        self.clear()

    def clear(self) -> None:
        """No fault armed; requests hanging now are let go."""
        self.arm("none", 0, 0)
        self._release.set()
        self._release = asyncio.Event()

    def arm(self, mode: str, count: int, after: int, hang_seconds: float | None = None,
            retry_after: int | None = None) -> None:
        self._fault = ArmedFault(
            mode,
            self.default_hang_seconds if hang_seconds is None else hang_seconds,
            self.default_retry_after if retry_after is None else retry_after,
        )
        self._remaining = count if mode != "none" else 0
        self._good_before = after

    def describe(self) -> dict[str, Any]:
        return {"mode": self._fault.mode, "count": self._remaining, "after": self._good_before,
                "hang_seconds": self._fault.hang_seconds, "retry_after": self._fault.retry_after,
                "hanging": self.hanging}

    def take(self) -> ArmedFault | None:
        """The fault this protocol request suffers, or None when it goes through."""
        if self._remaining <= 0:
            return None
        if self._good_before > 0:
            self._good_before -= 1
            return None
        self._remaining -= 1
        return self._fault

    async def hang(self, seconds: float) -> None:
        """Hold the request `seconds`, or until the plan is cleared (reset, or mode none)."""
        release = self._release
        self.hanging += 1
        try:
            await asyncio.wait_for(release.wait(), timeout=seconds)
        except TimeoutError:
            return
        finally:
            self.hanging -= 1


class ReceivedLog:
    """What the hub sent to the partner, kept in memory and appended to an NDJSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: list[dict[str, Any]] = []

    def record(self, operation: str, fields: dict[str, Any], outcome: dict[str, Any]) -> None:
        entry = {
            "received_at": datetime.now(SHANGHAI).isoformat(timespec="milliseconds"),
            "operation": operation,
            "request": fields,
            "outcome": outcome,
        }
        self._entries.append(entry)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def entries(self) -> list[dict[str, Any]]:
        return list(self._entries)

    def clear(self) -> None:
        self._entries.clear()
        self.path.unlink(missing_ok=True)


@dataclass
class FaultResponses:
    """How this partner says "fault" and "slow down": a SOAP Fault or an error envelope."""

    fault: Callable[[], Response]
    throttled: Callable[[int], Response]


@dataclass
class SimulatorState:
    """One running partner: its data, its faults, and what it received."""

    partner: str
    store: RecordStore
    faults: FaultPlan
    received: ReceivedLog
    responses: FaultResponses
    step: Step  # how a busy partner moves a record on when touched
    busy: Callable[[Version], bool]  # whether a record still has somewhere to move
    on_reset: list[Callable[[], None]] = field(default_factory=list)

    async def intercept(self) -> Response | None:
        """The injected failure for this protocol request, or None to serve it normally."""
        fault = self.faults.take()
        if fault is None:
            return None
        if fault.mode == "hang":
            await self.faults.hang(fault.hang_seconds)
            return PlainTextResponse("Gateway Timeout", status_code=504)
        if fault.mode == "5xx":
            return PlainTextResponse("Service Unavailable", status_code=503)
        if fault.mode == "429":
            return self.responses.throttled(fault.retry_after)
        if fault.mode == "error_body":
            return Response(_MAINTENANCE_PAGE, status_code=200, media_type="text/html; charset=utf-8")
        return self.responses.fault()

    def reset(self) -> None:
        """Back to the state just after start: generated data, no faults, nothing received."""
        self.store.reset()
        self.faults.clear()
        self.received.clear()
        for hook in self.on_reset:
            hook()


def received_path(var_dir: str | Path, partner: str) -> Path:
    return Path(var_dir) / "simulators" / partner / "received.ndjson"


class FaultRequest(BaseModel):
    mode: FaultMode
    count: int = Field(default=1, ge=0)
    after: int = Field(default=0, ge=0)
    hang_seconds: float | None = Field(default=None, ge=0)
    retry_after: int | None = Field(default=None, ge=0)


class TouchRequest(BaseModel):
    count: int = Field(default=1, ge=0)


def admin_router(state: SimulatorState) -> APIRouter:
    """`/_admin/…`: health, faults, truth, received, touch and reset (docs/partners.md)."""
    router = APIRouter(prefix="/_admin", tags=["simulator controls"])

    @router.get("/health")
    async def health() -> dict[str, Any]:
        return {"partner": state.partner, "records": len(state.store)}

    @router.get("/faults")
    async def armed() -> dict[str, Any]:
        return state.faults.describe()

    @router.post("/faults")
    async def faults(request: FaultRequest) -> dict[str, Any]:
        if request.mode == "none":
            state.faults.clear()
        else:
            state.faults.arm(request.mode, request.count, request.after, request.hang_seconds,
                             request.retry_after)
        return state.faults.describe()

    @router.get("/truth")
    async def truth() -> dict[str, Any]:
        return {"partner": state.partner, "records": state.store.truth()}

    @router.get("/received")
    async def received() -> dict[str, Any]:
        return {"partner": state.partner, "received": state.received.entries()}

    @router.post("/touch")
    async def touch(request: TouchRequest) -> dict[str, Any]:
        touched = state.store.touch(request.count, now_ms(), state.step, state.busy)
        return {"touched": touched}

    @router.post("/reset")
    async def reset() -> dict[str, Any]:
        state.reset()
        return {"partner": state.partner, "records": len(state.store)}

    return router
