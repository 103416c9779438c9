"""`casehub provisions list`: after real pushes to the city brain's and the health commission's
simulators, what each recipient was given, batch by batch, as the provision log holds it — and
nothing personal; an unknown recipient is one line and exit 2."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from casehub.cli import main
from casehub.crypto import KeyRing
from casehub.partners import load_connector, partner
from casehub.pipeline import Pipeline
from casehub.pushes import push
from casehub.recipients import load_recipient
from connectors.city_brain.transport import CityBrainSink
from connectors.health_commission.transport import HealthCommissionSink
from connectors.hotline import MAPPER
from connectors.kit import RetryPolicy
from connectors.kit.sink import Destination
from simulators.testing import RunningSimulator
from tests.samples import work_order
from tests.simulated import fresh, running

SINKS = {"city_brain": CityBrainSink, "health_commission": HealthCommissionSink}


@pytest.fixture(scope="module")
def receivers() -> Iterator[dict[str, RunningSimulator]]:
    with running(SINKS) as started:
        yield started


@pytest.fixture
def pushed(
    engine: Engine, keyring: KeyRing, receivers: dict[str, RunningSimulator], monkeypatch: pytest.MonkeyPatch
) -> Engine:
    """Three cases pushed to both recipients: two batches for the city brain, one for the
    health commission (the one health-related case)."""
    orders = [
        work_order(),
        work_order(GDBH="WH20261120000002", YWLBDM="HL0802", YWLBMC="疫情防控", BT="小区多人发热"),
        work_order(GDBH="WH20261120000003"),
    ]
    assert Pipeline(engine, MAPPER, keyring).ingest(orders).accepted == 3
    until = datetime.now(UTC) + timedelta(hours=1)
    for code, size in (("city_brain", 2), ("health_commission", 10)):
        spec = partner(code)
        spec = dataclasses.replace(spec, deliver=dataclasses.replace(spec.delivered(), batch_size=size))
        stand_in = spec.simulator
        assert stand_in is not None
        simulator = fresh(receivers[code])
        destination = Destination(
            url=simulator.url + stand_in.path, login=stand_in.login, secret=stand_in.secret, timeout=10
        )
        sink = SINKS[code](destination, retry=RetryPolicy(attempts=2, backoff=0.001, max_backoff=0.002))
        try:
            push(spec, sink, load_connector(spec).RENDERER, engine=engine, keyring=keyring, until=until)
        finally:
            sink.close()
    monkeypatch.setenv("CASEHUB_DB_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("COLUMNS", "250")
    return engine


def test_the_provision_log_as_the_operator_reads_it(
    pushed: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["provisions", "list", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [(e["recipient"], e["batch_number"], e["records"], e["final"]) for e in entries] == [
        ("health_commission", 1, 1, True),
        ("city_brain", 2, 1, True),
        ("city_brain", 1, 2, False),
    ]
    for entry in entries:
        contract = load_recipient(entry["recipient"])
        assert entry["purpose"] == contract.purpose and entry["fields"] == list(contract.fields)
        assert entry["window_start"] < entry["window_end"] and entry["pushed_at"]
        assert entry["receipt"]["batch_id"] == entry["batch_id"]

    assert main(["provisions", "list", "--recipient", "city_brain", "--json"]) == 0
    assert {e["recipient"] for e in json.loads(capsys.readouterr().out)} == {"city_brain"}

    assert main(["provisions", "list"]) == 0
    shown = capsys.readouterr().out
    for heading in ("pushed at", "recipient", "purpose", "batch", "records", "window", "fields"):
        assert heading in shown
    assert "health_commission" in shown and "(last)" in shown and "contact_phone" in shown
    for personal in ("张明", "13800138000", "解放大道1000号"):
        assert personal not in shown


def test_an_unknown_recipient_is_one_line_and_exit_2(
    pushed: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["provisions", "list", "--recipient", "city_brian"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert "no recipient 'city_brian'" in err and "city_brain" in err and "health_commission" in err
