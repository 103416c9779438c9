"""What a process that runs the pipeline's pages sets once: the cyclic garbage collector's pace.

A page allocates hundreds of thousands of short-lived objects — rows, mapped cases, bigram sets
— that reference counting frees as the page ends. CPython's collector still counts them, and
after ten passes over its middle generation, once a quarter as many objects as it last found
alive have joined the oldest, it makes a full pass over the whole heap: Airflow's and GX's
modules, the reference tables and duplicate detection's window (about 36 000 cases at the city's
rate). In pages of 10 000 such a pass came every 8 000 records or so, each longer as the window
filled (240 to 470 ms): about a tenth of the pipeline's CPU. Held to one in `FULL_PASS_EVERY`
middle passes, the ingest benchmark's CPU per record fell by that tenth and its peak memory did
not move (docs/performance.md, "Sixth round"): what a page leaves behind is freed by its counts,
not by the collector. The young generations keep their thresholds, so cycles (a traceback, an
ORM session) are still collected within a page.
"""

from __future__ import annotations

import gc

FULL_PASS_EVERY = 100
"""Middle-generation passes between two full ones (CPython's default is 10)."""


def pace_collector() -> None:
    """Hold the collector's full passes to one in `FULL_PASS_EVERY` middle passes, for this
    process (a DAG task's, a `casehub backfill` worker's): the jobs call it before their first
    page. Idempotent; the young and middle thresholds are left as they are."""
    young, middle, full = gc.get_threshold()
    if full < FULL_PASS_EVERY:
        gc.set_threshold(young, middle, FULL_PASS_EVERY)
