"""Intake duplicate detection on the simulators' data over HTTP, on SQLite and PostgreSQL: the
hotline's simulator pulled over SOAP and the community app pushing signed webhooks to a real
gateway; every incident the two simulators both tell (their truth names it) ends as one cluster,
the later report a probable duplicate of the earlier, and re-clustering keeps it so."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from casehub import jobs
from casehub.crypto import KeyRing
from casehub.identity import case_id
from casehub.partners import load_connector, partner
from casehub.store import Case
from connectors.kit import Endpoint, RetryPolicy
from simulators.testing import RunningSimulator, send, start
from tests.served import ServedGateway, gateway_env

RECORDS = 60
SEED = 5
HOTLINE, APP = partner("hotline"), partner("neighborhood_app")


@pytest.fixture
def hotline() -> Iterator[RunningSimulator]:
    simulator = start("hotline", records=RECORDS, seed=SEED)
    try:
        yield simulator
    finally:
        simulator.stop()


def _pull(engine: Engine, keyring: KeyRing, simulator: RunningSimulator) -> None:
    assert HOTLINE.simulator is not None
    endpoint = Endpoint(
        url=simulator.url + HOTLINE.simulator.path,
        login=HOTLINE.simulator.login,
        secret=HOTLINE.simulator.secret,
        timeout=10,
        page_size=25,
    )
    connector = load_connector(HOTLINE)
    source = connector.build_source(endpoint)
    source.retry = RetryPolicy(attempts=2, backoff=0.05, max_backoff=0.1)
    try:
        until = datetime.now(UTC) + timedelta(minutes=1)
        jobs.ingest(HOTLINE, source, connector.MAPPER, engine=engine, keyring=keyring, until=until)
    finally:
        source.close()


def _push(engine: Engine, keyring: KeyRing, tmp_path: Path) -> dict[str, dict[str, object]]:
    assert APP.simulator is not None and APP.push_in is not None
    db_url = engine.url.render_as_string(hide_password=False)
    secrets = {APP.push_in.secret_env: APP.simulator.secret}
    gateway = ServedGateway(gateway_env(db_url, tmp_path / "gateway", keyring.to_json(), **secrets))
    try:
        summary = send(gateway.url(), APP.simulator.secret, records=RECORDS, seed=SEED, retry_scale=0.001)
    finally:
        gateway.kill()
    assert summary.ok, summary.line()
    jobs.process_webhooks(APP, load_connector(APP).MAPPER, engine=engine, keyring=keyring)
    return {sid: dict(truth) for sid, truth in summary.truth.items()}


def test_the_simulators_cross_channel_duplicates_are_marked_at_intake(
    engine: Engine, keyring: KeyRing, tmp_path: Path, hotline: RunningSimulator
) -> None:
    _pull(engine, keyring, hotline)
    app_truth = _push(engine, keyring, tmp_path)
    told: dict[str, dict[str, str]] = {}
    for sid, truth in hotline.truth().items():
        if "incident" in truth:
            told.setdefault(str(truth["incident"]), {})["hotline"] = case_id("hotline", sid)
    for sid, truth in app_truth.items():
        if "incident" in truth:
            told.setdefault(str(truth["incident"]), {})["neighborhood_app"] = case_id("neighborhood_app", sid)
    twins = {key: ids for key, ids in told.items() if len(ids) == 2}
    assert len(twins) == 3, told

    with engine.connect() as conn:
        rows = {r.case_id: r for r in conn.execute(select(Case.case_id, Case.cluster_id, Case.duplicate_of))}
    for key, ids in twins.items():
        call, app = rows[ids["hotline"]], rows[ids["neighborhood_app"]]
        assert (call.cluster_id, call.duplicate_of) == (call.case_id, None), key
        assert (app.cluster_id, app.duplicate_of) == (call.case_id, call.case_id), key
    twin_ids = {case for ids in twins.values() for case in ids.values()}
    strays = [r for r in rows.values() if r.duplicate_of in twin_ids and r.case_id not in twin_ids]
    assert strays == [], "no other case is taken for a twin's duplicate"

    run = jobs.recluster(engine)
    assert run["cases"] == len(rows)
    with engine.connect() as conn:
        again = {r.case_id: r.duplicate_of for r in conn.execute(select(Case.case_id, Case.duplicate_of))}
    for ids in twins.values():
        assert again[ids["neighborhood_app"]] == ids["hotline"]
