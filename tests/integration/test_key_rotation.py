"""Key rotation on a store with a value in every sealed column, on SQLite and PostgreSQL: each
value is bound to its row and column, a rotation seals every one again under the new key, a
re-index moves every case to the new blind-index key while look-ups keep finding them, and
once the old keys are retired a ring without them reads and finds everything."""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, delete, event, func, insert, select, update

from casehub import credentials, inbox
from casehub.crypto import KeyRing
from casehub.districts import DistrictService
from casehub.errors import ConfigurationError
from casehub.keys import SEALED, held, reindex, retire, rotate, status
from casehub.pipeline import Pipeline
from casehub.store import migrate
from casehub.store.db import MIGRATIONS, prepare
from casehub.store.keys import hold_active, prove_keyring
from casehub.store.models import (
    Base,
    Case,
    CaseHistory,
    DistrictCredential,
    InboundWebhook,
    KeyFingerprint,
    OutboxEvent,
)
from connectors.hotline import MAPPER
from tests.keyed import APP, case_count, cases_of, key_ids, opened, orders, people, populate

REPORTERS = people(12)


class Stop(Exception):
    """Raised from a walk's progress callback: the walk stops there, as a killed one would."""


@pytest.fixture
def store(engine: Engine) -> tuple[Engine, KeyRing]:
    ring = KeyRing.generate()
    populate(engine, ring, REPORTERS)
    return engine, ring


def test_every_sealed_column_of_the_store_is_known_to_rotation() -> None:
    binary = {
        f"{table.name}.{column.name}"
        for table in Base.metadata.tables.values()
        for column in table.columns
        if column.type.python_type is bytes
    }
    assert binary == {name for spec in SEALED for name in spec.names()}


def test_every_sealed_value_is_bound_to_its_row_and_column(store: tuple[Engine, KeyRing]) -> None:
    engine, ring = store
    found = {f"{table}.{column}" for table, _, column in opened(engine, ring)}
    assert found == {name for spec in SEALED for name in spec.names()}  # a value in each column
    for spec in SEALED:
        table = spec.table
        names = [spec.row_id, spec.key_column, *spec.columns, *spec.binds]
        for column in spec.columns:
            with engine.connect() as conn:
                first, second = (
                    conn.execute(
                        select(*(table.c[n] for n in names)).where(table.c[column].is_not(None)).limit(2)
                    )
                    .mappings()
                    .all()
                )
            key = first[spec.key_column]
            assert ring.open(key, first[column], spec.binding(first, column))
            with pytest.raises(ConfigurationError, match="moved value"):
                ring.open(key, first[column], spec.binding(second, column))  # into another row
            for other in spec.columns:
                if other != column:
                    with pytest.raises(ConfigurationError, match="moved value"):
                        ring.open(key, first[column], spec.binding(first, other))  # another column


def test_a_ciphertext_copied_into_another_case_is_refused_where_the_case_is_read(
    store: tuple[Engine, KeyRing],
) -> None:
    engine, ring = store
    service = DistrictService(engine, ring)
    with engine.begin() as conn:
        dispatched = sorted(
            conn.scalars(select(OutboxEvent.case_id).where(OutboxEvent.partner == "district"))
        )
        first = conn.scalar(select(Case.reporter_phone).where(Case.case_id == dispatched[0]))
        conn.execute(update(Case).where(Case.case_id == dispatched[1]).values(reporter_phone=first))
    with pytest.raises(ConfigurationError, match="moved value"):
        service.dispatches("420102")


def test_a_rotation_seals_everything_again_and_a_ring_without_the_old_key_reads_it(
    store: tuple[Engine, KeyRing],
) -> None:
    engine, ring = store
    before = opened(engine, ring)
    rotated = ring.with_new_key()
    batches: list[tuple[str, int]] = []

    walk = rotate(engine, rotated, batch_size=5, on_batch=lambda table, done: batches.append((table, done)))

    assert walk.total == len(before) and walk.changed_meanwhile == 0
    assert ("raw_records", 5) in batches and ("cases", 15) in batches  # 5 cases, 3 values each
    assert set().union(*key_ids(engine).values()) == {"k2"}
    assert rotate(engine, rotated).total == 0  # nothing left: a second run changes nothing
    kept = retire(engine, rotated, "k1")
    assert set(kept.keys) == {"k2"}
    assert opened(engine, kept) == before
    with engine.connect() as conn:
        tokens = dict(conn.execute(select(Case.case_id, Case.reporter_phone)).all())
    assert all(token is not None for token in tokens.values())
    for person in REPORTERS:
        assert len(cases_of(engine, kept, person.e164)) == 1
    with pytest.raises(ConfigurationError, match="lacks key 'k2'"):
        Pipeline(engine, MAPPER, ring).ingest(orders(people(1), start=500))  # the ring from before
    with pytest.raises(ConfigurationError, match="makes key 'k1' active, which this store retired"):
        Pipeline(engine, MAPPER, dataclasses.replace(rotated, active="k1")).ingest(
            orders(people(1), start=500)
        )
    assert case_count(engine) == len(REPORTERS)


