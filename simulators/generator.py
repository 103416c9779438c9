"""Deterministic partner data: the same seed and anchor give byte-identical records.

Everything random comes from `random.Random(seed)` and a Faker('zh_CN') seeded with the same seed,
and times are laid out from the anchor rather than the clock, so a test, the demo and a bug report
all see the same work orders and messages.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from simulators import casefiles, messages, workorders
from simulators.manifest import stand_ins
from simulators.records import Options, Record

GENERATORS: dict[str, Callable[[Options], tuple[Record, ...]]] = {
    "hotline": workorders.generate,
    "message_board": messages.generate,
    "urban_mgmt": casefiles.generate,
}
DEFAULT_RECORDS: dict[str, int] = {code: int(s.get("records", 0)) for code, s in stand_ins().items()}
"""How many records each stand-in serves by default: its count in the partner manifest."""


def generate(partner: str, options: Options) -> tuple[Record, ...]:
    """The records `partner` serves for these options, in the partner's id order."""
    return GENERATORS[partner](options)


def dump(records: tuple[Record, ...]) -> bytes:
    """A canonical byte form of a data set, to compare two generations exactly."""
    document = [
        {
            "source_id": record.source_id,
            "defects": list(record.defects),
            "versions": [
                {"updated_ms": v.updated_ms, "payload": dict(v.payload),
                 "evaluation": dict(v.evaluation) if v.evaluation else None}
                for v in record.versions
            ],
        }
        for record in records
    ]
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
