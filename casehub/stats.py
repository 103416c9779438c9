"""What the store holds, in one JSON-able object (`casehub stats --json`).

`reconciled` is the hub's promise that nothing was lost: every raw record that landed has
exactly one outcome, `raw = accepted + quarantined + superseded`; every quarantined raw record
has an open quarantine entry; every accepted one belongs to a stored case.

`cases.by_grade` and `cases.by_unit_kind` show where the work goes: every grade and every kind
of handling unit is listed, zeros included, so a reader (or a dashboard) never has to guess
whether a missing key means none. A case whose `assigned_unit` is empty or no unit of
`schemas/reference/units.csv` counts as `unrouted`, a key present only when there are such cases.

`inbox` counts each pushing partner's landed webhooks still `pending` and already `processed`;
`provisions`, from the provision log, what each recipient of a scheduled push has been given:
batches, records and the end of the last window provided.

`outbox` counts each outbox partner's events (`connectors/partners.toml`, `[partner.outbox]`:
district, hotline, message_board, neighborhood_app, urban_mgmt) `pending`, `delivered` and
`dead`, zeros included; `cases.by_channel_status` the cases of each channel by status, which is
where a case stands in the loop (dispatched, accepted, processing, completed, returned …).

`quality` is the data-quality specification at work (docs/data-quality.md): `rules` (how many,
by severity and dimension), `last_day` validated by `quality_daily`, and `by_channel`: each
channel's pass rate of all its rules together per day over the last 14 days, and the rules that
failed on the last day.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import Engine, func, select

from casehub import inbox, outbox
from casehub.enrich.rules import GRADES, UNIT_KINDS, load_rules
from casehub.partners import notified
from casehub.quality.trend import trend
from casehub.store.models import Case, ProvisionLog, Quarantine, RawRecord, SyncCursor

UNROUTED = "unrouted"


def _by_unit_kind(by_unit: dict[str | None, int]) -> dict[str, int]:
    """Case counts per unit code, summed per kind of unit (units.csv); every kind listed."""
    units = load_rules().units
    kinds: Counter[str] = Counter()
    for code, count in by_unit.items():
        unit = units.get(code) if code else None
        kinds[unit.kind if unit is not None else UNROUTED] += count
    counts = {kind: kinds[kind] for kind in UNIT_KINDS}
    if kinds[UNROUTED]:
        counts[UNROUTED] = kinds[UNROUTED]
    return counts


def collect(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        raw_by_outcome = dict(
            conn.execute(select(RawRecord.outcome, func.count()).group_by(RawRecord.outcome)).all()
        )
        raw_total = conn.scalar(select(func.count()).select_from(RawRecord)) or 0
        by_channel = dict(conn.execute(select(Case.channel, func.count()).group_by(Case.channel)).all())
        by_status = dict(conn.execute(select(Case.status, func.count()).group_by(Case.status)).all())
        status_by_channel: dict[str, dict[str, int]] = {}
        for channel, status, number in conn.execute(
            select(Case.channel, Case.status, func.count()).group_by(Case.channel, Case.status)
        ):
            status_by_channel.setdefault(channel, {})[status] = int(number)
        by_grade = dict(conn.execute(select(Case.grade, func.count()).group_by(Case.grade)).all())
        by_unit = dict(
            conn.execute(select(Case.assigned_unit, func.count()).group_by(Case.assigned_unit)).all()
        )
        open_rows = conn.execute(
            select(Quarantine.channel, Quarantine.reasons).where(Quarantine.state == "open")
        ).all()
        quarantine_states = dict(
            conn.execute(select(Quarantine.state, func.count()).group_by(Quarantine.state)).all()
        )
        cursors = {
            channel: position.isoformat()
            for channel, position in conn.execute(select(SyncCursor.channel, SyncCursor.position))
        }
        orphan_accepted = (
            conn.scalar(
                select(func.count())
                .select_from(RawRecord)
                .outerjoin(Case, Case.case_id == RawRecord.case_id)
                .where(RawRecord.outcome == "accepted", Case.case_id.is_(None))
            )
            or 0
        )
    reasons: Counter[str] = Counter()
    channels: Counter[str] = Counter()
    for channel, entry_reasons in open_rows:
        channels[channel] += 1
        for code in {r["code"] for r in entry_reasons}:
            reasons[code] += 1
    accepted = raw_by_outcome.get("accepted", 0)
    quarantined = raw_by_outcome.get("quarantined", 0)
    superseded = raw_by_outcome.get("superseded", 0)
    checks = {
        "every_raw_has_one_outcome": raw_total == accepted + quarantined + superseded,
        "quarantined_raw_match_open_entries": quarantined == len(open_rows),
        "accepted_raw_belong_to_cases": orphan_accepted == 0,
    }
    return {
        "raw": raw_total,
        "raw_by_outcome": {"accepted": accepted, "quarantined": quarantined, "superseded": superseded},
        "cases": {
            "total": sum(by_channel.values()),
            "by_channel": dict(sorted(by_channel.items())),
            "by_status": dict(sorted(by_status.items())),
            "by_channel_status": {c: dict(sorted(v.items())) for c, v in sorted(status_by_channel.items())},
            "by_grade": {grade: by_grade.get(grade, 0) for grade in GRADES},
            "by_unit_kind": _by_unit_kind(by_unit),
        },
        "quarantined": {
            "total": len(open_rows),
            "by_reason": dict(reasons.most_common()),
            "by_channel": dict(sorted(channels.items())),
            "by_state": dict(sorted(quarantine_states.items())),
        },
        "cursors": dict(sorted(cursors.items())),
        "inbox": dict(sorted(inbox.counts(engine).items())),
        "provisions": _provisions(engine),
        "outbox": outbox.counts(engine, [p.code for p in notified()]),
        "quality": trend(engine),
        "reconciled": all(checks.values()),
        "checks": checks,
    }


def _provisions(engine: Engine) -> dict[str, dict[str, Any]]:
    query = select(
        ProvisionLog.recipient,
        func.count(),
        func.coalesce(func.sum(ProvisionLog.record_count), 0),
        func.max(ProvisionLog.window_end),
    ).group_by(ProvisionLog.recipient)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return {
        recipient: {"batches": batches, "records": int(records), "provided_until": until.isoformat()}
        for recipient, batches, records, until in sorted(rows)
    }
