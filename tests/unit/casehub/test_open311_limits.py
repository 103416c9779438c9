"""The per-key token bucket: a burst at once, then the rate; each key on its own."""

from __future__ import annotations

from casehub.open311.limits import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_gets_its_burst_then_one_call_per_interval_and_is_told_how_long_to_wait() -> None:
    clock = Clock()
    limiter = RateLimiter(rate_per_minute=60, burst=3, clock=clock)
    assert [limiter.take("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("k")
    assert 0.99 <= wait <= 1.0
    assert limiter.take("other") == 0.0, "another key has its own bucket"
    clock.now += 1.0
    assert limiter.take("k") == 0.0
    assert limiter.take("k") > 0
    clock.now += 60
    assert [limiter.take("k") for _ in range(4)][:3] == [0.0, 0.0, 0.0], "refilled to the burst, no more"


def test_idle_keys_are_forgotten_so_the_table_stays_small() -> None:
    clock = Clock()
    limiter = RateLimiter(rate_per_minute=60, burst=2, clock=clock)
    for n in range(2000):
        limiter.take(f"key-{n}")
        clock.now += 0.01
    clock.now += 10
    limiter.take("late")
    assert len(limiter._buckets) < 1100