def test_the_products_own_readers_open_what_was_rotated(store: tuple[Engine, KeyRing]) -> None:
    engine, ring = store
    listed = _listings(engine, ring)
    landed = [entry.body for entry in inbox.pending(engine, ring, APP, limit=10)]
    with engine.connect() as conn:
        usernames = list(conn.scalars(select(DistrictCredential.key_id)))
    passwords = [credentials.soap_password(engine, ring, username) for username in usernames]
    rotated = ring.with_new_key()
    rotate(engine, rotated)
    kept = retire(engine, rotated, "k1")

    assert listed and _listings(engine, kept) == listed
    assert [entry.body for entry in inbox.pending(engine, kept, APP, limit=10)] == landed
    assert [credentials.soap_password(engine, kept, username) for username in usernames] == passwords


def _listings(engine: Engine, ring: KeyRing) -> list[dict[str, object]]:
    """What the district is shown of its dispatches: outbox events and cases, reporters opened."""
    return [dispatch.as_dict() for dispatch in DistrictService(engine, ring).dispatches("420102")]


def test_a_rotation_stopped_part_way_is_taken_up_by_the_next(store: tuple[Engine, KeyRing]) -> None:
    engine, ring = store
    before = opened(engine, ring)
    rotated = ring.with_new_key()

    def stop_in_cases(table: str, done: int) -> None:
        if table == "cases":
            raise Stop

    with pytest.raises(Stop):
        rotate(engine, rotated, batch_size=4, on_batch=stop_in_cases)
    part = key_ids(engine)
    assert part["raw_records"] == {"k2"} and part["cases"] == {"k1", "k2"} and part["outbox"] == {"k1"}
    assert opened(engine, rotated) == before  # each value under one key or the other, all open

    rotate(engine, rotated, batch_size=4)
    assert set().union(*key_ids(engine).values()) == {"k2"}
    assert opened(engine, retire(engine, rotated, "k1")) == before


