"""A partner's live data: records whose versions grow while the hub reads them.

Window queries are where the hub meets the legacy behaviour it must absorb: a record changed
during paging moves to a later page (its update time is newer), and a record marked
`stale_resend` is served twice, the current version in order and an older one appended at the
end of the result set, the way a partner's retry queue re-sends what it sent before.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from simulators.records import Record, Version

Step = Callable[[Version, int, random.Random], Version]


class RecordStore:
    """The records of one partner, keyed by source id, each with its list of versions."""

    def __init__(self, records: tuple[Record, ...], *, resolution_ms: int, seed: int) -> None:
        self._pristine = records
        self._resolution_ms = resolution_ms  # the partner's time precision: 1000 on the hotline
        self._seed = seed
        self.reset()

    def reset(self) -> None:
        """Back to the generated data set, as if the partner had just started."""
        self._records = {record.source_id: record for record in self._pristine}
        self._versions = {record.source_id: list(record.versions) for record in self._pristine}
        self._rng = random.Random(f"{self._seed}:touch")

    def __len__(self) -> int:
        return len(self._records)

    def current(self, source_id: str) -> Version | None:
        versions = self._versions.get(source_id)
        return versions[-1] if versions else None

    def currents(self) -> Iterator[tuple[Record, Version]]:
        """Every record with its current version, in the partner's id order."""
        for source_id, record in self._records.items():
            yield record, self._versions[source_id][-1]

    def window(self, start_ms: int, end_ms: int) -> list[Mapping[str, Any]]:
        """Payloads updated in [start, end), by update time then id, stale re-sends last."""
        hits = [
            (version.updated_ms, record.order, record.source_id, version)
            for record, version in self.currents()
            if start_ms <= version.updated_ms < end_ms
        ]
        hits.sort(key=lambda hit: (hit[0], hit[1]))
        served = [hit[3].payload for hit in hits]
        for _, _, source_id, _ in hits:
            versions = self._versions[source_id]
            if "stale_resend" in self._records[source_id].defects and len(versions) > 1:
                served.append(versions[-2].payload)
        return served

    def append(self, source_id: str, version: Version) -> None:
        self._versions[source_id].append(version)

    def next_time(self, source_id: str, now_ms: int) -> int:
        """`now` at the partner's precision, but never before the record's current version."""
        at_ms = now_ms - now_ms % self._resolution_ms
        return max(at_ms, self._versions[source_id][-1].updated_ms + self._resolution_ms)

    def touch(self, count: int, now_ms: int, step: Step,
              busy: Callable[[Version], bool]) -> list[str]:
        """Give `count` records a new version now, as a busy partner works on its cases.

        Records still being worked on (`busy`) are chosen first, in a seeded order, so a test
        that touches records after a reset touches the same ones.
        """
        ids = sorted(self._records)
        self._rng.shuffle(ids)
        ids.sort(key=lambda source_id: not busy(self._versions[source_id][-1]))
        chosen = ids[:count]
        for source_id in chosen:
            at_ms = self.next_time(source_id, now_ms)
            self.append(source_id, step(self._versions[source_id][-1], at_ms, self._rng))
        return chosen

    def truth(self) -> dict[str, dict[str, Any]]:
        """The injected defects and the version count of every record, by source id."""
        return {
            source_id: {
                "defects": list(record.defects),
                "versions": len(self._versions[source_id]),
                **({"incident": record.incident} if record.incident else {}),
            }
            for source_id, record in self._records.items()
        }
