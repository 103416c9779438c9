"""An ingest worker in a process of its own, for tests that measure what one partner reply costs it.

    python -m tests.hostile_worker

reads one JSON request a line on stdin — `{"partner": "hotline" | "urban_mgmt", "url": …}` — and
pulls the window of `tests.hostile_worker.WINDOW` from that partner's SOAP service with the
hub's own source (`HotlineSource`, `UrbanMgmtSource`), asking once. It answers one JSON line:
the records read or the error raised (its type, its message and whether it is a
`TransientError`), the seconds the pull took, and the peak of the process's resident memory
above what it held before (Linux resets the peak through /proc/self/clear_refs): what a
hostile reply costs the worker that reads it, zeep and lxml included, which tracemalloc would
not see. An empty line ends it.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from casehub.errors import CasehubError, TransientError
from casehub.normalize import SHANGHAI
from casehub.ports import Source, Window
from connectors.hotline.client import HotlineSource
from connectors.kit import Endpoint, RetryPolicy
from connectors.urban_mgmt.client import UrbanMgmtSource

ANCHOR = datetime(2025, 3, 10, tzinfo=SHANGHAI)
WINDOW = Window(ANCHOR - timedelta(days=8), ANCHOR + timedelta(days=1))
SERVICES = {
    "hotline": (HotlineSource, "/ws/workorder", "hotline-demo-secret"),
    "urban_mgmt": (UrbanMgmtSource, "/ws/casefile", "urban-demo-secret"),
}
PAGE_SIZE = 50
STATUS = Path("/proc/self/status")


def _memory(field: str) -> int:
    """A `VmRSS`/`VmHWM` line of /proc/self/status, in bytes."""
    for line in STATUS.read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in {STATUS}")


def _source(partner: str, url: str) -> Source:
    kind, path, secret = SERVICES[partner]
    endpoint = Endpoint(url=url + path, login="casehub", secret=secret, timeout=10.0, page_size=PAGE_SIZE)
    return kind(endpoint, retry=RetryPolicy(attempts=1))


def pull(partner: str, url: str) -> dict[str, Any]:
    """One pull of the window, measured."""
    source = _source(partner, url)
    Path("/proc/self/clear_refs").write_text("5")
    before = _memory("VmRSS")
    started = time.perf_counter()
    answer: dict[str, Any]
    try:
        records = sum(len(page) for page in source.pages(WINDOW))
        answer = {"records": records}
    except CasehubError as error:
        answer = {"error": type(error).__name__, "message": str(error),
                  "transient": isinstance(error, TransientError)}
    finally:
        seconds = time.perf_counter() - started
        source.close()
    return {**answer, "seconds": seconds, "peak_bytes": max(_memory("VmHWM") - before, 0)}


def main() -> None:
    for line in sys.stdin:
        if not line.strip():
            return
        request = json.loads(line)
        print(json.dumps(pull(request["partner"], request["url"])), flush=True)


if __name__ == "__main__":
    main()
