"""Pushes to the city brain and the health commission, over HTTP to their simulators, on SQLite
and PostgreSQL: each gets exactly its allow-listed fields of the cases it selects, every batch
is recorded once, a rerun has one effect per batch id, and 5xx and 429 cost nothing."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, delete, select, update

from casehub.crypto import KeyRing
from casehub.errors import ContractError, DataQualityError, PermanentPartnerError, TransientPartnerError
from casehub.partners import Partner, partner
from casehub.pipeline import Pipeline
from casehub.pushes import provision_log, push
from casehub.recipients import load_recipient
from casehub.stats import collect
from casehub.store.models import Case, ProvisionLog, QualityResult
from connectors.city_brain import RENDERER as CITY_BRAIN
from connectors.city_brain.render import CityBrainRenderer
from connectors.city_brain.transport import CityBrainSink
from connectors.health_commission import RENDERER as HEALTH_COMMISSION
from connectors.health_commission.transport import HealthCommissionSink
from connectors.hotline import MAPPER
from connectors.kit import RetryPolicy
from connectors.kit.sink import Destination, SignedBatchSink
from simulators.testing import RunningSimulator
from tests.samples import work_order
from tests.simulated import fresh, running

RENDERERS = {"city_brain": CITY_BRAIN, "health_commission": HEALTH_COMMISSION}
SINKS: dict[str, type[SignedBatchSink]] = {
    "city_brain": CityBrainSink,
    "health_commission": HealthCommissionSink,
}
QUICK = RetryPolicy(attempts=3, backoff=0.001, max_backoff=0.002)
PERSONAL = ("张明", "13800138000", "解放大道1000号")


@pytest.fixture(scope="module")
def receivers() -> Iterator[dict[str, RunningSimulator]]:
    with running(RENDERERS) as started:
        yield started


@pytest.fixture
def receiver(receivers: dict[str, RunningSimulator]) -> dict[str, RunningSimulator]:
    return {code: fresh(simulator) for code, simulator in receivers.items()}


def sink_for(
    code: str, simulator: RunningSimulator, *, secret: str | None = None, **options: Any
) -> SignedBatchSink:
    stand_in = partner(code).simulator
    assert stand_in is not None
    destination = Destination(
        url=simulator.url + stand_in.path, login=stand_in.login, secret=secret or stand_in.secret, timeout=10
    )
    return SINKS[code](destination, retry=options.pop("retry", QUICK), **options)


def with_batches_of(code: str, size: int) -> Partner:
    spec = partner(code)
    return dataclasses.replace(spec, deliver=dataclasses.replace(spec.delivered(), batch_size=size))


def ingest_orders(engine: Engine, keyring: KeyRing, count: int = 0) -> datetime:
    """Two health-related work orders (one by category, one by its words), one ordinary, and
    `count` more ordinary ones; returns a run's end whose window, settled, holds them."""
    orders = [
        work_order(),
        work_order(
            GDBH="WH20261120000002",
            YWLBDM="HL0802",
            YWLBMC="疫情防控",
            BT="小区多人发热",
            SQNR="我们楼里好几户发热，希望卫生部门来看看。",
        ),
        work_order(
            GDBH="WH20261120000003",
            BT="楼道垃圾无人清理",
            SQNR="楼道垃圾堆了一周，邻居家孩子腹泻，担心是垃圾引起的。",
        ),
        *(work_order(GDBH=f"WH2026112001{n:04d}") for n in range(count)),
    ]
    page = Pipeline(engine, MAPPER, keyring).ingest(orders)
    assert page.accepted == len(orders)
    settle = max(partner(code).delivered().settle for code in RENDERERS)
    return datetime.now(UTC) + settle + timedelta(seconds=1)


def received_records(simulator: RunningSimulator) -> list[dict[str, Any]]:
    return [
        record
        for entry in simulator.received()
        if entry["outcome"].get("status") == 200
        for record in entry["request"]["records"]
    ]


