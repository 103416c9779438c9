"""`backfill_hotline` run with `dag.test()` against the hotline's simulator on loopback: the span is
planned into windows, one mapped `window` task each in the partner's pool and named by its span,
every record lands once, and a rerun of the finished run reads nothing again."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from casehub import backfill
from casehub.partners import partner

ANCHOR = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
HOTLINE = partner("hotline")


def test_the_backfill_dag_maps_one_task_per_window_and_a_rerun_reads_nothing_again(
    dagbag, tmp_path, monkeypatch
) -> None:
    from casehub.crypto import KeyRing
    from casehub.store import connect, migrate
    from casehub.store.models import RawRecord
    from simulators.testing import start

    dag = dagbag.get_dag("backfill_hotline")
    window = dag.get_task("window")
    assert window.pool == HOTLINE.pool, "windows run side by side as the partner's pool allows"
    db_url = f"sqlite:///{tmp_path / 'casehub.db'}"
    monkeypatch.setenv("CASEHUB_DB_URL", db_url)
    monkeypatch.setenv("CASEHUB_KEYRING", KeyRing.generate().to_json())
    migrate(connect(db_url))
    simulator = start("hotline", records=80, seed=5, days=3, anchor=ANCHOR, defect_rate=0.0)
    try:
        assert HOTLINE.simulator is not None
        fields = {
            "conn_type": "http",
            "host": simulator.url + HOTLINE.simulator.path,
            "login": HOTLINE.simulator.login,
            "password": HOTLINE.simulator.secret,
        }
        monkeypatch.setenv(f"AIRFLOW_CONN_{HOTLINE.connection.upper()}", json.dumps(fields))
        since, until = ANCHOR - timedelta(days=4), ANCHOR + timedelta(hours=1)
        conf = {"since": since.isoformat(), "until": until.isoformat(), "window_hours": 24}
        run = dag.test(run_conf=conf)
        assert run.state == "success"
        windows = [ti for ti in run.get_task_instances() if ti.task_id == "window"]
        planned = backfill.plan(since, until, timedelta(hours=24))
        assert len(windows) == len(planned) == 5
        assert {ti.rendered_map_index for ti in windows} == {backfill.label(w) for w in planned}
        with connect(db_url).connect() as conn:
            landed = conn.scalar(select(func.count()).select_from(RawRecord))
        assert landed == len(simulator.truth())
        assert all(s.done for s in backfill.states(connect(db_url), "hotline", planned))

        again = dag.test(run_conf=conf)
        assert again.state == "success"
        summaries = [
            ti.xcom_pull(task_ids="window", map_indexes=ti.map_index)
            for ti in again.get_task_instances()
            if ti.task_id == "window"
        ]
        with connect(db_url).connect() as conn:
            assert conn.scalar(select(func.count()).select_from(RawRecord)) == landed
    finally:
        simulator.stop()
    assert len(summaries) == len(planned) and all(summary["skipped"] for summary in summaries)
