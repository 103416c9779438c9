"""`dedup_recluster`: documented, owned and retried like every DAG, and run with `dag.test()` it
re-clusters the store — a call that landed after the app report of the same incident, though
made before it, becomes its cluster's parent."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_the_dag_is_documented_owned_and_retried(dagbag) -> None:
    dag = dagbag.get_dag("dedup_recluster")
    assert {"casehub", "dedup"} <= set(dag.tags) and dag.max_active_runs == 1 and dag.catchup is False
    assert "casehub cluster split" in dag.doc_md and "docs/dedup.md" in dag.doc_md
    task = dag.get_task("recluster")
    assert task.owner == "casehub-data" and task.retries >= 3 and task.retry_policy is not None
    assert [a.uri for a in task.outlets] == ["x-casehub://store/cases"]
    assert dag.params["days"] == 30


@pytest.mark.slow
def test_the_dag_makes_the_earliest_report_the_parent(dagbag, tmp_path, monkeypatch) -> None:
    from sqlalchemy import select

    from casehub.crypto import KeyRing
    from casehub.identity import case_id
    from casehub.pipeline import Pipeline
    from casehub.store import Case, connect, migrate
    from connectors import hotline, neighborhood_app
    from tests.samples import report, work_order

    db_url = f"sqlite:///{tmp_path / 'casehub.db'}"
    ring = KeyRing.generate()
    monkeypatch.setenv("CASEHUB_DB_URL", db_url)
    monkeypatch.setenv("CASEHUB_KEYRING", ring.to_json())
    engine = connect(db_url)
    migrate(engine)
    called = datetime.now(SHANGHAI).replace(microsecond=0) - timedelta(hours=3)
    filed = called + timedelta(minutes=40)
    app = report(
        reportId="WLL20261130000001",
        categoryCode="WL0404",
        categoryName="井盖破损",
        title="东门井盖碎了",
        content="小区东门出去人行道上那个井盖碎了一大块，晚上黑漆漆的太危险了，赶紧来修一下吧",
        communityCode="420102003002",
        communityName="中山路社区",
        address="江岸区车站街道中山路社区东门",
        location={"lng": 114.30353, "lat": 30.58982},
        createdAt=filed.isoformat(),
        updatedAt=filed.isoformat(),
    )
    call = work_order(
        GDBH="WH20261130000002",
        LDSJ=called.strftime("%Y-%m-%d %H:%M:%S"),
        GXSJ=called.strftime("%Y-%m-%d %H:%M:%S"),
        BT="市民来电反映中山路社区东门外井盖破损",
        SQNR="来电人称车站街道中山路社区东门外人行道上有一个井盖碎裂下陷，晚上看不清，要求尽快更换。",
        SSQX="江岸区",
        FSDZ="江岸区车站路中山路社区东门外人行道",
        YWLBDM="HL0106",
        YWLBMC="井盖缺失破损",
    )
    assert Pipeline(engine, neighborhood_app.MAPPER, ring).ingest([app]).accepted == 1
    assert Pipeline(engine, hotline.MAPPER, ring).ingest([call]).accepted == 1
    parent, child = case_id("hotline", "WH20261130000002"), case_id("neighborhood_app", "WLL20261130000001")

    def clusters() -> dict[str, tuple[str, str | None]]:
        with engine.connect() as conn:
            return {r.case_id: (r.cluster_id, r.duplicate_of) for r in conn.execute(select(Case))}

    assert clusters() == {child: (child, None), parent: (child, child)}
    run = dagbag.get_dag("dedup_recluster").test()
    assert run.state == "success"
    assert clusters() == {parent: (parent, None), child: (parent, parent)}
