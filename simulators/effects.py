"""Effects by event id: how a simulator applies each of the hub's events once, and shows it.

The hub's outbox gives every event a stable id that is sent again on every retry (DESIGN.md §4),
so a partner that deduplicates on it has exactly one effect per event however often the hub
delivers. A simulator asks `Effects.apply` before it applies an event and applies it only on
True; `GET /_admin/effects` answers `{"effects": {"<event id>": <number of effects>}}`, so a test
can prove one effect per event rather than trust it.
"""

from __future__ import annotations

import threading
from collections import Counter

from fastapi import APIRouter


class Effects:
    """The events a partner has applied, counted by event id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def apply(self, event_id: str) -> bool:
        """True the first time `event_id` is seen, the one time its effect should happen; False
        for a repeat, which the partner answers as a duplicate with no second effect."""
        with self._lock:
            if event_id in self._counts:
                return False
            self._counts[event_id] += 1
            return True

    def counts(self) -> dict[str, int]:
        """Effects per event id, in the order the events were first applied."""
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        """Nothing applied: a simulator's reset hook (`SimulatorState.on_reset`)."""
        with self._lock:
            self._counts.clear()

    def router(self) -> APIRouter:
        """`GET /_admin/effects`, to include in the simulator's app beside its admin router."""
        router = APIRouter(prefix="/_admin", tags=["simulator controls"])

        @router.get("/effects")
        async def effects() -> dict[str, dict[str, int]]:
            return {"effects": self.counts()}

        return router
