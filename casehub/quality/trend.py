"""The quality trend as `casehub stats` reports it: read from `quality_trend`, no GX needed."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from casehub.quality import load_specs
from casehub.store.models import QualityTrend


def rule_counts() -> dict[str, Any]:
    """How many rules the specification holds, by severity and by dimension."""
    rules = [rule for spec in load_specs().values() for rule in spec.rules]
    return {
        "total": len(rules),
        "by_severity": dict(sorted(Counter(r.severity for r in rules).items())),
        "by_dimension": dict(sorted(Counter(r.dimension for r in rules).items())),
    }


def trend(engine: Engine, *, days: int = 14) -> dict[str, Any]:
    """`casehub stats`' `quality`: the last day validated and, per channel, the pass rate of
    every rule together on each of the last `days` days, and the rules that failed on the last."""
    with engine.connect() as conn:
        latest = conn.scalar(select(func.max(QualityTrend.day)))
        if latest is None:
            return {"rules": rule_counts(), "last_day": None, "by_channel": {}}
        first = (date.fromisoformat(latest) - timedelta(days=days - 1)).isoformat()
        rows = conn.execute(select(QualityTrend).where(QualityTrend.day >= first)).all()
    totals: dict[str, dict[str, list[int]]] = {}
    failing: dict[str, list[str]] = {}
    for row in rows:
        tally = totals.setdefault(row.channel, {}).setdefault(row.day, [0, 0])
        tally[0] += row.evaluated
        tally[1] += row.unexpected
        if row.day == latest and row.unexpected:
            failing.setdefault(row.channel, []).append(row.rule)
    by_channel = {
        channel: {
            "pass_rate": {
                day: round(1 - bad / seen, 4) if seen else 1.0 for day, (seen, bad) in sorted(per_day.items())
            },
            "failing": sorted(failing.get(channel, [])),
        }
        for channel, per_day in sorted(totals.items())
    }
    return {"rules": rule_counts(), "last_day": latest, "by_channel": by_channel}
