"""A partner fails in the middle of a run, or its data moves while being paged: the rerun
completes with nothing lost and nothing doubled. Real simulators over HTTP, a real store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from casehub.crypto import KeyRing
from casehub.errors import InvalidRecord, TransientPartnerError
from casehub.pipeline import Pipeline
from casehub.ports import Window
from casehub.stats import collect
from casehub.store import Case, CaseHistory, Quarantine, RawRecord
from connectors.hotline import MAPPER as HOTLINE
from connectors.hotline.client import HotlineSource
from connectors.kit import Endpoint, RetryPolicy
from connectors.message_board import MAPPER as BOARD
from connectors.message_board.client import MessageBoardSource
from simulators.testing import RunningSimulator, start

FAST = RetryPolicy(attempts=2, backoff=0.05, max_backoff=0.1)
ACCEPTED_DEFECTS = {"stale_resend", "unknown_category"}
"""Simulated defects that still make a case: an older re-send is superseded, and a category the
crosswalk lacks is filed under 其他 with a warning."""
RECORDS = 150


@pytest.fixture(params=["hotline", "message_board"])
def partner(request) -> Iterator[RunningSimulator]:
    with start(request.param, records=RECORDS, seed=5, hang_seconds=5) as simulator:
        yield simulator


def _source(simulator: RunningSimulator, timeout: float = 2.0):
    if simulator.partner == "hotline":
        endpoint = Endpoint(
            url=simulator.url + "/ws/workorder",
            login="casehub",
            secret="hotline-demo-secret",
            timeout=timeout,
            page_size=20,
        )
        return HotlineSource(endpoint, retry=FAST)
    endpoint = Endpoint(
        url=simulator.url, login="casehub", secret="board-demo-token", timeout=timeout, page_size=20
    )
    return MessageBoardSource(endpoint, retry=FAST)


def _run(
    engine: Engine,
    simulator: RunningSimulator,
    keyring: KeyRing,
    ahead: timedelta = timedelta(seconds=1),
    **hooks,
):
    mapper = HOTLINE if simulator.partner == "hotline" else BOARD
    until = datetime.now(UTC) + ahead
    with _source(simulator) as source:
        return Pipeline(engine, mapper, keyring).run(
            source,
            until=until,
            lookback=timedelta(minutes=30),
            initial_start=until - timedelta(days=30),
            **hooks,
        )


def _expected(simulator: RunningSimulator) -> tuple[set[str], set[str]]:
    truth = simulator.truth()
    clean = {sid for sid, t in truth.items() if not set(t["defects"]) - ACCEPTED_DEFECTS}
    return clean, set(truth) - clean


def _assert_complete(engine: Engine, simulator: RunningSimulator) -> None:
    clean, defective = _expected(simulator)
    with engine.connect() as conn:
        cases = set(conn.scalars(select(Case.source_id)))
        quarantined = set(conn.scalars(select(Quarantine.source_id).where(Quarantine.state == "open")))
        hashes = conn.scalar(select(func.count(func.distinct(RawRecord.content_hash))))
        raw = conn.scalar(select(func.count()).select_from(RawRecord))
        versions = conn.scalar(select(func.count()).select_from(CaseHistory))
    assert cases == clean
    assert quarantined == defective
    assert raw == hashes, "a payload was landed twice"
    assert collect(engine)["reconciled"]
    return versions


@pytest.mark.parametrize("mode", ["5xx", "hang", "fault"])
def test_failure_mid_run_then_rerun_loses_and_doubles_nothing(engine, keyring, partner, mode) -> None:
    partner.faults(mode, count=4, after=3)
    with pytest.raises(TransientPartnerError):
        _run(engine, partner, keyring)
    with engine.connect() as conn:
        landed = conn.scalar(select(func.count()).select_from(RawRecord))
    assert landed > 0, "pages before the failure are kept"
    assert collect(engine)["reconciled"]

    partner.faults("none")
    _run(engine, partner, keyring)
    versions = _assert_complete(engine, partner)

    # And a further rerun changes nothing at all.
    before = collect(engine)
    result = _run(engine, partner, keyring)
    assert result.accepted == result.quarantined == 0
    assert {k: collect(engine)[k] for k in ("raw", "cases", "quarantined")} == {
        k: before[k] for k in ("raw", "cases", "quarantined")
    }
    _assert_complete(engine, partner)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(CaseHistory)) == versions


def test_rate_limit_inside_the_retry_budget_is_absorbed(engine, keyring, partner) -> None:
    partner.faults("429", count=1, after=2, retry_after=1)
    _run(engine, partner, keyring)
    _assert_complete(engine, partner)


@pytest.mark.parametrize(
    "ahead",
    [timedelta(0), timedelta(hours=1)],
    ids=["updates-leave-the-window", "updates-move-to-its-end"],
)
def test_records_changing_while_paged_are_neither_lost_nor_doubled(engine, keyring, partner, ahead) -> None:
    began = datetime.now(UTC) - timedelta(seconds=1)
    touched: list[str] = []

    def busy_partner(_page) -> None:
        if len(touched) < 12:
            touched.extend(partner.touch(3))

    _run(engine, partner, keyring, ahead, on_page=busy_partner)
    # The next run picks up the versions made during the first one; a record that slid onto a
    # page already read (its update time far behind the cursor) would be missing for good.
    _run(engine, partner, keyring)
    clean, _ = _expected(partner)
    with engine.connect() as conn:
        updated = dict(conn.execute(select(Case.source_id, Case.updated_at)).all())
    assert touched and all(updated[sid] >= began for sid in set(touched) & clean)
    _assert_complete(engine, partner)


class WorkerKilled(Exception):
    """The worker running the DAG task dies (OOM killer, a lost node) between two pages."""


def test_a_run_killed_after_records_slid_onto_read_pages_loses_none(engine, keyring, partner) -> None:
    """Page 1 is read, then the partner moves records to the end of the window: a record that
    slides onto page 1 is not read in this pass. The run commits more pages and is killed
    before the paginator walks the window again. The next run, with a lookback far shorter
    than the window, still reads it: the cursor stayed at the start of the killed pass."""
    lookback = timedelta(minutes=1)
    pages: list[int] = []

    def busy_then_killed(_page) -> None:
        pages.append(1)
        if len(pages) == 1:
            partner.touch(25)
        if len(pages) == 4:
            raise WorkerKilled

    mapper = HOTLINE if partner.partner == "hotline" else BOARD
    until = datetime.now(UTC) + timedelta(hours=1)
    pipeline = Pipeline(engine, mapper, keyring)
    with _source(partner) as source, pytest.raises(WorkerKilled):
        pipeline.run(
            source,
            until=until,
            lookback=lookback,
            initial_start=until - timedelta(days=30),
            on_page=busy_then_killed,
        )
    clean, _ = _expected(partner)
    with engine.connect() as conn:
        landed = set(conn.scalars(select(RawRecord.source_id)))
        read_up_to = conn.scalar(select(func.max(RawRecord.source_updated_at)))
    skipped = {sid for sid in clean - landed if sid in _ids_older_than(partner, read_up_to - lookback)}
    assert skipped, "the scenario needs a record that slid onto a page already read"
    assert pipeline.cursor() is None, "the cursor stays at the start of a pass that did not finish"

    with _source(partner) as source:
        pipeline.run(source, until=until, lookback=lookback, initial_start=until - timedelta(days=30))
    with engine.connect() as conn:
        cases = set(conn.scalars(select(Case.source_id)))
    assert skipped <= cases
    _assert_complete(engine, partner)
    assert pipeline.cursor() is not None


def _ids_older_than(simulator: RunningSimulator, moment: datetime) -> set[str]:
    """Clean records whose newest version the partner serves is older than `moment`."""
    mapper = HOTLINE if simulator.partner == "hotline" else BOARD
    window_end = datetime.now(UTC) + timedelta(hours=2)
    found: set[str] = set()
    with _source(simulator) as source:
        for page in source.pages(Window(start=window_end - timedelta(days=30), end=window_end)):
            for record in page:
                if isinstance(record, dict):
                    try:
                        key = mapper.key(record)
                    except InvalidRecord:
                        continue
                    if key.updated_at < moment:
                        found.add(key.source_id)
    return found
