"""Effects by event id: one effect per event however often it is delivered, until a reset."""

from __future__ import annotations

from simulators.effects import Effects


def test_an_event_is_applied_the_first_time_only() -> None:
    effects = Effects()
    assert effects.apply("evt-1") is True
    assert effects.apply("evt-1") is False
    assert effects.apply("evt-2") is True
    assert effects.counts() == {"evt-1": 1, "evt-2": 1}


def test_a_reset_forgets_every_event() -> None:
    effects = Effects()
    effects.apply("evt-1")
    effects.reset()
    assert effects.counts() == {}
    assert effects.apply("evt-1") is True
