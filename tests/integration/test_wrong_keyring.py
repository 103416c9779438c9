"""A key ring that is not the store's is a one-line error at every entry point that writes — the
DAG jobs, the pushes, the gateway, the workflow, key management — and nothing is written: the
partner is not called, no row changes, no key is registered. (The CLI's commands are checked in
test_keys_cli.py, the webhook intake's in test_gateway_webhooks.py.)"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from casehub import credentials, inbox, jobs, keys
from casehub.crypto import KeyRing
from casehub.errors import ConfigurationError
from casehub.gateway.app import create_app
from casehub.partners import load_connector, partner
from casehub.pipeline import Pipeline
from casehub.ports import Window
from casehub.pushes import push
from casehub.store.models import Base, OutboxEvent
from casehub.workflow import Actor, Workflow
from connectors.hotline import MAPPER
from tests.keyed import APP, NOW, people, populate


class Untouched:
    """A partner the hub must not reach: any call fails the test."""

    channel = "hotline"
    partner = "urban_mgmt"
    recipient = "city_brain"

    def pages(self, window: Window) -> Iterator[list[dict[str, Any]]]:
        raise AssertionError("the partner was called")

    def send(self, event: object) -> object:
        raise AssertionError("the partner was called")

    def deliver(self, batch: object) -> object:
        raise AssertionError("the partner was called")

    def close(self) -> None:
        pass


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in key order: what "nothing was written" is checked against."""
    with engine.connect() as conn:
        return {
            table.name: [tuple(row) for row in conn.execute(select(table).order_by(*table.primary_key))]
            for table in Base.metadata.sorted_tables
        }


@pytest.fixture
def store(engine: Engine) -> tuple[Engine, KeyRing, KeyRing]:
    """A populated store, its ring, and an impostor: the same key ids, other keys."""
    ring = KeyRing.generate()
    populate(engine, ring, people(4))
    return engine, ring, KeyRing.generate(ring.active, ring.index_active)


def _entry_points(engine: Engine, case_id: str) -> dict[str, Callable[[KeyRing], object]]:
    until = datetime.now(UTC)
    untouched = Untouched()
    district = Actor("district", "420102")
    accept = {"operation_id": "op-1", "at": until.isoformat()}
    return {
        "ingest": lambda ring: jobs.ingest(
            partner("hotline"), untouched, MAPPER, engine=engine, keyring=ring, until=until
        ),
        "process_webhooks": lambda ring: jobs.process_webhooks(
            partner(APP), load_connector(partner(APP)).MAPPER, engine=engine, keyring=ring
        ),
        "deliver_outbox": lambda ring: jobs.deliver_outbox(
            partner("urban_mgmt"), untouched, engine=engine, keyring=ring
        ),
        "supervise": lambda ring: jobs.supervise(engine=engine, keyring=ring),
        "pull_progress": lambda ring: jobs.pull_progress(
            partner("urban_mgmt"), untouched, dict, engine=engine, keyring=ring, until=until
        ),
        "quality_daily": lambda ring: jobs.quality_daily(engine, ring, date(2026, 11, 20)),
        "push": lambda ring: push(
            partner("city_brain"),
            untouched,
            load_connector(partner("city_brain")).RENDERER,
            engine=engine,
            keyring=ring,
            until=until,
        ),
        "replay": lambda ring: Pipeline(engine, MAPPER, ring).replay(),
        "district action": lambda ring: Workflow(engine, ring).act(district, case_id, "accept", accept),
        "district credential": lambda ring: credentials.issue(engine, ring, "420102", kind="soap"),
        "webhook intake": lambda ring: inbox.land(engine, ring, APP, "msg_9", "report.created", b"{}", NOW),
        "keys rotate": lambda ring: keys.rotate(engine, ring.with_new_key()),
        "keys reindex": lambda ring: keys.reindex(engine, ring.with_new_key(index=True)),
        "keys retire": lambda ring: keys.retire(engine, ring.with_new_key(), "k1"),
    }


def test_every_entry_point_refuses_another_ring_in_one_line_and_writes_nothing(
    store: tuple[Engine, KeyRing, KeyRing],
) -> None:
    engine, _, impostor = store
    with engine.connect() as conn:
        case_id = conn.scalar(select(OutboxEvent.case_id).where(OutboxEvent.partner == "district"))
    before = snapshot(engine)
    for name, call in _entry_points(engine, str(case_id)).items():
        with pytest.raises(ConfigurationError) as refused:
            call(impostor)
        message = str(refused.value)
        assert "\n" not in message and "does not match this store" in message, (name, message)
        assert snapshot(engine) == before, name


def test_the_gateway_answers_503_to_a_district_under_another_ring(
    store: tuple[Engine, KeyRing, KeyRing], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, ring, impostor = store
    issued = credentials.issue(engine, ring, "420102")
    with engine.connect() as conn:
        case_id = conn.scalar(select(OutboxEvent.case_id).where(OutboxEvent.partner == "district"))
    before = snapshot(engine)
    monkeypatch.delenv("CASEHUB_KEYRING_FILE", raising=False)
    monkeypatch.setenv("CASEHUB_KEYRING", impostor.to_json())
    client = TestClient(create_app(engine))
    headers = {"Authorization": f"Bearer {issued.api_key}"}
    listing = client.get("/districts/420102/dispatches", headers=headers)
    accepted = client.post(
        f"/districts/420102/cases/{case_id}/accept",
        headers=headers,
        json={"operation_id": "op-1", "at": datetime.now(UTC).isoformat()},
    )
    for answer in (listing, accepted):
        assert answer.status_code == 503, answer.text
        assert answer.json()["type"].endswith("not-configured")
    assert snapshot(engine) == before
    monkeypatch.setenv("CASEHUB_KEYRING", ring.to_json())
    assert (
        TestClient(create_app(engine)).get("/districts/420102/dispatches", headers=headers).status_code == 200
    )