def test_a_row_a_writer_changes_between_a_batchs_read_and_its_write_is_left_to_the_writer(
    store: tuple[Engine, KeyRing],
) -> None:
    engine, ring = store
    before = opened(engine, ring)
    rotated = ring.with_new_key()
    with engine.connect() as conn:
        first = conn.scalar(select(Case.source_id).order_by(Case.case_id).limit(1))
    newer = next(o for o in orders(REPORTERS) if o["GDBH"] == first) | {"GXSJ": "2026-11-20 09:30:00"}
    writer = prepare(create_engine(engine.url))
    written: list[int] = []

    def a_new_version_lands(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not written and statement.startswith("UPDATE") and "reporter_name" in statement:
            written.append(Pipeline(writer, MAPPER, rotated).ingest([newer]).accepted)

    event.listen(engine, "before_cursor_execute", a_new_version_lands)
    try:
        walk = rotate(engine, rotated, batch_size=len(REPORTERS))
    finally:
        event.remove(engine, "before_cursor_execute", a_new_version_lands)
        writer.dispose()

    assert written == [1] and walk.changed_meanwhile == 1
    assert walk.done["cases"] == 3 * (len(REPORTERS) - 1)  # the writer sealed that case's three
    assert set().union(*key_ids(engine).values()) == {"k2"}
    after = opened(engine, rotated)
    assert {k: v for k, v in after.items() if k[0] == "cases"} == {
        k: v for k, v in before.items() if k[0] == "cases"
    }


def test_a_rotation_leaves_a_row_rewritten_between_its_read_and_its_write(
    store: tuple[Engine, KeyRing],
) -> None:
    engine, ring = store
    rotated = ring.with_new_key()
    with engine.connect() as conn:
        first = conn.scalar(select(Case.source_id).order_by(Case.case_id).limit(1))
    newer = next(o for o in orders(REPORTERS) if o["GDBH"] == first) | {"GXSJ": "2026-11-20 09:30:00"}
    # What a pipeline with the ring from before writes while the rotation holds its rows: a
    # new version of the first case, sealed under k1 again.
    Pipeline(engine, MAPPER, ring).ingest([newer])
    rotate(engine, rotated, batch_size=3)
    assert status(engine, rotated)["to_rotate"] == 0
    assert set().union(*key_ids(engine).values()) == {"k2"}


def test_a_reindex_moves_every_case_and_look_ups_find_them_throughout(
    store: tuple[Engine, KeyRing],
) -> None:
    engine, ring = store
    rotated = ring.with_new_key(index=True)
    seen: list[list[str]] = []

    def look_up(table: str, done: int) -> None:
        seen.append([case for person in REPORTERS for case in cases_of(engine, rotated, person.e164)])
        if done == 4:
            raise Stop

    with pytest.raises(Stop):
        reindex(engine, rotated, batch_size=2, on_batch=look_up)
    assert held(engine)["i1"]["cases.reporter_fingerprint"] == len(REPORTERS) - 4
    assert all(len(found) == len(REPORTERS) for found in seen)

    # A new version of a case the re-index has not reached: the same reporter, indexed anew.
    with engine.connect() as conn:
        waiting = conn.execute(
            select(Case.source_id, Case.version).where(Case.reporter_index_key_id == "i1").limit(1)
        ).one()
    number = int(waiting.source_id[-7:])
    person = REPORTERS[number]
    update_of = orders([person], start=number)[0] | {"GXSJ": "2026-11-20 09:40:00"}
    assert Pipeline(engine, MAPPER, rotated).ingest([update_of]).accepted == 1
    with engine.connect() as conn:
        changes = conn.scalar(
            select(CaseHistory.changes)
            .join(Case, Case.case_id == CaseHistory.case_id)
            .where(Case.source_id == waiting.source_id, CaseHistory.version == waiting.version + 1)
        )
    assert "reporter" not in changes

    reindex(engine, rotated)
    assert status(engine, rotated)["to_reindex"] == 0
    kept = retire(engine, rotated, "i1")
    assert list(kept.index_keys) == ["i2"]
    for reporter in REPORTERS:
        assert len(cases_of(engine, kept, reporter.e164)) == 1
    assert len({kept.blind_index(p.e164) for p in REPORTERS}) == len(REPORTERS)
    # The fingerprints were made again under i2: the next version with the same reporter is no change.
    again = orders([person], start=number)[0] | {"GXSJ": "2026-11-20 09:50:00"}
    assert Pipeline(engine, MAPPER, kept).ingest([again]).accepted == 1
    with engine.connect() as conn:
        last = conn.scalar(
            select(CaseHistory.changes)
            .join(Case, Case.case_id == CaseHistory.case_id)
            .where(Case.source_id == waiting.source_id)
            .order_by(CaseHistory.version.desc())
            .limit(1)
        )
    assert "reporter" not in last and case_count(engine) == len(REPORTERS)


def test_a_key_that_still_holds_values_or_is_active_is_not_retired(store: tuple[Engine, KeyRing]) -> None:
    engine, ring = store
    rotated = ring.with_new_key()
    with pytest.raises(
        ConfigurationError, match=r"key 'k1' still holds values \(cases.reporter_id_number 12"
    ):
        retire(engine, rotated, "k1")
    with pytest.raises(ConfigurationError, match="active"):
        retire(engine, rotated, "k2")
    with pytest.raises(ConfigurationError, match="no key 'k9'"):
        retire(engine, rotated, "k9")
    with engine.connect() as conn:
        assert conn.scalar(select(KeyFingerprint.retired_at).where(KeyFingerprint.key_id == "k1")) is None


def test_a_process_that_proved_its_ring_before_a_retirement_seals_nothing_under_the_retired_key(
    store: tuple[Engine, KeyRing],
) -> None:
    """A long-running writer (a DAG task's pipeline, the gateway's inbox) left with the ring of
    before a rotation is refused at its next write once the old key is retired: a value sealed
    under it would open for no ring that is handed out any more."""
    engine, ring = store
    early = Pipeline(engine, MAPPER, ring)
    assert early.ingest(orders(people(1), start=500)).accepted == 1  # proven, under k1
    rotated = ring.with_new_key()
    rotate(engine, rotated)
    kept = retire(engine, rotated, "k1")
    with pytest.raises(ConfigurationError, match="makes key 'k1' active, which this store retired"):
        early.ingest(orders(people(1), start=501))
    body = json.dumps({"reportId": "WLL20261120009999"}).encode()
    with pytest.raises(ConfigurationError, match="makes key 'k1' active, which this store retired"):
        inbox.land(engine, ring, APP, "msg_after_retirement", "report.created", body, datetime.now(UTC))
    assert case_count(engine) == len(REPORTERS) + 1
    assert held(engine).get("k1") is None
    assert len(opened(engine, kept)) == len(opened(engine, rotated))  # all of it opens without k1


@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_a_retirement_waits_for_a_writer_still_sealing_under_the_key_and_then_refuses(
    store: tuple[Engine, KeyRing],
) -> None:
    """The writer's transaction began before the retirement and seals under k1 after the
    rotation's last batch: the retirement waits for it, sees the value and is refused."""
    engine, ring = store
    rotated = ring.with_new_key()
    rotate(engine, rotated)
    outcome: list[BaseException | KeyRing] = []
    with engine.connect() as conn, conn.begin():
        hold_active(conn, ring)
        retiring = threading.Thread(target=lambda: outcome.append(_retire_or_error(engine, rotated)))
        retiring.start()
        retiring.join(timeout=1.0)
        assert retiring.is_alive(), "the retirement must wait for the writer holding k1"
        conn.execute(
            insert(InboundWebhook).values(
                partner=APP,
                webhook_id="msg_sealed_meanwhile",
                event_type="report.created",
                received_at=datetime.now(UTC),
                content_hash="0" * 64,
                key_id="k1",
                payload=ring.seal(b"{}", inbox.binding(APP, "msg_sealed_meanwhile")),
                state=inbox.PENDING,
            )
        )
    retiring.join(timeout=30)
    assert len(outcome) == 1 and isinstance(outcome[0], ConfigurationError)
    assert "key 'k1' still holds values (webhook_inbox.payload 1)" in str(outcome[0])
    with engine.connect() as conn:
        assert conn.scalar(select(KeyFingerprint.retired_at).where(KeyFingerprint.key_id == "k1")) is None


def _retire_or_error(engine: Engine, ring: KeyRing) -> BaseException | KeyRing:
    try:
        return retire(engine, ring, "k1")
    except ConfigurationError as error:
        return error


def test_a_ring_without_a_key_the_store_still_uses_is_refused_in_one_line(
    store: tuple[Engine, KeyRing],
) -> None:
    engine, ring = store
    rotated = ring.with_new_key()
    prove_keyring(engine, rotated, datetime.now(UTC))  # the store now knows k2
    for stale in (ring, rotated.without("k1").with_new_key(index=True).without("i1")):
        with pytest.raises(ConfigurationError) as refused:
            Pipeline(engine, MAPPER, stale).ingest(orders(people(1), start=500))
        assert "\n" not in str(refused.value) and "lacks" in str(refused.value)
    assert case_count(engine) == len(REPORTERS)


def test_a_store_written_before_index_keys_rotated_reads_with_its_ring(engine: Engine) -> None:
    ring = KeyRing.generate()
    legacy = KeyRing.from_json(
        json.dumps(
            {
                "active": "k1",
                "keys": {"k1": base64.b64encode(ring.keys["k1"]).decode()},
                "index_key": base64.b64encode(ring.index_keys["i1"]).decode(),
            }
        )
    )
    populate(engine, legacy, REPORTERS[:3])
    with engine.begin() as conn:
        conn.execute(delete(KeyFingerprint))  # as before fingerprints were kept
        assert set(conn.scalars(select(Case.reporter_index_key_id))) == {"index"}
    rotated = legacy.with_new_key(index=True)
    assert rotated.index_active == "i2"
    reindex(engine, rotated)
    assert list(retire(engine, rotated, "index").index_keys) == ["i2"]
    for person in REPORTERS[:3]:
        assert len(cases_of(engine, rotated.without("index"), person.e164)) == 1


def test_a_store_of_before_index_key_ids_is_migrated_to_its_one_index_key(engine: Engine) -> None:
    """Migration 0009 on a store holding cases: each is under the index key `index`, the one a
    ring of that time has, and that ring goes on finding them."""
    ring = KeyRing.generate()
    legacy = KeyRing.from_json(
        json.dumps(
            {
                "active": "k1",
                "keys": {"k1": base64.b64encode(ring.keys["k1"]).decode()},
                "index_key": base64.b64encode(ring.index_keys["i1"]).decode(),
            }
        )
    )
    populate(engine, legacy, REPORTERS[:3])
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0008")
    migrate(engine)
    with engine.connect() as conn:
        assert set(conn.scalars(select(Case.reporter_index_key_id))) == {"index"}
        assert conn.scalar(select(func.count()).where(KeyFingerprint.retired_at.is_not(None))) == 0
    for person in REPORTERS[:3]:
        assert len(cases_of(engine, legacy, person.e164)) == 1
    assert Pipeline(engine, MAPPER, legacy).ingest(orders(people(1), start=500)).accepted == 1
