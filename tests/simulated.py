"""Partners' simulators for a test module: started together, stopped together, reset per test."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from simulators.testing import RunningSimulator, start


@contextmanager
def running(codes: Iterable[str], **options: Any) -> Iterator[dict[str, RunningSimulator]]:
    """A simulator of each partner in `codes`, started with `options`, by code until the block
    ends; those already started are stopped should another fail to start."""
    started: dict[str, RunningSimulator] = {}
    try:
        for code in codes:
            started[code] = start(code, **options)
        yield started
    finally:
        for simulator in started.values():
            simulator.stop()


def fresh(simulator: RunningSimulator) -> RunningSimulator:
    """`simulator` reset to its generated data, so a test sees nothing an earlier one left."""
    simulator.reset()
    return simulator
