"""The ingest DAGs: they parse cleanly and cheaply, carry what operators need, and run end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from casehub.partners import pulled

ROOT = Path(__file__).resolve().parents[2]
CHANNELS = pulled()
DAG_IDS = [f"ingest_{spec.code}" for spec in CHANNELS]


def test_dag_folder_imports_without_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dag_ids) == sorted(DAG_IDS)


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
    assert [t.task_id for t in dag.tasks] == ["ingest", "reconcile"]


def test_parsing_the_dag_file_loads_no_connector_store_or_quality_code() -> None:
    probe = (
        "import sys, runpy; runpy.run_path('dags/ingest.py');"
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
def test_ingest_dags_run_end_to_end_and_rerun_changes_nothing(dagbag, tmp_path, monkeypatch) -> None:
    from sqlalchemy import select

    from casehub.crypto import KeyRing
    from casehub.stats import collect
    from casehub.store import Quarantine, connect, migrate
    from simulators.testing import start

    db_url = f"sqlite:///{tmp_path / 'casehub.db'}"
    monkeypatch.setenv("CASEHUB_DB_URL", db_url)
    monkeypatch.setenv("CASEHUB_KEYRING", KeyRing.generate().to_json())
    migrate(connect(db_url))
    with (
        start("hotline", records=120, seed=11) as hotline,
        start("message_board", records=80, seed=11) as board,
    ):
        urls = {"hotline": hotline.url + "/ws/workorder", "message_board": board.url}
        secrets = {
            "hotline": ("casehub", "hotline-demo-secret"),
            "message_board": ("casehub", "board-demo-token"),
        }
        for spec in CHANNELS:
            login, secret = secrets[spec.code]
            monkeypatch.setenv(
                f"AIRFLOW_CONN_{spec.connection.upper()}",
                json.dumps(
                    {"conn_type": "http", "host": urls[spec.code], "login": login, "password": secret}
                ),
            )
        truths = {"hotline": hotline.truth(), "message_board": board.truth()}
        for dag_id in DAG_IDS:
            run = dagbag.get_dag(dag_id).test()
            assert run.state == "success", dag_id
        first = collect(connect(db_url))
        with connect(db_url).connect() as conn:
            quarantined = {
                code: {
                    sid
                    for c, sid in conn.execute(select(Quarantine.channel, Quarantine.source_id))
                    if c == code
                }
                for code in truths
            }
        for dag_id in DAG_IDS:
            assert dagbag.get_dag(dag_id).test().state == "success"
        second = collect(connect(db_url))

    assert first["reconciled"]
    for code, truth in truths.items():
        clean = [sid for sid, t in truth.items() if not set(t["defects"]) - {"stale_resend"}]
        assert first["cases"]["by_channel"][code] == len(clean)
        defective = {sid for sid, t in truth.items() if set(t["defects"]) - {"stale_resend"}}
        assert quarantined[code] == defective, code
        assert code in first["cursors"]
    assert {k: second[k] for k in ("raw", "cases", "quarantined")} == {
        k: first[k] for k in ("raw", "cases", "quarantined")
    }
