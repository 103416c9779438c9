"""The store's guards: a wrong key ring is refused before anything is written, a refused value
costs only its record and is never quoted in a log, and an unreachable store is transient."""

from __future__ import annotations

import dataclasses
import logging
import traceback
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, delete, func, select

from casehub.contract import CaseContract
from casehub.crypto import KeyRing
from casehub.errors import ConfigurationError, Reason, StoreUnavailable, TransientError
from casehub.jobs import ingest
from casehub.partners import partner
from casehub.pipeline import Pipeline
from casehub.ports import Window
from casehub.reference import Reference
from casehub.stats import collect
from casehub.store import Case, Quarantine, RawRecord
from casehub.store.bulk import _columns, _copy
from casehub.store.db import StoreRejected, prepare, store_errors
from casehub.store.models import KeyFingerprint
from connectors.hotline import MAPPER
from tests.samples import work_order

MARKER = "联系电话13912345678标记"
SERVER_LOG = Path("/var/log/postgresql/postgresql-15-main.log")


def _raw_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(RawRecord)) or 0)


def _ring_like(ring: KeyRing, **changes: Any) -> KeyRing:
    """A ring with `ring`'s key ids and fresh keys, but for those in `changes`."""
    fresh = KeyRing.generate(ring.active, ring.index_active)
    return dataclasses.replace(fresh, **changes)


class TestKeyRing:
    def test_another_ring_with_the_same_key_id_is_refused_before_anything_is_written(
        self, engine: Engine, keyring: KeyRing
    ) -> None:
        Pipeline(engine, MAPPER, keyring).ingest([work_order()])
        impostor = _ring_like(keyring, index_keys=keyring.index_keys)
        with pytest.raises(ConfigurationError) as refused:
            Pipeline(engine, MAPPER, impostor).ingest([work_order(GDBH="WH20261120000009")])
        message = str(refused.value)
        assert "\n" not in message and repr(keyring.active) in message
        assert _raw_count(engine) == 1
        with pytest.raises(ConfigurationError):
            Pipeline(engine, MAPPER, impostor).replay()

    def test_another_blind_index_key_is_refused(self, engine: Engine, keyring: KeyRing) -> None:
        Pipeline(engine, MAPPER, keyring).ingest([work_order()])
        other = _ring_like(keyring, keys=keyring.keys)
        with pytest.raises(ConfigurationError, match="blind-index key"):
            Pipeline(engine, MAPPER, other).ingest([work_order(GDBH="WH20261120000009")])
        assert _raw_count(engine) == 1

    def test_a_rotated_ring_is_accepted_and_its_new_key_remembered(
        self, engine: Engine, keyring: KeyRing
    ) -> None:
        Pipeline(engine, MAPPER, keyring).ingest([work_order()])
        rotated = keyring.with_new_key()
        assert Pipeline(engine, MAPPER, rotated).ingest([work_order(GDBH="WH20261120000009")]).accepted == 1
        with engine.connect() as conn:
            known = {
                tuple(row) for row in conn.execute(select(KeyFingerprint.key_id, KeyFingerprint.purpose))
            }
        assert known == {(keyring.active, "seal"), ("k2", "seal"), (keyring.index_active, "index")}
        assert collect(engine)["reconciled"]

    def test_a_store_written_before_fingerprints_is_proved_on_its_data(
        self, engine: Engine, keyring: KeyRing
    ) -> None:
        Pipeline(engine, MAPPER, keyring).ingest([work_order()])
        with engine.begin() as conn:
            conn.execute(delete(KeyFingerprint))
        with pytest.raises(ConfigurationError, match="does not open"):
            Pipeline(engine, MAPPER, _ring_like(keyring)).ingest([work_order(GDBH="WH20261120000009")])
        same_keys_other_index = _ring_like(keyring, keys=keyring.keys)
        with pytest.raises(ConfigurationError, match="blind-index key"):
            Pipeline(engine, MAPPER, same_keys_other_index).ingest([work_order(GDBH="WH20261120000009")])
        assert _raw_count(engine) == 1
        assert Pipeline(engine, MAPPER, keyring).ingest([work_order(GDBH="WH20261120000009")]).accepted == 1

    def test_the_job_refuses_the_ring_before_calling_the_partner(
        self, engine: Engine, keyring: KeyRing
    ) -> None:
        Pipeline(engine, MAPPER, keyring).ingest([work_order()])

        class Untouched:
            channel = "hotline"
            called = False

            def pages(self, window: Window) -> Iterator[list[dict[str, Any]]]:
                self.called = True
                yield [work_order(GDBH="WH20261120000009")]

            def close(self) -> None:
                pass

        source = Untouched()
        with pytest.raises(ConfigurationError):
            ingest(
                partner("hotline"),
                source,
                MAPPER,
                engine=engine,
                keyring=_ring_like(keyring),
                until=datetime.now(UTC),
            )
        assert not source.called


class _Permissive(CaseContract):
    """A contract that lets everything through, standing in for a check that missed a limit."""

    def problems(self, case: Mapping[str, Any]) -> list[Reason]:
        return []


class _LongAddress:
    """The hotline mapper, but with an address far over its column, holding a phone number."""

    channel = MAPPER.channel
    id_field = MAPPER.id_field
    updated_field = MAPPER.updated_field

    def key(self, raw: Mapping[str, Any]) -> Any:
        return MAPPER.key(raw)

    def to_case(
        self, raw: Mapping[str, Any], reference: Reference, *, received_at: datetime
    ) -> dict[str, Any]:
        case = MAPPER.to_case(raw, reference, received_at=received_at)
        if raw["GDBH"].endswith("7"):
            case["address"] = MARKER * 60
        return case


