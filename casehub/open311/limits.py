"""A token bucket per API key, in the gateway's process.

Each key may make `rate_per_minute` calls a minute on average and `burst` at once (the
manifest's `[partner.serve_in]`). The buckets live in memory: each gateway process (each
uvicorn worker, each Airflow API server mounting the gateway) counts on its own, so N processes
let a key make up to N times the rate, and a restart forgets. Keys idle for longer than a full
refill are forgotten, so the table stays as large as the keys in use.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(self, rate_per_minute: int, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate_per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when `key` may go on (a token is taken), else the seconds until it may."""
        now = self.clock()
        with self._lock:
            tokens, seen = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - seen) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                wait = (1 - tokens) / self.rate
            self._forget(now)
        return wait

    def _forget(self, now: float) -> None:
        full = self.burst / self.rate
        if len(self._buckets) > 1024:
            self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full}