def test_each_recipient_gets_exactly_its_allow_listed_fields_of_the_cases_it_selects(
    engine: Engine, keyring: KeyRing, receiver: dict[str, RunningSimulator]
) -> None:
    until = ingest_orders(engine, keyring)
    for code in RENDERERS:
        sink = sink_for(code, receiver[code])
        try:
            summary = push(partner(code), sink, RENDERERS[code], engine=engine, keyring=keyring, until=until)
        finally:
            sink.close()
        assert summary["batches"] == 1 and summary["duplicates"] == 0

    brain = received_records(receiver["city_brain"])
    health = received_records(receiver["health_commission"])
    assert len(brain) == 3
    assert {tuple(record) for record in brain} == {load_recipient("city_brain").fields}
    assert {tuple(record) for record in health} == {load_recipient("health_commission").fields}
    assert sorted(r["category"] for r in health) == ["020001", "080009"]
    by_category = sorted(health, key=lambda r: r["category"])
    assert [r["matched_keywords"] for r in by_category] == [["腹泻"], ["发热"]]
    assert {r["contact_phone"] for r in health} == {"+86138****8000"}
    for value in PERSONAL:
        assert value not in json.dumps(brain, ensure_ascii=False)
    assert "张明" not in json.dumps(health, ensure_ascii=False)
    for code, count in (("city_brain", 3), ("health_commission", 2)):
        (entry,) = provision_log(engine, code)
        assert entry["record_count"] == count and entry["final"] and entry["batch_number"] == 1
        assert entry["fields"] == list(load_recipient(code).fields)
        assert entry["purpose"] == load_recipient(code).purpose
        assert entry["receipt"]["batch_id"] == entry["batch_id"] and not entry["receipt"]["duplicate"]
    provisions = collect(engine)["provisions"]
    assert {code: (p["batches"], p["records"]) for code, p in provisions.items()} == {
        "city_brain": (1, 3),
        "health_commission": (1, 2),
    }


def test_a_rerun_of_the_window_sends_the_same_ids_and_has_one_effect_per_batch(
    engine: Engine, keyring: KeyRing, receiver: dict[str, RunningSimulator]
) -> None:
    until = ingest_orders(engine, keyring, count=2)  # 5 cases: batches of 2, 2 and 1
    brain = receiver["city_brain"]
    spec = with_batches_of("city_brain", 2)
    brain.faults("5xx", count=QUICK.attempts, after=1)  # the second batch fails every attempt
    sink = sink_for("city_brain", brain)
    with pytest.raises(TransientPartnerError):
        push(spec, sink, CITY_BRAIN, engine=engine, keyring=keyring, until=until)
    assert [e["batch_number"] for e in provision_log(engine, "city_brain")] == [1]

    resumed = push(spec, sink, CITY_BRAIN, engine=engine, keyring=keyring, until=until)
    assert (resumed["already_provided"], resumed["batches"], resumed["records"]) == (1, 2, 3)
    logged = provision_log(engine, "city_brain")
    assert [(e["batch_number"], e["record_count"], e["final"]) for e in logged] == [
        (1, 2, False),
        (2, 2, False),
        (3, 1, True),
    ]

    # The last receipt is lost before it is recorded: the next run sends the same batch again.
    with engine.begin() as conn:
        conn.execute(delete(ProvisionLog).where(ProvisionLog.batch_id == logged[-1]["batch_id"]))
    again = push(spec, sink, CITY_BRAIN, engine=engine, keyring=keyring, until=until + timedelta(hours=1))
    sink.close()
    assert (again["already_provided"], again["batches"], again["duplicates"]) == (2, 1, 1)

    batches = brain.batches()
    assert sorted(batches) == sorted(e["batch_id"] for e in logged)
    assert sum(b["records"] for b in batches.values()) == 5
    assert batches[logged[-1]["batch_id"]]["deliveries"] == 2
    assert len({r["case_id"] for r in received_records(brain)}) == 5
    assert [e["batch_id"] for e in provision_log(engine, "city_brain")] == [e["batch_id"] for e in logged]
    assert (
        push(
            spec,
            sink_for("city_brain", brain),
            CITY_BRAIN,
            engine=engine,
            keyring=keyring,
            until=until + timedelta(hours=1),
        )["batches"]
        == 0
    )


def test_a_5xx_then_recovery_delivers_with_nothing_lost(
    engine: Engine, keyring: KeyRing, receiver: dict[str, RunningSimulator]
) -> None:
    until = ingest_orders(engine, keyring)
    health = receiver["health_commission"]
    health.faults("5xx", count=2)
    sink = sink_for("health_commission", health)
    summary = push(
        partner("health_commission"), sink, HEALTH_COMMISSION, engine=engine, keyring=keyring, until=until
    )
    sink.close()
    assert summary["records"] == 2
    attempts = health.received()
    assert len(attempts) == 1 and attempts[0]["outcome"]["status"] == 200
    assert len(received_records(health)) == 2
    assert len(provision_log(engine, "health_commission")) == 1


