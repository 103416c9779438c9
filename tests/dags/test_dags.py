"""The partners' DAGs: they parse cleanly and cheaply, carry what operators need, and run end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from casehub.partners import delivered, notified, pulled, pushing

ROOT = Path(__file__).resolve().parents[2]
CHANNELS = pulled()
PUSHING = pushing()
DAG_IDS = [f"ingest_{spec.code}" for spec in CHANNELS]
BACKFILL_DAG_IDS = [f"backfill_{spec.code}" for spec in CHANNELS]
WEBHOOK_DAG_IDS = [f"process_webhooks_{spec.code}" for spec in PUSHING]
DELIVERED = delivered()
PUSH_DAG_IDS = [f"push_{spec.code}" for spec in DELIVERED]
SHANGHAI = ZoneInfo("Asia/Shanghai")
LOCAL = "%Y-%m-%d %H:%M:%S"
ACCEPTED_DEFECTS = {"stale_resend", "unknown_category"}
"""Simulated defects that still make a case: an older re-send is superseded, and a category the
crosswalk lacks is filed under 其他 with a warning."""


def test_dag_folder_imports_without_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    others = [
        "dedup_recluster",
        "deliver_outbox",
        "process_requests_open311",
        "hotspots_daily",
        "quality_daily",
        "report_monthly",
        "report_weekly",
        "supervise_deadlines",
    ]
    assert sorted(dagbag.dag_ids) == sorted(
        [*DAG_IDS, *BACKFILL_DAG_IDS, *WEBHOOK_DAG_IDS, *PUSH_DAG_IDS, *others]
    )
    assert PUSH_DAG_IDS == ["push_city_brain", "push_health_commission"]


@pytest.mark.parametrize("spec", CHANNELS, ids=lambda s: s.code)
def test_every_dag_is_documented_owned_retried_and_pooled(dagbag, spec) -> None:
    from airflow.sdk import RetryAction

    from casehub.errors import (
        ConfigurationError,
        ContractError,
        PermanentPartnerError,
        StoreError,
        StoreUnavailable,
        TransientPartnerError,
    )

    dag = dagbag.get_dag(f"ingest_{spec.code}")
    assert spec.title in dag.doc_md and spec.connection in dag.doc_md
    assert {"casehub", "ingest", spec.code} <= set(dag.tags)
    assert dag.max_active_runs == 1 and dag.catchup is False
    ingest = dag.get_task("ingest")
    assert ingest.owner == "casehub-data"
    assert ingest.retries >= 3 and ingest.retry_exponential_backoff
    assert ingest.pool == spec.pool
    assert [asset.uri for asset in ingest.outlets] == ["x-casehub://store/cases"]
    policy = ingest.retry_policy
    transient = TransientPartnerError("timeout", partner=spec.code, operation="pages")
    permanent = PermanentPartnerError("refused", partner=spec.code, operation="pages", status=401)
    assert policy.evaluate(transient, 1, 5).action == RetryAction.RETRY
    assert policy.evaluate(permanent, 1, 5).action == RetryAction.FAIL
    assert policy.evaluate(ConfigurationError("no key ring"), 1, 5).action == RetryAction.FAIL
    assert policy.evaluate(StoreUnavailable("the store cannot be reached"), 1, 5).action == RetryAction.RETRY
    assert policy.evaluate(StoreError("the store refused a statement"), 1, 5).action == RetryAction.FAIL
    hostile = ContractError("reply is not well-formed XML", partner=spec.code, operation="pages")
    assert policy.evaluate(hostile, 1, 5).action == RetryAction.FAIL
    reads_back = spec.outbox is not None and "transfer" in spec.outbox.kinds
    assert [t.task_id for t in dag.tasks] == ["ingest", *(["progress"] if reads_back else []), "reconcile"]


@pytest.mark.parametrize("spec", PUSHING, ids=lambda s: s.code)
def test_every_webhook_dag_is_documented_owned_retried_and_pooled(dagbag, spec) -> None:
    dag = dagbag.get_dag(f"process_webhooks_{spec.code}")
    assert spec.title in dag.doc_md and spec.pushing().secret_env in dag.doc_md
    assert {"casehub", "webhooks", spec.code} <= set(dag.tags)
    assert dag.max_active_runs == 1 and dag.catchup is False
    process = dag.get_task("process")
    assert process.owner == "casehub-data" and process.retries >= 3 and process.pool == spec.pool
    assert [asset.uri for asset in process.outlets] == ["x-casehub://store/cases"]
    assert [t.task_id for t in dag.tasks] == ["process", "reconcile"]


@pytest.mark.parametrize("spec", DELIVERED, ids=lambda s: s.code)
def test_every_push_dag_is_documented_owned_retried_and_pooled(dagbag, spec) -> None:
    from airflow.sdk import RetryAction

    from casehub.errors import DataQualityError, PermanentPartnerError, TransientPartnerError

    dag = dagbag.get_dag(f"push_{spec.code}")
    assert spec.title in dag.doc_md and spec.connection in dag.doc_md
    assert f"schemas/recipients/{spec.recipient}.json" in dag.doc_md
    assert {"casehub", "deliver", spec.code} <= set(dag.tags)
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert [t.task_id for t in dag.tasks] == (["push", "feedback"] if spec.delivered().feedback else ["push"])
    push = dag.get_task("push")
    assert push.owner == "casehub-data" and push.retries >= 3 and push.retry_exponential_backoff
    assert push.pool == spec.pool
    assert [asset.uri for asset in push.outlets] == ["x-casehub://store/provision_log"]
    throttled = TransientPartnerError("rate limited", partner=spec.code, operation="push", status=429)
    refused = PermanentPartnerError("signature refused", partner=spec.code, operation="push", status=401)
    broken = DataQualityError("record breaks its schema", suite="recipients", expectations=["/lat"])
    assert push.retry_policy.evaluate(throttled, 1, 5).action == RetryAction.RETRY
    assert push.retry_policy.evaluate(refused, 1, 5).action == RetryAction.FAIL
    assert push.retry_policy.evaluate(broken, 1, 5).action == RetryAction.FAIL


def test_the_push_schedules_come_from_the_manifest(dagbag) -> None:
    schedules = {spec.code: dagbag.get_dag(f"push_{spec.code}").timetable.expression for spec in DELIVERED}
    assert schedules == {"city_brain": "0 * * * *", "health_commission": "*/15 * * * *"}


@pytest.mark.parametrize(
    "dag_file",
    [
        "ingest.py",
        "webhooks.py",
        "pushes.py",
        "outbox.py",
        "quality.py",
        "supervision.py",
        "reports.py",
        "hotspots.py",
    ],
)
def test_parsing_the_dag_file_loads_no_connector_store_or_quality_code(dag_file: str) -> None:
    probe = (
        f"import sys, runpy; runpy.run_path('dags/{dag_file}');"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('zeep', 'great_expectations', 'pandas', 'connectors', 'fastjsonschema', 'prcoords', 'pyproj'))))"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT / "dags"))
    out = subprocess.run(
        [sys.executable, "-c", "import json;" + probe],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


@pytest.mark.slow
def test_every_dag_runs_end_to_end_and_a_rerun_changes_nothing(dagbag, tmp_path, monkeypatch) -> None:
    """The pulled partners' simulators over HTTP, the community app pushing to a real gateway,
    then every DAG of the manifest run with `dag.test()`, twice."""
    from sqlalchemy import select

    from casehub.crypto import KeyRing
    from casehub.stats import collect
    from casehub.store import Quarantine, connect, migrate
    from simulators.testing import send, start
    from tests.served import ServedGateway, gateway_env

    db_url = f"sqlite:///{tmp_path / 'casehub.db'}"
    ring = KeyRing.generate()
    monkeypatch.setenv("CASEHUB_DB_URL", db_url)
    monkeypatch.setenv("CASEHUB_KEYRING", ring.to_json())
    migrate(connect(db_url))
    simulators = {spec.code: start(spec.code, records=60, seed=11) for spec in CHANNELS}
    try:
        for spec in CHANNELS:
            assert spec.simulator is not None
            fields = {
                "conn_type": "http",
                "host": simulators[spec.code].url + spec.simulator.path,
                "login": spec.simulator.login,
                "password": spec.simulator.secret,
            }
            monkeypatch.setenv(f"AIRFLOW_CONN_{spec.connection.upper()}", json.dumps(fields))
        truths = {code: simulator.truth() for code, simulator in simulators.items()}
        for spec in PUSHING:
            assert spec.simulator is not None
            secrets = {spec.pushing().secret_env: spec.simulator.secret}
            gateway = ServedGateway(gateway_env(db_url, tmp_path / "gateway", ring.to_json(), **secrets))
            try:
                sent = send(gateway.url(), spec.simulator.secret, records=40, seed=11, retry_scale=0.001)
            finally:
                gateway.kill()
            assert sent.ok, sent.line()
        for dag_id in DAG_IDS + WEBHOOK_DAG_IDS:
            run = dagbag.get_dag(dag_id).test()
            assert run.state == "success", dag_id
        first = collect(connect(db_url))
        with connect(db_url).connect() as conn:
            quarantined = set(conn.execute(select(Quarantine.channel, Quarantine.source_id)))
        for dag_id in DAG_IDS + WEBHOOK_DAG_IDS:
            assert dagbag.get_dag(dag_id).test().state == "success"
        second = collect(connect(db_url))
    finally:
        for simulator in simulators.values():
            simulator.stop()

    assert first["reconciled"]
    assert set(first["cases"]["by_channel"]) == {spec.code for spec in (*CHANNELS, *PUSHING)}
    assert first["inbox"]["neighborhood_app"]["pending"] == 0
    for code, truth in truths.items():
        defective = {sid for sid, t in truth.items() if set(t["defects"]) - ACCEPTED_DEFECTS}
        clean = set(truth) - defective
        assert first["cases"]["by_channel"][code] == len(clean), code
        named = {sid for sid in defective if "missing_id" not in truth[sid]["defects"]}
        assert named <= {sid for channel, sid in quarantined if channel == code}, code
        assert code in first["cursors"]
    assert {k: second[k] for k in ("raw", "cases", "quarantined")} == {
        k: first[k] for k in ("raw", "cases", "quarantined")
    }


@pytest.mark.slow
def test_every_push_dag_delivers_through_its_connection_and_a_rerun_sends_nothing_twice(
    dagbag, tmp_path, monkeypatch
) -> None:
    """A few hotline work orders in the store, then each push DAG run with `dag.test()` against
    its receiver, twice: one provision-log row per batch, one effect per batch id."""
    from datetime import UTC, datetime, timedelta

    from casehub.crypto import KeyRing
    from casehub.pipeline import Pipeline
    from casehub.pushes import provision_log
    from casehub.store import connect, migrate
    from connectors.hotline import MAPPER
    from simulators.testing import start
    from tests.samples import work_order

    db_url = f"sqlite:///{tmp_path / 'casehub.db'}"
    ring = KeyRing.generate()
    monkeypatch.setenv("CASEHUB_DB_URL", db_url)
    monkeypatch.setenv("CASEHUB_KEYRING", ring.to_json())
    migrate(connect(db_url))
    orders = [work_order(), work_order(GDBH="WH20261120000002", YWLBDM="HL0802", YWLBMC="疫情防控")]
    recorded = datetime.now(UTC) - timedelta(minutes=10)  # settled by the time the DAGs push
    assert Pipeline(connect(db_url), MAPPER, ring, clock=lambda: recorded).ingest(orders).accepted == 2
    receivers = {spec.code: start(spec.code) for spec in DELIVERED}
    try:
        for spec in DELIVERED:
            assert spec.simulator is not None
            fields = {
                "conn_type": "http",
                "host": receivers[spec.code].url + spec.simulator.path,
                "login": spec.simulator.login,
                "password": spec.simulator.secret,
            }
            monkeypatch.setenv(f"AIRFLOW_CONN_{spec.connection.upper()}", json.dumps(fields))
        for _ in range(2):
            for dag_id in PUSH_DAG_IDS:
                assert dagbag.get_dag(dag_id).test().state == "success", dag_id
        ledgers = {code: receiver.batches() for code, receiver in receivers.items()}
    finally:
        for receiver in receivers.values():
            receiver.stop()
    for spec, records in zip(DELIVERED, (2, 1), strict=True):
        logged = provision_log(connect(db_url), spec.recipient)
        assert [entry["record_count"] for entry in logged] == [records], spec.code
        assert {k: (v["records"], v["deliveries"]) for k, v in ledgers[spec.code].items()} == {
            logged[0]["batch_id"]: (records, 1)
        }


def test_the_outbox_dag_delivers_each_partner_in_its_pool(dagbag) -> None:
    dag = dagbag.get_dag("deliver_outbox")
    pushed = [spec for spec in notified() if spec.notified().pushed]
    assert {spec.code for spec in pushed} == {"hotline", "message_board", "urban_mgmt", "neighborhood_app"}
    assert {"casehub", "outbox"} <= set(dag.tags) and dag.max_active_runs == 1 and dag.catchup is False
    assert dag.timetable.expression == "*/2 * * * *"
    for spec in pushed:
        task = dag.get_task(f"deliver_{spec.code}")
        assert task.pool == spec.pool and task.owner == "casehub-data"
        assert task.upstream_task_ids == set()
        assert spec.connection in dag.doc_md
    assert "dead" in dag.doc_md and "casehub outbox replay" in dag.doc_md
    progress = dagbag.get_dag("ingest_urban_mgmt").get_task("progress")
    assert progress.upstream_task_ids == {"ingest"} and progress.downstream_task_ids == {"reconcile"}


def test_one_dag_supervises_deadlines_by_the_rule_table(dagbag) -> None:
    from airflow.sdk import RetryAction

    from casehub.errors import StoreUnavailable, TransientError

    dag = dagbag.get_dag("supervise_deadlines")
    assert {"casehub", "supervision"} <= set(dag.tags) and dag.max_active_runs == 1 and dag.catchup is False
    assert "schemas/reference/supervision.csv" in dag.doc_md and "挂牌督办" in dag.doc_md
    [task] = dag.tasks
    assert task.task_id == "supervise" and task.owner == "casehub-data" and task.retries >= 3
    assert [asset.uri for asset in task.outlets] == ["x-casehub://store/cases"]
    assert task.retry_policy.evaluate(TransientError("changed meanwhile"), 1, 5).action == RetryAction.RETRY
    assert task.retry_policy.evaluate(StoreUnavailable("down"), 1, 5).action == RetryAction.RETRY
    supervising = [d for d in dagbag.dags.values() if any(t.task_id == "supervise" for t in d.tasks)]
    assert [d.dag_id for d in supervising] == ["supervise_deadlines"], "one place supervises"


@pytest.mark.parametrize(("kind", "cron"), [("monthly", "0 2 1 * *"), ("weekly", "0 2 * * 1")])
def test_the_report_dags_write_the_last_whole_period_in_city_time(dagbag, kind: str, cron: str) -> None:
    dag = dagbag.get_dag(f"report_{kind}")
    assert {"casehub", "reports"} <= set(dag.tags) and dag.max_active_runs == 1 and dag.catchup is False
    assert dag.timetable.summary == cron and str(dag.timetable._timezone.name) == "Asia/Shanghai"
    assert "docs/reports.md" in dag.doc_md and f"var/reports/{kind}/" in dag.doc_md
    assert "period" in dag.params
    [task] = dag.tasks
    assert task.task_id == "report" and task.owner == "casehub-data" and task.retries >= 3
    assert [asset.uri for asset in task.outlets] == ["x-casehub://files/reports"]


@pytest.mark.slow
def test_the_outbox_dag_sends_results_and_transfers_once_each(dagbag, tmp_path, monkeypatch) -> None:
    """Hotline work orders pulled by their DAG are dispatched; a district completes some; then
    `deliver_outbox` sends each result to the hotline and each city-management case to urban
    management over HTTP, twice: every event delivered, one effect per event id."""
    import requests
    from sqlalchemy import select

    from casehub.crypto import KeyRing
    from casehub.districts import DistrictService
    from casehub.stats import collect
    from casehub.store import connect, migrate
    from casehub.store.models import OutboxEvent
    from simulators.testing import start
    from tests.samples import work_order

    db_url = f"sqlite:///{tmp_path / 'casehub.db'}"
    ring = KeyRing.generate()
    monkeypatch.setenv("CASEHUB_DB_URL", db_url)
    monkeypatch.setenv("CASEHUB_KEYRING", ring.to_json())
    migrate(connect(db_url))
    partners = [spec for spec in notified() if spec.notified().pushed]
    simulators = {spec.code: start(spec.code, records=60, seed=11) for spec in partners}
    try:
        for spec in partners:
            assert spec.simulator is not None
            fields = {
                "conn_type": "http",
                "host": simulators[spec.code].url + spec.simulator.path,
                "login": spec.simulator.login,
                "password": spec.simulator.callback_secret or spec.simulator.secret,
            }
            monkeypatch.setenv(f"AIRFLOW_CONN_{spec.connection.upper()}", json.dumps(fields))
        # One street-vending complaint (占道经营, 城市管理): urban management's to handle.
        vending = work_order(GDBH="WH20261130000901", GDZT="01", GXSJ=datetime.now(SHANGHAI).strftime(LOCAL))
        simulators["hotline"].inject([vending])
        assert dagbag.get_dag("ingest_hotline").test().state == "success"
        engine = connect(db_url)
        with engine.connect() as conn:
            dispatched = conn.execute(
                select(OutboxEvent.case_id, OutboxEvent.target)
                .where(OutboxEvent.partner == "district", OutboxEvent.kind == "dispatch")
                .order_by(OutboxEvent.id)
                .limit(5)
            ).all()
        service = DistrictService(engine, ring)
        completed = []
        for case_id, district in dispatched:
            now = datetime.now(UTC).isoformat()
            service.act(district, case_id, "accept", {"operation_id": f"a-{case_id}", "at": now})
            service.act(
                district,
                case_id,
                "complete",
                {"operation_id": f"c-{case_id}", "at": now, "result": "已办结。"},
            )
            completed.append(case_id)
        assert completed
        for _ in range(2):
            assert dagbag.get_dag("deliver_outbox").test().state == "success"
        effects = {
            code: requests.get(sim.url + "/_admin/effects", timeout=10).json()["effects"]
            for code, sim in simulators.items()
        }
    finally:
        for simulator in simulators.values():
            simulator.stop()
    outbox = collect(connect(db_url))["outbox"]
    assert outbox["hotline"] == {"pending": 0, "delivered": len(completed), "dead": 0}
    assert outbox["urban_mgmt"]["delivered"] >= 1 and outbox["urban_mgmt"]["pending"] == 0
    assert len(effects["hotline"]) == len(completed) and set(effects["hotline"].values()) == {1}
    assert len(effects["urban_mgmt"]) == outbox["urban_mgmt"]["delivered"]
    assert set(effects["urban_mgmt"].values()) == {1}
