"""The digital urban management connector against its real simulator, over loopback HTTP.

Paging reads every case file of a window once, each with its progress log, plus the stale
re-sends the partner appends; the mapper agrees with the defects the simulator injected; every
way the partner fails ends in the right branch of the error tree within the retry budget; and a
pipeline run lands every clean case file, quarantines every defective one and reconciles.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, func, select

from casehub.crypto import KeyRing
from casehub.errors import ContractError, InvalidRecord, PermanentPartnerError, TransientPartnerError
from casehub.geo import inside_city
from casehub.normalize import SHANGHAI
from casehub.pipeline import Pipeline
from casehub.ports import PageRecord, Window
from casehub.reference import load_reference
from casehub.stats import collect
from casehub.store import Case, Quarantine, RawRecord
from connectors.kit import MAX_REPLY_BYTES, Endpoint, RetryPolicy
from connectors.urban_mgmt import MAPPER
from connectors.urban_mgmt.client import UrbanMgmtSource
from simulators import testing

ANCHOR = datetime(2025, 3, 10, tzinfo=SHANGHAI)
WINDOW = Window(ANCHOR - timedelta(days=8), ANCHOR + timedelta(days=1))
"""Covers all the simulated data, which spans the 7 days before the anchor."""

RECORDS = 60
PAGE_SIZE = 25
PATH = "/ws/casefile"
LOGIN, SECRET = "casehub", "urban-demo-secret"
FAST = RetryPolicy(attempts=3, backoff=0.05, max_backoff=0.2)
STEP_ELEMENTS = {"StepTime", "StatusCode", "StatusName", "Department", "Note"}

MAPPER_REASONS = {
    "missing_field": "missing_field",
    "bad_component_code": "invalid_category_code",
    "unknown_grid": "unknown_grid",
    "outside_city": "outside_city",
    "unknown_status": "unknown_status",
    "missing_id": "missing_id",
}
"""The simulator's defects the mapper finds, and the reason code each must produce. The others
are not the mapper's: an update time decades ahead is the pipeline's (`future_time`), an
unpublished category is classified as 其他诉求 with a warning, coordinates in the surveyors'
order are read the right way round, and a stale re-send is an older version."""
PIPELINE_REASONS = {**MAPPER_REASONS, "future_update": "future_time"}
"""The defects that keep a case file out of the cases, and the reason each is quarantined with."""


@pytest.fixture(scope="module")
def simulator() -> Iterator[testing.RunningSimulator]:
    with testing.start("urban_mgmt", anchor=ANCHOR, records=RECORDS, defect_rate=0.25, seed=11) as running:
        yield running


@pytest.fixture
def partner(simulator: testing.RunningSimulator) -> Iterator[testing.RunningSimulator]:
    yield simulator
    simulator.reset()


def source(
    simulator: testing.RunningSimulator,
    *,
    secret: str = SECRET,
    timeout: float = 5.0,
    retry: RetryPolicy = FAST,
    max_reply_bytes: int = MAX_REPLY_BYTES,
    page_size: int = PAGE_SIZE,
    session: requests.Session | None = None,
) -> UrbanMgmtSource:
    endpoint = Endpoint(
        url=simulator.url + PATH,
        login=LOGIN,
        secret=secret,
        timeout=timeout,
        page_size=page_size,
        max_reply_bytes=max_reply_bytes,
    )
    return UrbanMgmtSource(endpoint, retry=retry, session=session)


def read_all(simulator: testing.RunningSimulator, **options: Any) -> list[list[PageRecord]]:
    with source(simulator, **options) as pulled:
        return list(pulled.pages(WINDOW))


def records(pages: list[list[PageRecord]]) -> list[dict[str, Any]]:
    found = [record for page in pages for record in page if isinstance(record, dict)]
    assert len(found) == sum(map(len, pages)), "every case file is read as elements"
    return found


def failing(call: Any, expected: type[Exception]) -> tuple[Exception, float]:
    """The error `call` raises and the seconds it took to raise it."""
    started = time.monotonic()
    with pytest.raises(expected) as caught:
        call()
    return caught.value, time.monotonic() - started


def test_every_case_file_comes_once_with_its_progress_log(partner: testing.RunningSimulator) -> None:
    truth = partner.truth()
    pages = read_all(partner)
    served = records(pages)
    ids = Counter(record["CaseNo"] for record in served)
    stale = {sid for sid, t in truth.items() if "stale_resend" in t["defects"] and t["versions"] > 1}
    unnumbered = {sid for sid, t in truth.items() if "missing_id" in t["defects"]}
    assert set(ids) - {""} == set(truth) - unnumbered
    assert {sid for sid, seen in ids.items() if seen > 1} - {""} == stale - unnumbered
    assert len(served) == len(truth) + len(stale)
    assert len(pages) > 1 and all(0 < len(page) <= PAGE_SIZE for page in pages)
    for record in served:
        steps = record["Progress"]["Step"]
        assert isinstance(steps, list) and steps, record["CaseNo"]
        assert all(isinstance(step, dict) and set(step) == STEP_ELEMENTS for step in steps)
        assert all(isinstance(value, str) for step in steps for value in step.values())
        assert steps[-1]["StatusCode"] == record["StatusCode"]
        assert steps[0]["StepTime"] == record["ReportTime"]
        assert all(isinstance(value, str) for name, value in record.items() if name != "Progress")


def test_an_empty_window_has_no_pages(partner: testing.RunningSimulator) -> None:
    after = Window(ANCHOR + timedelta(days=30), ANCHOR + timedelta(days=31))
    with source(partner) as pulled:
        assert list(pulled.pages(after)) == []
        assert pulled.fetch(after, 1, PAGE_SIZE, "request-1") == ([], 0)


def test_the_mapper_quarantines_exactly_the_injected_defects(partner: testing.RunningSimulator) -> None:
    truth = partner.truth()
    reference = load_reference()
    current: dict[str, dict[str, Any]] = {}
    unnumbered: list[dict[str, Any]] = []
    for record in records(read_all(partner)):
        if record["CaseNo"]:
            current.setdefault(record["CaseNo"], record)
        else:
            unnumbered.append(record)
    outcomes = {}
    for source_id, record in current.items():
        try:
            case = MAPPER.to_case(record, reference, received_at=datetime.now(UTC))
        except InvalidRecord as error:
            outcomes[source_id] = {reason.code for reason in error.reasons}
        else:
            outcomes[source_id] = set()
            assert case["lng"] is None or inside_city(case["lng"], case["lat"])
    expected = {
        sid: {MAPPER_REASONS[d] for d in truth[sid]["defects"] if d in MAPPER_REASONS} for sid in current
    }
    assert outcomes == expected
    assert unnumbered and all(
        "missing_id" in {r.code for r in _reasons(record, reference)} for record in unnumbered
    )


def _reasons(record: dict[str, Any], reference: Any) -> list[Any]:
    with pytest.raises(InvalidRecord) as caught:
        MAPPER.to_case(record, reference, received_at=datetime.now(UTC))
    return caught.value.reasons


def test_coordinates_in_the_surveyors_order_land_in_their_grid(partner: testing.RunningSimulator) -> None:
    truth = partner.truth()
    reference = load_reference()
    swapped = [
        record
        for record in records(read_all(partner))
        if truth.get(record["CaseNo"], {}).get("defects") == ["swapped_coordinates"]
    ]
    assert swapped
    for record in swapped:
        case = MAPPER.to_case(record, reference, received_at=datetime.now(UTC))
        grid = reference.regions[case["grid_code"]]
        assert abs(case["lng"] - grid.lng) < 0.002 and abs(case["lat"] - grid.lat) < 0.002


def test_wrong_secret_is_permanent_and_not_echoed(partner: testing.RunningSimulator) -> None:
    wrong = "not-the-secret-0451"
    error, _ = failing(lambda: read_all(partner, secret=wrong), PermanentPartnerError)
    assert isinstance(error, PermanentPartnerError)
    assert (error.partner, error.operation) == ("urban_mgmt", "QueryCaseFiles")
    assert error.request_id
    assert "credentials refused" in str(error)
    assert wrong not in str(error) and SECRET not in str(error)


@pytest.mark.parametrize("mode", ["5xx", "fault", "error_body", "429"])
def test_a_failure_burst_shorter_than_the_budget_is_absorbed(
    partner: testing.RunningSimulator, mode: str
) -> None:
    expected = read_all(partner)
    partner.faults(mode, count=FAST.attempts - 1, after=1, retry_after=0)
    assert read_all(partner) == expected


@pytest.mark.parametrize(
    ("mode", "status", "words"),
    [
        ("5xx", 503, "HTTP 503"),
        ("fault", 500, "SOAP Fault Server (ServiceUnavailable)"),
        ("error_body", 200, "maintenance page"),
    ],
)
def test_a_longer_burst_is_transient(
    partner: testing.RunningSimulator, mode: str, status: int, words: str
) -> None:
    partner.faults(mode, count=FAST.attempts + 1)
    error, _ = failing(lambda: read_all(partner), TransientPartnerError)
    assert isinstance(error, TransientPartnerError)
    assert (error.partner, error.status) == ("urban_mgmt", status)
    assert words in str(error)
    assert error.request_id


def test_429_waits_for_retry_after(partner: testing.RunningSimulator) -> None:
    partner.faults("429", count=1, retry_after=1)
    started = time.monotonic()
    with source(partner) as pulled:
        first = next(iter(pulled.pages(WINDOW)))
    assert time.monotonic() - started >= 1.0
    assert first


def test_retry_after_beyond_the_cap_is_not_waited_for(partner: testing.RunningSimulator) -> None:
    partner.faults("429", count=1, retry_after=120)
    error, elapsed = failing(lambda: read_all(partner), TransientPartnerError)
    assert isinstance(error, TransientPartnerError)
    assert elapsed < 5
    assert (error.status, error.retry_after) == (429, 120)


def test_a_hang_is_transient_within_the_timeout(partner: testing.RunningSimulator) -> None:
    timeout, retry = 0.5, RetryPolicy(attempts=2, backoff=0.05, max_backoff=0.1)
    partner.faults("hang", count=retry.attempts, hang_seconds=20)
    error, elapsed = failing(lambda: read_all(partner, timeout=timeout, retry=retry), TransientPartnerError)
    assert "timed out" in str(error)
    assert elapsed < retry.attempts * timeout + 1.0


def test_hostile_xml_fails_at_once_and_is_not_asked_again(partner: testing.RunningSimulator) -> None:
    partner.faults("hostile_xml", count=FAST.attempts)
    error, elapsed = failing(lambda: read_all(partner), ContractError)
    assert str(error) == (
        "urban_mgmt.QueryCaseFiles (HTTP 200): reply breaks the contract: "
        "a DOCTYPE is not allowed in a SOAP message"
    )
    assert partner.armed()["count"] == FAST.attempts - 1
    assert elapsed < 1.0


def test_more_case_files_than_asked_for_break_the_contract(partner: testing.RunningSimulator) -> None:
    partner.faults("oversized", records=PAGE_SIZE + 1, count=FAST.attempts)
    error, _ = failing(lambda: read_all(partner), ContractError)
    assert f"page holds {PAGE_SIZE + 1} records, more than the {PAGE_SIZE} asked for" in str(error)
    assert partner.armed()["count"] == FAST.attempts - 1


def test_a_reply_over_the_size_cap_is_refused(partner: testing.RunningSimulator) -> None:
    partner.faults("oversized", records=2_000, count=FAST.attempts)
    error, _ = failing(lambda: read_all(partner, max_reply_bytes=1024 * 1024), ContractError)
    assert "larger than the limit of 1048576 bytes" in str(error)
    assert partner.armed()["count"] == FAST.attempts - 1


def test_a_total_that_is_not_a_number_breaks_the_contract(partner: testing.RunningSimulator) -> None:
    partner.faults("bad_total", count=FAST.attempts)
    error, _ = failing(lambda: read_all(partner), ContractError)
    assert "Total (total) is not a whole number" in str(error)
    assert partner.armed()["count"] == FAST.attempts - 1


# -- a pipeline run over the simulator, into each store ----------------------------------------


@pytest.fixture
def busy_partner() -> Iterator[testing.RunningSimulator]:
    """Case files over the last week, so that an update time decades ahead is in the future."""
    with testing.start("urban_mgmt", records=120, defect_rate=0.25, seed=11) as running:
        yield running


def _run(engine: Engine, simulator: testing.RunningSimulator, keyring: KeyRing) -> Any:
    until = datetime.now(UTC) + timedelta(seconds=1)
    with source(simulator, timeout=10, page_size=40) as pulled:
        return Pipeline(engine, MAPPER, keyring).run(
            pulled, until=until, lookback=timedelta(minutes=30), initial_start=until - timedelta(days=30)
        )


def test_a_run_lands_the_clean_case_files_and_quarantines_the_defective(
    engine: Engine, keyring: KeyRing, busy_partner: testing.RunningSimulator
) -> None:
    truth = busy_partner.truth()
    assert {d for t in truth.values() for d in t["defects"]} >= set(PIPELINE_REASONS)
    expected = {
        sid: {PIPELINE_REASONS[d] for d in t["defects"] if d in PIPELINE_REASONS} for sid, t in truth.items()
    }
    clean = {sid for sid, codes in expected.items() if not codes}
    # An unpublished status is only in the current version: the one before it, re-sent stale,
    # is a clean older version and makes the case, while the current one waits in quarantine.
    resent = {sid for sid, t in truth.items() if set(t["defects"]) == {"unknown_status", "stale_resend"}}
    numbered = {sid for sid, codes in expected.items() if codes and "missing_id" not in codes}

    first = _run(engine, busy_partner, keyring)

    with engine.connect() as conn:
        cases = dict(conn.execute(select(Case.source_id, Case.category)).all())
        entries = conn.execute(
            select(Quarantine.source_id, Quarantine.reasons).where(Quarantine.state == "open")
        ).all()
        raw = conn.scalar(select(func.count()).select_from(RawRecord))
    assert set(cases) == clean | resent
    quarantined: dict[str, set[str]] = {}
    for source_id, reasons in entries:
        quarantined.setdefault(source_id, set()).update(r["code"] for r in reasons)
    assert {sid for sid in quarantined if not sid.startswith("unidentified:")} == numbered
    assert all(expected[sid] <= codes for sid, codes in quarantined.items() if sid in numbered)
    unidentified = [codes for sid, codes in quarantined.items() if sid.startswith("unidentified:")]
    assert len(unidentified) >= sum("missing_id" in codes for codes in expected.values())
    assert all("missing_id" in codes for codes in unidentified)
    unmapped = {sid for sid, t in truth.items() if t["defects"] == ["unknown_category"]}
    assert unmapped and {cases[sid] for sid in unmapped} == {"190004"}
    assert first.quarantined >= len(entries)
    assert collect(engine)["reconciled"]

    again = _run(engine, busy_partner, keyring)
    assert again.accepted == again.quarantined == 0
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(RawRecord)) == raw
    assert collect(engine)["reconciled"]
