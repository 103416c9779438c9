"""The pipeline against a real store, on SQLite and on PostgreSQL."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

from sqlalchemy import Engine, func, select, text

from casehub.crypto import KeyRing, associated_data
from casehub.pipeline import Pipeline
from casehub.reference import load_reference
from casehub.stats import collect
from casehub.store import Case, CaseHistory, Quarantine, RawRecord
from connectors.hotline import MAPPER
from tests.samples import work_order


def _count(engine: Engine, model: type) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(model)) or 0)


def test_page_lands_accepts_and_quarantines_with_reasons(engine: Engine, keyring: KeyRing) -> None:
    pipeline = Pipeline(engine, MAPPER, keyring)
    bad = work_order(GDBH="WH20261120000002", YWLBDM="ZZ9999", LDHM="12345")
    page = pipeline.ingest([work_order(), bad])
    assert (page.accepted, page.quarantined, page.superseded) == (1, 1, 0)
    with engine.connect() as conn:
        entry = conn.execute(select(Quarantine)).mappings().one()
    assert entry["source_id"] == "WH20261120000002"
    codes = {r["code"] for r in entry["reasons"]}
    assert codes == {"unknown_category", "invalid_phone"}
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
    pipeline.ingest([work_order(YWLBDM="HL9901", YWLBMC="新业务类别")])
    assert collect(engine)["quarantined"]["by_reason"] == {"unknown_category": 1}
    assert pipeline.replay() == {"replayed": 1, "resolved": 0, "superseded": 0, "still_quarantined": 1}

    reference = load_reference()
    crosswalks = dict(reference.crosswalks)
    crosswalks[("hotline", "category")] = MappingProxyType(
        {**crosswalks[("hotline", "category")], "HL9901": "020001"}
    )
    fixed = dataclasses.replace(reference, crosswalks=MappingProxyType(crosswalks))
    counts = Pipeline(engine, MAPPER, keyring, reference=fixed).replay()
    assert counts == {"replayed": 1, "resolved": 1, "superseded": 0, "still_quarantined": 0}
    stats = collect(engine)
    assert stats["cases"]["total"] == 1 and stats["quarantined"]["total"] == 0
    assert stats["raw_by_outcome"]["accepted"] == 1 and stats["reconciled"]
    with engine.connect() as conn:
        assert conn.scalar(select(Quarantine.attempts)) == 3


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
