"""Intake's window kept between the pages of a run (`casehub.dedup.store.Window`) decides every
case as reading the stored cases afresh for each page does, on SQLite and PostgreSQL.

Pages of hotline work orders whose texts come back every day, so that most cases have earlier
duplicates in the window, go through the real pipeline twice: into one store with the window
kept (every district warm), into another reading the store for each page. Between pages a
handler splits a cluster (new versions of stored cases the window holds), and in the first store
a page's intake is rolled back after filing cases just like the next page's, which must not be
taken for anyone's parent."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select

from casehub.crypto import KeyRing
from casehub.dedup import store as duplicates
from casehub.pipeline import Pipeline
from casehub.store import Case, CaseHistory, migrate
from casehub.store.db import prepare
from connectors.hotline import MAPPER
from simulators.generator import generate
from simulators.records import Options

POOL, RECORDS, PAGE = 150, 1200, 300
"""A text comes back every 150 calls (25 hours at one call each 10 minutes); a page spans 50 hours."""
START = datetime(2026, 10, 1, 8, 0, 0)  # partner local time
COMPARED = (
    *("case_id", "channel", "title", "content", "category", "district_code", "community_code"),
    *("grid_code", "address", "lng", "lat", "reported_at", "reporter_phone_index", "version"),
    "reporter_index_key_id",
)
"""What intake reads of a case."""
PHANTOM_AFTER = 1
"""The page after which, in the kept window's store, an intake is rolled back."""


def _pages() -> list[list[dict[str, Any]]]:
    options = Options(seed=7, records=POOL, defect_rate=0.0, anchor=datetime(2026, 11, 1, tzinfo=UTC))
    pool = [dict(r.versions[-1].payload) for r in generate("hotline", options)]
    orders = []
    for n in range(RECORDS):
        order = dict(pool[n % POOL])
        called = START + timedelta(minutes=10 * n)
        order["GDBH"] = f"WT{n:012d}"
        order["LDSJ"] = called.strftime("%Y-%m-%d %H:%M:%S")
        order["GXSJ"] = (called + timedelta(minutes=30)).strftime("%Y-%m-%d %H:%M:%S")
        if order.get("BJSJ"):
            order["BJSJ"] = (called + timedelta(minutes=20)).strftime("%Y-%m-%d %H:%M:%S")
        orders.append(order)
    return [orders[i : i + PAGE] for i in range(0, RECORDS, PAGE)]


def _decisions(engine: Engine) -> dict[str, tuple[Any, ...]]:
    """Each case's cluster, parent and score, and the case its intake matched: by source id."""
    with engine.connect() as conn:
        cases = conn.execute(
            select(Case.case_id, Case.source_id, Case.cluster_id, Case.duplicate_of, Case.duplicate_score)
        ).all()
        matched = {
            case_id: event["matched"]
            for case_id, events in conn.execute(select(CaseHistory.case_id, CaseHistory.events))
            for event in events or ()
            if event.get("kind") == "duplicate_suspected"
        }
    source = {case_id: source_id for case_id, source_id, *_ in cases}
    return {
        source_id: (source.get(cluster), source.get(parent), score, source.get(matched.get(case_id), "-"))
        for case_id, source_id, cluster, parent, score in cases
    }


def _split_one(engine: Engine) -> None:
    """A handler splits the last case off the earliest cluster of three or more."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(Case.case_id, Case.cluster_id).order_by(Case.reported_at, Case.case_id)
        ).all()
    members: dict[str, list[str]] = {}
    for case_id, cluster in rows:
        members.setdefault(cluster or case_id, []).append(case_id)
    chosen = next(m for m in members.values() if len(m) >= 3)
    duplicates.split(engine, [chosen[-1]], by="test")


def _phantoms(engine: Engine, window: duplicates.Window) -> int:
    """Intake of copies of the latest page's cases, each a call earlier than its original,
    rolled back: had they stayed filed, the next page's cases would match them (the earlier of
    two as alike) instead of the stored ones."""
    columns = [Case.__table__.c[name] for name in COMPARED]
    with engine.connect() as conn, conn.begin() as transaction:
        stored = [dict(r) for r in conn.execute(select(*columns)).mappings()]
        latest = max(r["reported_at"] for r in stored)
        shift = -timedelta(minutes=10)
        copies = [
            {**r, "case_id": str(uuid.uuid4()), "reported_at": r["reported_at"] + shift}
            for r in stored
            if r["reported_at"] > latest - timedelta(minutes=10 * PAGE)
        ]
        duplicates.at_intake(conn, copies, window=window)
        transaction.rollback()
    return len(copies)


def _run(engine: Engine, keyring: KeyRing, *, phantoms: bool) -> tuple[dict[str, tuple[Any, ...]], int]:
    pipeline = Pipeline(engine, MAPPER, keyring)
    for number, page in enumerate(_pages()):
        assert pipeline.ingest(page).accepted == len(page)
        if number == 0:
            _split_one(engine)
        if phantoms and number == PHANTOM_AFTER:
            assert _phantoms(engine, pipeline.window) == PAGE
    return _decisions(engine), len(pipeline.window)


def test_a_kept_window_decides_as_reading_the_store_for_each_page(
    engine: Engine, keyring: KeyRing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(duplicates.Window, "WARM", 1)
    kept, held = _run(engine, keyring, phantoms=True)

    afresh = prepare(create_engine(f"sqlite:///{tmp_path / 'afresh.db'}"))
    migrate(afresh)
    monkeypatch.setattr(duplicates.Window, "WARM", RECORDS + 1)
    try:
        read, none_held = _run(afresh, keyring, phantoms=False)
    finally:
        afresh.dispose()

    assert held > PAGE and none_held == 0  # the one store's window was kept, the other's never
    children = [source for source, (_, parent, *_) in read.items() if parent is not None]
    assert len(children) > RECORDS // 2  # most cases meet an earlier telling of their text
    assert kept == read


def test_a_district_whose_page_spans_more_than_the_span_lets_its_window_go(
    engine: Engine, keyring: KeyRing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quiet channel's page spanning weeks would hold weeks of every channel's cases: its
    district's window is forgotten and read as a cold one's, deciding alike."""
    monkeypatch.setattr(duplicates.Window, "WARM", 1)
    pipeline = Pipeline(engine, MAPPER, keyring)
    held = []
    for number, page in enumerate(_pages()):
        if number == 2:  # from the third page on, every district's new cases are wider than the span
            monkeypatch.setattr(duplicates.Window, "SPAN", timedelta(hours=-1))
        assert pipeline.ingest(page).accepted == len(page)
        held.append(len(pipeline.window))
    wide = _decisions(engine)

    afresh = prepare(create_engine(f"sqlite:///{tmp_path / 'afresh.db'}"))
    migrate(afresh)
    monkeypatch.setattr(duplicates.Window, "WARM", RECORDS + 1)
    try:
        cold = Pipeline(afresh, MAPPER, keyring)
        for page in _pages():
            cold.ingest(page)
        read = _decisions(afresh)
    finally:
        afresh.dispose()

    assert held[0] > 0 and held[1] > held[0]  # the window was kept while pages were narrow
    assert held[2:] == [0] * (len(held) - 2)
    assert wide == read
