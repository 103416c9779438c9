"""The quarantine as people work it: entries filtered by channel and reason, and replay after a fix.

A reason names the field and the rule, never the value (`casehub/reasons.py`); what is shown
is still passed through `casehub.masking.mask_free_text`, so a message that ever quoted a phone or
an ID number would leave masked. An entry's `history` holds one `{at, action, outcome, reasons}`
step per replay, written by the pipeline.

`replay` runs each channel's entries through that channel's own pipeline (its connector's
mapper), as `casehub quarantine replay` does, and reads the entries back for their outcome.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, func, select

from casehub.masking import mask_free_text
from casehub.store.models import Quarantine

if TYPE_CHECKING:
    from casehub.crypto import KeyRing

MAX_SHOWN = 1000


@dataclass(frozen=True)
class Entry:
    """One quarantined record as the page shows it: never a value of the record."""

    id: int
    channel: str
    source_id: str
    source_updated_at: datetime | None
    quarantined_at: datetime
    state: str
    attempts: int
    reasons: tuple[dict[str, str], ...]
    history: tuple[dict[str, Any], ...]

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(sorted({r["code"] for r in self.reasons}))

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel": self.channel,
            "source_id": self.source_id,
            "source_updated_at": None
            if self.source_updated_at is None
            else self.source_updated_at.isoformat(),
            "quarantined_at": self.quarantined_at.isoformat(),
            "state": self.state,
            "attempts": self.attempts,
            "reasons": list(self.reasons),
            "history": list(self.history),
        }


@dataclass(frozen=True)
class Listing:
    """The entries a filter selects (at most `limit`), and what the filter could choose from."""

    entries: tuple[Entry, ...]
    matched: int
    channels: dict[str, int]
    reasons: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "matched": self.matched,
            "shown": len(self.entries),
            "channels": self.channels,
            "reasons": self.reasons,
            "entries": [e.as_dict() for e in self.entries],
        }


def _entry(row: Any) -> Entry:
    reasons = tuple(
        {
            "code": str(r.get("code", "")),
            "field": str(r.get("field", "")),
            "message": mask_free_text(str(r.get("message", ""))),
        }
        for r in row.reasons or []
    )
    history = tuple(
        {
            "at": step.get("at"),
            "action": step.get("action"),
            "outcome": step.get("outcome"),
            "reasons": [str(code) for code in step.get("reasons", [])],
        }
        for step in row.history or []
    )
    return Entry(
        id=row.id,
        channel=row.channel,
        source_id=row.source_id,
        source_updated_at=row.source_updated_at,
        quarantined_at=row.quarantined_at,
        state=row.state,
        attempts=row.attempts,
        reasons=reasons,
        history=history,
    )


def listing(
    engine: Engine,
    *,
    channel: str | None = None,
    reason: str | None = None,
    state: str = "open",
    limit: int = 200,
) -> Listing:
    """Entries in `state`, oldest first, of `channel` and carrying reason code `reason` if given.

    The channel is chosen in the store; the reason among the channel's entries, whose codes are
    counted for the filter (a JSON list is not queried alike on SQLite and PostgreSQL).
    """
    query = select(Quarantine.reasons, Quarantine.id).where(Quarantine.state == state)
    if channel:
        query = query.where(Quarantine.channel == channel)
    with engine.connect() as conn:
        counted = conn.execute(
            select(Quarantine.channel, func.count())
            .where(Quarantine.state == state)
            .group_by(Quarantine.channel)
        ).all()
        coded = conn.execute(query.order_by(Quarantine.id)).all()
    channels = {ch: int(n) for ch, n in counted}
    reasons: Counter[str] = Counter()
    chosen = []
    for entry_reasons, entry_id in coded:
        codes = {str(r.get("code")) for r in entry_reasons or []}
        reasons.update(codes)
        if not reason or reason in codes:
            chosen.append(entry_id)
    shown = max(1, min(limit, MAX_SHOWN))
    found = entries(engine, chosen[:shown])
    return Listing(
        entries=tuple(found[i] for i in chosen[:shown]),
        matched=len(chosen),
        channels=dict(sorted(channels.items())),
        reasons=dict(reasons.most_common()),
    )


def entries(engine: Engine, ids: Sequence[int]) -> dict[int, Entry]:
    """The entries with these ids, in whatever state they are now."""
    query = select(
        Quarantine.id,
        Quarantine.channel,
        Quarantine.source_id,
        Quarantine.source_updated_at,
        Quarantine.quarantined_at,
        Quarantine.state,
        Quarantine.attempts,
        Quarantine.reasons,
        Quarantine.history,
    ).where(Quarantine.id.in_(list(ids)))
    with engine.connect() as conn:
        return {row.id: _entry(row) for row in conn.execute(query)}


@dataclass(frozen=True)
class Replayed:
    """What a replay did: the pipeline's counts per channel, and each entry as it now stands."""

    totals: dict[str, dict[str, int]]
    entries: tuple[Entry, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"totals": self.totals, "entries": [e.as_dict() for e in self.entries]}


def replay(engine: Engine, keyring: KeyRing, ids: Sequence[int]) -> Replayed:
    """Replay the open entries `ids`, each with its own channel's pipeline; the rest are skipped.

    Raises `ConfigurationError` when a channel's connector cannot be loaded.
    """
    from casehub.partners import load_connector, load_partners
    from casehub.pipeline import Pipeline

    by_channel: dict[str, list[int]] = defaultdict(list)
    for entry in entries(engine, ids).values():
        if entry.state == "open":
            by_channel[entry.channel].append(entry.id)
    totals: dict[str, dict[str, int]] = {}
    for spec in load_partners():
        if spec.code in by_channel and spec.inbound:
            pipeline = Pipeline(engine, load_connector(spec).MAPPER, keyring)
            totals[spec.code] = pipeline.replay(sorted(by_channel[spec.code]))
    now = entries(engine, ids)
    return Replayed(totals=totals, entries=tuple(now[i] for i in sorted(now)))
