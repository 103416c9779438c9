"""Landed webhooks become cases, on SQLite and PostgreSQL: hostile bodies the gateway let through
(its checks stop at the envelope) cost only their own record, a body that is no envelope at all
is quarantined whole, and processing twice lands nothing twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from casehub import inbox, jobs
from casehub.crypto import KeyRing
from casehub.partners import load_connector, partner
from casehub.stats import collect
from casehub.store import Case, Quarantine
from tests.samples import report

APP = partner("neighborhood_app")
MAPPER = load_connector(APP).MAPPER
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def _envelope(data: Any) -> bytes:
    envelope = {"type": "report.updated", "timestamp": "2026-12-01T10:00:00+08:00", "data": data}
    return json.dumps(envelope).encode()


def _land(engine: Engine, keyring: KeyRing, bodies: list[bytes]) -> None:
    for number, body in enumerate(bodies):
        landed = inbox.land(engine, keyring, APP.code, f"msg_{number}", "report.updated", body, NOW)
        assert landed == "accepted"


def test_hostile_deliveries_cost_only_their_own_record(engine: Engine, keyring: KeyRing) -> None:
    good = [report(reportId=f"WLL2025030300{n:04d}") for n in range(3)]
    bodies = [
        _envelope(good[0]),
        _envelope(report(reportId="WLL1", title="路灯\ud800")),  # a lone surrogate, escaped in JSON
        _envelope(report(reportId="WLL2", satisfaction=2**70)),
        _envelope(report(reportId="WLL3", location={"lng": float("inf"), "lat": 30.5})),
        _envelope(good[1]),
        json.dumps({"type": "report.updated", "data": "not an object"}).encode(),
        b'{"type": "report.updated", "data": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        _envelope(good[2]),
    ]
    _land(engine, keyring, bodies)

    summary = jobs.process_webhooks(APP, MAPPER, engine=engine, keyring=keyring)

    assert (summary["received"], summary["accepted"], summary["quarantined"]) == (8, 3, 5)
    with engine.connect() as conn:
        cases = set(conn.scalars(select(Case.source_id)))
        reasons = [r for entry in conn.scalars(select(Quarantine.reasons)) for r in entry]
    assert cases == {r["reportId"] for r in good}
    codes = {r["code"] for r in reasons}
    assert {"unencodable_value", "not_an_object", "unreadable_record"} <= codes
    stats = collect(engine)
    assert stats["reconciled"] and stats["inbox"][APP.code] == {"pending": 0, "processed": 8}

    again = jobs.process_webhooks(APP, MAPPER, engine=engine, keyring=keyring)
    assert again["received"] == 0
    assert collect(engine)["raw"] == stats["raw"]
