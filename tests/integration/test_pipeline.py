"""The pipeline against a real store, on SQLite and on PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from types import MappingProxyType

import pytest
from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.exc import IntegrityError

from casehub.crypto import KeyRing, associated_data
from casehub.pipeline import Pipeline
from casehub.reference import load_reference
from casehub.stats import collect
from casehub.store import Case, CaseHistory, Quarantine, RawRecord
from casehub.store.models import Batch
from connectors.hotline import MAPPER
from tests.samples import work_order


def _count(engine: Engine, model: type) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(model)) or 0)


def test_page_lands_accepts_and_quarantines_with_reasons(engine: Engine, keyring: KeyRing) -> None:
    pipeline = Pipeline(engine, MAPPER, keyring)
    bad = work_order(GDBH="WH20261120000002", SSQX="火星区", LDHM="12345")
    page = pipeline.ingest([work_order(), bad])
    assert (page.accepted, page.quarantined, page.superseded) == (1, 1, 0)
    with engine.connect() as conn:
        entry = conn.execute(select(Quarantine)).mappings().one()
    assert entry["source_id"] == "WH20261120000002"
    codes = {r["code"] for r in entry["reasons"]}
    assert codes == {"unknown_district", "invalid_phone"}
    assert all("12345" not in r["message"] and "ZZ9999" not in r["message"] for r in entry["reasons"])
    assert collect(engine)["reconciled"]


def test_reingesting_the_same_page_changes_nothing(engine: Engine, keyring: KeyRing) -> None:
    pipeline = Pipeline(engine, MAPPER, keyring)
    records = [work_order(), work_order(GDBH="WH20261120000002", SQNR="")]
    pipeline.ingest(records)
    before = collect(engine)
    again = pipeline.ingest(records)
    assert again.duplicates == 2 and again.accepted == again.quarantined == 0
    after = collect(engine)
    assert {k: after[k] for k in ("raw", "cases", "quarantined")} == {
        k: before[k] for k in ("raw", "cases", "quarantined")
    }
    assert _count(engine, CaseHistory) == 1


def test_newer_update_versions_the_case_and_older_one_is_superseded(engine: Engine, keyring: KeyRing) -> None:
    pipeline = Pipeline(engine, MAPPER, keyring)
    pipeline.ingest([work_order(GDZT="02", GXSJ="2026-11-20 09:00:00")])
    newer = work_order(GDZT="04", GXSJ="2026-11-22 17:00:00", BJSJ="2026-11-22 16:30:00", BLJG="已责令整改")
    stale = work_order(GDZT="03", GXSJ="2026-11-21 10:00:00")
    assert pipeline.ingest([newer]).accepted == 1
    page = pipeline.ingest([stale])
    assert (page.accepted, page.superseded) == (0, 1)
    with engine.connect() as conn:
        case = conn.execute(select(Case.status, Case.version, Case.result)).one()
        history = conn.execute(
            select(CaseHistory.version, CaseHistory.changes).order_by(CaseHistory.version)
        ).all()
    assert tuple(case) == ("completed", 2, "已责令整改")
    assert [v for v, _ in history] == [1, 2]
    assert history[1][1]["status"] == ["dispatched", "completed"]
    assert "reporter" not in history[1][1]
    # A later re-send of the older version does not move the case back.
    pipeline.ingest([work_order(GDZT="03", GXSJ="2026-11-21 11:00:00")])
    with engine.connect() as conn:
        assert conn.scalar(select(Case.status)) == "completed"
    stats = collect(engine)
    assert stats["raw_by_outcome"] == {"accepted": 2, "quarantined": 0, "superseded": 2}
    assert stats["reconciled"]


def test_accepted_newer_version_supersedes_open_quarantine(engine: Engine, keyring: KeyRing) -> None:
    pipeline = Pipeline(engine, MAPPER, keyring)
    pipeline.ingest([work_order(SSQX="火星区", GXSJ="2026-11-20 09:00:00")])
    assert collect(engine)["quarantined"]["total"] == 1
    pipeline.ingest([work_order(GXSJ="2026-11-20 10:00:00")])
    stats = collect(engine)
    assert stats["quarantined"]["total"] == 0
    assert stats["quarantined"]["by_state"] == {"superseded": 1}
    assert stats["raw_by_outcome"]["superseded"] == 1
    assert stats["reconciled"]


def test_replay_after_the_crosswalk_learns_a_code(engine: Engine, keyring: KeyRing) -> None:
    pipeline = Pipeline(engine, MAPPER, keyring)
    pipeline.ingest([work_order(GDZT="77")])
    assert collect(engine)["quarantined"]["by_reason"] == {"unknown_status": 1}
    assert pipeline.replay() == {"replayed": 1, "resolved": 0, "superseded": 0, "still_quarantined": 1}

    reference = load_reference()
    crosswalks = dict(reference.crosswalks)
    statuses = crosswalks[("hotline", "status")]
    crosswalks[("hotline", "status")] = MappingProxyType({**statuses, "77": "closed"})
    fixed = dataclasses.replace(reference, crosswalks=MappingProxyType(crosswalks))
    counts = Pipeline(engine, MAPPER, keyring, reference=fixed).replay()
    assert counts == {"replayed": 1, "resolved": 1, "superseded": 0, "still_quarantined": 0}
    stats = collect(engine)
    assert stats["cases"]["total"] == 1 and stats["quarantined"]["total"] == 0
    assert stats["raw_by_outcome"]["accepted"] == 1 and stats["reconciled"]
    with engine.connect() as conn:
        entry = conn.execute(select(Quarantine.attempts, Quarantine.history)).one()
    assert entry.attempts == 3
    # The entry's history tells what each replay found: first the same failure, then the fix.
    assert [(step["outcome"], step["reasons"]) for step in entry.history] == [
        ("still_quarantined", ["unknown_status"]),
        ("resolved", []),
    ]


def test_personal_data_is_sealed_at_rest(engine: Engine, keyring: KeyRing) -> None:
    order = work_order(SFZHM="420102198507153210", LDRXM="王小红")
    Pipeline(engine, MAPPER, keyring).ingest([order])
    with engine.connect() as conn:
        case = conn.execute(select(Case)).mappings().one()
        raw = conn.execute(select(RawRecord)).mappings().one()
        dump = " ".join(str(v) for v in conn.execute(text("select * from cases")).one())
        dump += " ".join(str(v) for v in conn.execute(text("select * from raw_records")).one())
    for secret in ("13800138000", "420102198507153210", "王小红"):
        assert secret not in dump
    opened = keyring.open(
        case["pii_key_id"],
        case["reporter_phone"],
        associated_data("cases", "reporter_phone", case["case_id"]),
    )
    assert opened == b"+8613800138000"
    assert case["reporter_phone_index"] == keyring.blind_index("+8613800138000")
    payload = keyring.open(
        raw["key_id"], raw["payload"], associated_data("raw_records", "payload", raw["raw_id"])
    )
    assert "王小红".encode() in payload


def test_every_history_row_of_a_replay_points_at_a_recorded_batch(engine: Engine, keyring: KeyRing) -> None:
    pipeline = Pipeline(engine, MAPPER, keyring)
    pipeline.ingest([work_order(SSQX="新城区", GXSJ="2026-11-20 09:00:00")])
    reference = load_reference()
    crosswalks = dict(reference.crosswalks)
    crosswalks[("hotline", "district")] = MappingProxyType(
        {**crosswalks[("hotline", "district")], "新城区": "420102"}
    )
    fixed = dataclasses.replace(reference, crosswalks=MappingProxyType(crosswalks))
    assert Pipeline(engine, MAPPER, keyring, reference=fixed).replay()["resolved"] == 1
    with engine.connect() as conn:
        orphans = conn.scalar(
            select(func.count())
            .select_from(CaseHistory)
            .outerjoin(Batch, Batch.batch_id == CaseHistory.batch_id)
            .where(Batch.batch_id.is_(None))
        )
        replays = conn.execute(select(Batch).where(Batch.run_id == "replay")).mappings().all()
    assert orphans == 0
    assert [(b["channel"], b["received"], b["accepted"]) for b in replays] == [("hotline", 1, 1)]
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            insert(CaseHistory),
            [
                {
                    "case_id": "c",
                    "version": 9,
                    "raw_id": "r",
                    "batch_id": "no-such-batch",
                    "source_updated_at": datetime.now(UTC),
                    "recorded_at": datetime.now(UTC),
                    "changes": {},
                }
            ],
        )