def _server_log_size() -> int | None:
    try:
        return SERVER_LOG.stat().st_size
    except OSError:
        return None


def _server_log_since(size: int | None) -> str:
    if size is None:
        return ""
    with SERVER_LOG.open("rb") as handle:
        handle.seek(size)
        return handle.read().decode("utf-8", "replace")


def test_a_value_the_store_would_refuse_costs_only_its_record_and_is_in_no_log(
    engine: Engine, keyring: KeyRing, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    before = _server_log_size()
    page = [work_order(GDBH=f"WH2026112000000{n}") for n in range(1, 10)]

    result = Pipeline(engine, _LongAddress(), keyring, contract=_Permissive()).ingest(page)

    assert (result.received, result.accepted, result.quarantined) == (9, 8, 1)
    with engine.connect() as conn:
        reasons = conn.scalar(select(Quarantine.reasons))
        assert conn.scalar(select(func.count()).select_from(Case)) == 8
    assert [r["code"] for r in reasons] == ["store_rejected"]
    assert collect(engine)["reconciled"]
    captured = capsys.readouterr()
    for text in (caplog.text, captured.out, captured.err, str(reasons), _server_log_since(before)):
        assert MARKER not in text
    assert "splitting it to find the record" in caplog.text


def test_a_copy_error_is_raised_without_the_value_and_the_server_does_not_log_it(
    postgres_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    before = _server_log_size()
    table = Case.__table__
    row = {"case_id": "c1", "address": MARKER * 60}
    with pytest.raises(StoreRejected) as refused, store_errors(), postgres_engine.begin() as conn:
        _copy(conn, table.name, _columns(table, [row]), [row])  # type: ignore[arg-type]
    printed = "".join(traceback.format_exception(refused.value))
    assert refused.value.sqlstate == "22001"
    assert MARKER not in printed and MARKER not in caplog.text
    if before is None:
        pytest.skip(f"the server log {SERVER_LOG} cannot be read here; the raised error was checked")
    logged = _server_log_since(before)
    assert "22001" in logged or "value too long" in logged, "the refusal itself is logged"
    assert MARKER not in logged


def test_an_unreachable_store_is_transient_and_says_so_without_its_url(keyring: KeyRing) -> None:
    dead = prepare(create_engine("postgresql+psycopg://casehub:s3cret@127.0.0.1:9/casehub"))
    try:
        with pytest.raises(StoreUnavailable) as unavailable:
            Pipeline(dead, MAPPER, keyring).ingest([work_order()])
    finally:
        dead.dispose()
    assert isinstance(unavailable.value, TransientError)
    printed = "".join(traceback.format_exception(unavailable.value))
    assert "s3cret" not in printed and "cannot be reached" in printed


def test_json_values_land_as_the_partner_sent_them_even_an_integer_beyond_64_bits(engine: Engine) -> None:
    """A partner's JSON may carry integers of any size; the bulk writer keeps them exactly."""
    from sqlalchemy import JSON, Column, MetaData, String, Table

    from casehub.store.bulk import insert_rows

    receipts = Table(
        "receipts_of_a_test", MetaData(), Column("id", String(8), primary_key=True), Column("doc", JSON)
    )
    receipts.create(engine)
    sent = [
        {"id": "big", "doc": {"ticket": 2**70, "note": "已受理", "at": None}},
        {"id": "plain", "doc": [1, "二", {"3": True}]},
    ]
    with engine.begin() as conn:
        insert_rows(conn, receipts, sent)
    with engine.connect() as conn:
        stored = {key: doc for key, doc in conn.execute(select(receipts.c.id, receipts.c.doc))}
    assert stored == {"big": sent[0]["doc"], "plain": sent[1]["doc"]}


def _check_beside_an_uncommitted_registration(
    engine: Engine, first: KeyRing, second: KeyRing
) -> BaseException | None:
    """`second` checked while `first`'s registration of the same key ids is not yet committed:
    the second check provably waits on the first's lock, then the first commits."""
    import threading

    from sqlalchemy import text

    from casehub.store.keys import check_keyring

    outcome: list[BaseException | None] = []

    def later() -> None:
        try:
            with store_errors(), engine.begin() as conn:
                check_keyring(conn, second, datetime.now(UTC))
            outcome.append(None)
        except BaseException as error:  # noqa: BLE001 - handed to the test
            outcome.append(error)

    with engine.connect() as watcher, engine.begin() as conn:
        check_keyring(conn, first, datetime.now(UTC))
        thread = threading.Thread(target=later)
        thread.start()
        waiting = text(
            "select count(*) from pg_stat_activity"
            " where wait_event_type = 'Lock' and datname = current_database()"
        )
        for _ in range(500):
            found = watcher.execute(waiting).scalar()
            watcher.commit()  # the activity view is a snapshot per transaction
            if found:
                break
            threading.Event().wait(0.02)
        else:
            pytest.fail("the second check never waited on the first registration")
    thread.join(timeout=30)
    return outcome[0]


def test_two_workers_registering_the_same_keys_at_once_both_start(postgres_engine: Engine) -> None:
    ring = KeyRing.generate()
    assert _check_beside_an_uncommitted_registration(postgres_engine, ring, ring) is None
    with postgres_engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(KeyFingerprint)) == len(ring.fingerprints())


def test_a_different_ring_registering_at_the_same_moment_is_still_refused(postgres_engine: Engine) -> None:
    ring = KeyRing.generate()
    other = _ring_like(ring)  # the same key ids, other keys
    refused = _check_beside_an_uncommitted_registration(postgres_engine, ring, other)
    assert isinstance(refused, ConfigurationError)
    assert "does not match this store" in str(refused)