def test_a_429_is_retried_after_the_seconds_it_asks_for(
    engine: Engine, keyring: KeyRing, receiver: dict[str, RunningSimulator]
) -> None:
    until = ingest_orders(engine, keyring)
    brain = receiver["city_brain"]
    brain.faults("429", count=1, retry_after=7)
    waits: list[float] = []
    sink = sink_for("city_brain", brain, sleep=waits.append)
    summary = push(partner("city_brain"), sink, CITY_BRAIN, engine=engine, keyring=keyring, until=until)
    sink.close()
    assert waits == [7.0]
    assert summary["records"] == 3 and len(brain.batches()) == 1


def test_a_window_ends_its_settle_time_before_the_run_so_pages_still_committing_wait(
    sqlite_engine: Engine, keyring: KeyRing, receiver: dict[str, RunningSimulator]
) -> None:
    until = ingest_orders(sqlite_engine, keyring)
    spec = partner("city_brain")
    early = until - spec.delivered().settle - timedelta(seconds=2)  # the cases were just recorded
    sink = sink_for("city_brain", receiver["city_brain"])
    first = push(spec, sink, CITY_BRAIN, engine=sqlite_engine, keyring=keyring, until=early)
    later = push(spec, sink, CITY_BRAIN, engine=sqlite_engine, keyring=keyring, until=until)
    sink.close()
    assert (first["records"], later["records"]) == (0, 3)
    assert later["windows"] == [
        {"start": "1970-01-01T00:00:00+00:00", "end": (until - spec.delivered().settle).isoformat()}
    ]


def test_a_refused_signature_fails_at_once_and_records_nothing(
    engine: Engine, keyring: KeyRing, receiver: dict[str, RunningSimulator]
) -> None:
    until = ingest_orders(engine, keyring)
    brain = receiver["city_brain"]
    sink = sink_for("city_brain", brain, secret="not-the-secret")
    with pytest.raises(PermanentPartnerError) as refused:
        push(partner("city_brain"), sink, CITY_BRAIN, engine=engine, keyring=keyring, until=until)
    sink.close()
    assert refused.value.status == 401
    assert [entry["outcome"] for entry in brain.received()] == [{"status": 401, "code": "BAD_SIGNATURE"}]
    assert provision_log(engine, "city_brain") == [] and brain.batches() == {}


@pytest.mark.parametrize("mode", ["bad_total", "oversized"])
def test_a_reply_that_is_not_a_receipt_fails_at_once_and_records_nothing(
    sqlite_engine: Engine, keyring: KeyRing, receiver: dict[str, RunningSimulator], mode: str
) -> None:
    until = ingest_orders(sqlite_engine, keyring)
    brain = receiver["city_brain"]
    brain.faults(mode, count=1, records=200_000)
    sink = sink_for("city_brain", brain)
    with pytest.raises(ContractError):
        push(partner("city_brain"), sink, CITY_BRAIN, engine=sqlite_engine, keyring=keyring, until=until)
    sink.close()
    assert provision_log(sqlite_engine, "city_brain") == []
    assert brain.armed()["count"] == 0, "asked once: a broken contract is not retried"


class _PreciseCityBrain(CityBrainRenderer):
    """A city-brain renderer with a regression: it forgets to coarsen the coordinates."""

    def render(self, case: Mapping[str, Any]) -> dict[str, Any]:
        record = super().render(case)
        record["lng"] = None if case.get("lng") is None else float(case["lng"]) + 0.001234
        return record


def test_a_feed_rule_a_batch_breaks_stops_the_push_before_anything_is_sent(
    engine: Engine, keyring: KeyRing, receiver: dict[str, RunningSimulator]
) -> None:
    until = ingest_orders(engine, keyring)
    with engine.begin() as conn:
        conn.execute(update(Case).values(lng=114.3051, lat=30.6012))
    brain = receiver["city_brain"]
    sink = sink_for("city_brain", brain)
    with pytest.raises(DataQualityError, match=r"city_brain_coarse_lng \(a longitude in the batch is finer"):
        push(partner("city_brain"), sink, _PreciseCityBrain(), engine=engine, keyring=keyring, until=until)
    sink.close()
    assert brain.received() == [] and provision_log(engine, "city_brain") == []
    with engine.connect() as conn:
        kept = dict(
            conn.execute(
                select(QualityResult.rule, QualityResult.success).where(
                    QualityResult.suite == "feed_city_brain"
                )
            ).all()
        )
    assert kept == {
        "city_brain_fields": True,
        "city_brain_coarse_lng": False,
        "city_brain_coarse_lat": True,
    }

    # The renderer as shipped passes the same rules, and the batch goes.
    sink = sink_for("city_brain", brain)
    try:
        assert (
            push(partner("city_brain"), sink, CITY_BRAIN, engine=engine, keyring=keyring, until=until)[
                "batches"
            ]
            == 1
        )
    finally:
        sink.close()
