"""The webhook inbox: one sealed row per delivery, idempotent on its id even under racing retries,
read back oldest first and marked processed in the caller's transaction."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, select, update

from casehub import inbox
from casehub.crypto import KeyRing
from casehub.errors import ConfigurationError
from casehub.inbox import LandOutcome
from casehub.pipeline import content_hash as pipeline_content_hash
from casehub.store.models import Base, InboundWebhook

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
APP = "neighborhood_app"
BODY = b'{"type":"report.created","data":{"reportId":"WL1","reporterPhone":"13800138000"}}'


def land(
    engine: Engine, ring: KeyRing, webhook_id: str, body: bytes = BODY, partner: str = APP
) -> LandOutcome:
    return inbox.land(engine, ring, partner, webhook_id, "report.created", body, NOW)


def rows(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(InboundWebhook).order_by(InboundWebhook.id)).mappings()]


def test_the_migration_creates_the_table_the_model_describes(engine: Engine) -> None:
    with engine.connect() as conn:
        drift = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert drift == []


def test_a_delivery_lands_sealed_and_opens_back_to_its_bytes(engine: Engine, keyring: KeyRing) -> None:
    assert land(engine, keyring, "msg_1") is LandOutcome.ACCEPTED
    [row] = rows(engine)
    assert row["partner"] == APP and row["webhook_id"] == "msg_1" and row["event_type"] == "report.created"
    assert row["state"] == "pending" and row["processed_at"] is None and row["batch_id"] is None
    assert row["received_at"] == NOW
    assert row["key_id"] == keyring.active
    assert b"13800138000" not in row["payload"] and BODY not in row["payload"]
    assert row["content_hash"] == inbox.content_hash(APP, BODY) == pipeline_content_hash(APP, BODY)
    [entry] = inbox.pending(engine, keyring, APP, limit=10)
    assert (entry.id, entry.webhook_id, entry.received_at, entry.body) == (row["id"], "msg_1", NOW, BODY)


def test_a_payload_moved_to_another_delivery_no_longer_opens(engine: Engine, keyring: KeyRing) -> None:
    land(engine, keyring, "msg_1")
    land(engine, keyring, "msg_2", b'{"other": true}')
    first, second = rows(engine)
    with engine.begin() as conn:
        conn.execute(
            update(InboundWebhook).where(InboundWebhook.id == second["id"]).values(payload=first["payload"])
        )
    with pytest.raises(ConfigurationError, match="does not open"):
        inbox.pending(engine, keyring, APP, limit=10)


def test_a_retry_lands_nothing_and_another_body_under_the_same_id_is_a_conflict(
    engine: Engine, keyring: KeyRing
) -> None:
    assert land(engine, keyring, "msg_1") is LandOutcome.ACCEPTED
    assert land(engine, keyring, "msg_1") is LandOutcome.DUPLICATE
    assert land(engine, keyring, "msg_1", BODY.replace(b"WL1", b"WL2")) is LandOutcome.CONFLICT
    assert land(engine, keyring, "msg_1", partner="other_app") is LandOutcome.ACCEPTED, "ids are per partner"
    assert [r["partner"] for r in rows(engine)] == [APP, "other_app"]


def test_a_retry_of_a_processed_delivery_is_still_a_duplicate(engine: Engine, keyring: KeyRing) -> None:
    land(engine, keyring, "msg_1")
    [entry] = inbox.pending(engine, keyring, APP, limit=10)
    with engine.begin() as conn:
        assert inbox.mark_processed(conn, [entry.id], "batch-1", NOW) == 1
    assert land(engine, keyring, "msg_1") is LandOutcome.DUPLICATE
    assert len(rows(engine)) == 1


def test_racing_retries_of_one_delivery_land_one_row(engine: Engine, keyring: KeyRing) -> None:
    land(engine, keyring, "warm-up")  # the ring's fingerprints are registered by the first write
    outcomes: list[LandOutcome] = []
    start = threading.Barrier(6)

    def deliver() -> None:
        start.wait()
        outcomes.append(land(engine, keyring, "msg_race"))

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == sorted([LandOutcome.ACCEPTED] + [LandOutcome.DUPLICATE] * 5)
    with engine.connect() as conn:
        count = conn.execute(
            select(func.count()).select_from(InboundWebhook).where(InboundWebhook.webhook_id == "msg_race")
        ).scalar_one()
    assert count == 1


def test_a_ring_the_store_was_not_written_with_lands_nothing(engine: Engine, keyring: KeyRing) -> None:
    land(engine, keyring, "msg_1")
    impostor = KeyRing.generate(keyring.active)
    with pytest.raises(ConfigurationError, match="does not match this store"):
        land(engine, impostor, "msg_2")
    assert [r["webhook_id"] for r in rows(engine)] == ["msg_1"]


def test_pending_is_oldest_first_per_partner_and_bounded(engine: Engine, keyring: KeyRing) -> None:
    for n in range(5):
        land(engine, keyring, f"msg_{n}", f'{{"n": {n}}}'.encode())
    land(engine, keyring, "msg_x", partner="other_app")
    entries = inbox.pending(engine, keyring, APP, limit=3)
    assert [e.webhook_id for e in entries] == ["msg_0", "msg_1", "msg_2"]
    assert [e.body for e in entries] == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']


def test_processed_deliveries_leave_pending_and_keep_their_first_batch(
    engine: Engine, keyring: KeyRing
) -> None:
    for n in range(3):
        land(engine, keyring, f"msg_{n}", f'{{"n": {n}}}'.encode())
    first = inbox.pending(engine, keyring, APP, limit=2)
    later = NOW + timedelta(minutes=5)
    with engine.begin() as conn:
        assert inbox.mark_processed(conn, [e.id for e in first], "batch-1", later) == 2
    with engine.begin() as conn:
        assert inbox.mark_processed(conn, [e.id for e in first], "batch-2", later) == 0
        assert inbox.mark_processed(conn, [], "batch-2", later) == 0
    assert [e.webhook_id for e in inbox.pending(engine, keyring, APP, limit=10)] == ["msg_2"]
    done = [r for r in rows(engine) if r["state"] == "processed"]
    assert {(r["batch_id"], r["processed_at"]) for r in done} == {("batch-1", later)}
    assert inbox.counts(engine) == {APP: {"pending": 1, "processed": 2}}


def test_marking_rolls_back_with_the_callers_transaction(engine: Engine, keyring: KeyRing) -> None:
    land(engine, keyring, "msg_1")
    [entry] = inbox.pending(engine, keyring, APP, limit=1)

    def failing_batch() -> None:
        with engine.begin() as conn:
            inbox.mark_processed(conn, [entry.id], "batch-1", NOW)
            raise RuntimeError("the batch failed after marking")

    with pytest.raises(RuntimeError):
        failing_batch()
    assert inbox.counts(engine) == {APP: {"pending": 1, "processed": 0}}


def test_counts_of_an_empty_inbox(engine: Engine) -> None:
    assert inbox.counts(engine) == {}
