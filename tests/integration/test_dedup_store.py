"""Duplicate detection in the store, on SQLite and PostgreSQL: a case is flagged the moment it
lands, a parent's completion completes its children with the result and the events their
channels need, and a handler's split survives re-clustering."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from casehub.crypto import KeyRing
from casehub.dedup import store as duplicates
from casehub.districts import DistrictService
from casehub.identity import case_id
from casehub.pipeline import Pipeline
from casehub.store.models import Case, CaseHistory, ClusterSplit, OutboxEvent
from connectors import hotline, neighborhood_app
from tests.samples import report, work_order

RESULT = "已更换新井盖，现场恢复通行。"


def _call(number: str, at: str, **changes: str) -> dict[str, Any]:
    fields = {
        "GDBH": number,
        "LDSJ": at,
        "GXSJ": at,
        "LDHM": "+86 138 7123 0001",
        "BT": "市民来电反映中山路社区东门外井盖破损",
        "SQNR": "来电人称车站街道中山路社区东门外人行道上有一个井盖碎裂下陷，晚上看不清，要求尽快更换。",
        "SSQX": "江岸区",
        "FSDZ": "江岸区车站路中山路社区东门外人行道",
        "YWLBDM": "HL0106",
        "YWLBMC": "井盖缺失破损",
    }
    return work_order(**{**fields, **changes})


def _app(number: str, at: str, **changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "reportId": number,
        "reportType": "投诉",
        "categoryCode": "WL0404",
        "categoryName": "井盖破损",
        "title": "东门井盖碎了",
        "content": "小区东门出去人行道上那个井盖碎了一大块，晚上黑漆漆的太危险了，赶紧来修一下吧",
        "communityCode": "420102003002",
        "communityName": "中山路社区",
        "address": "江岸区车站街道中山路社区东门",
        "location": {"lng": 114.30353, "lat": 30.58982},
        "status": "已提交",
        "handlingUnit": None,
        "handlingResult": None,
        "satisfaction": None,
        "createdAt": at,
        "updatedAt": at,
    }
    fields.update(changes)
    return report(**fields)


def _ingest(engine: Engine, keyring: KeyRing, mapper: Any, *records: dict[str, Any]) -> None:
    page = Pipeline(engine, mapper, keyring).ingest(list(records))
    assert page.accepted == len(records), page


def _case(engine: Engine, case: str) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(conn.execute(select(Case).where(Case.case_id == case)).mappings().one())


def _events(engine: Engine, case: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.scalars(
            select(CaseHistory.events).where(CaseHistory.case_id == case).order_by(CaseHistory.id)
        )
        return [event for events in rows for event in events]


def _act(engine: Engine, keyring: KeyRing, case: str, action: str, **body: str) -> None:
    district = str(_case(engine, case)["district_code"])
    fields = {
        "operation_id": f"{action}-{uuid.uuid4().hex[:12]}",
        "at": datetime.now(UTC).isoformat(),
        **body,
    }
    DistrictService(engine, keyring).act(district, case, action, fields)


PARENT = case_id("hotline", "WH20261120000101")
CHILD = case_id("neighborhood_app", "WLL20261120000102")
LIGHT = case_id("neighborhood_app", "WLL20261120000103")
SECOND_CALL = case_id("hotline", "WH20261120000104")


def _land_incident(engine: Engine, keyring: KeyRing) -> None:
    _ingest(engine, keyring, hotline.MAPPER, _call("WH20261120000101", "2026-11-20 09:02:00"))
    _ingest(
        engine,
        keyring,
        neighborhood_app.MAPPER,
        _app("WLL20261120000102", "2026-11-20T09:40:00+08:00"),
        _app(
            "WLL20261120000103",
            "2026-11-20T20:15:00+08:00",
            categoryCode="WL0401",
            categoryName="路灯损坏",
            title="东门路灯不亮",
            content="东门外那排路灯全黑了，晚上回家摸黑走，希望物业或者城管看看",
        ),
    )


def test_a_case_is_flagged_as_a_duplicate_the_moment_it_lands(engine: Engine, keyring: KeyRing) -> None:
    _land_incident(engine, keyring)
    parent, child, light = (_case(engine, c) for c in (PARENT, CHILD, LIGHT))
    assert (parent["cluster_id"], parent["duplicate_of"], parent["duplicate_score"]) == (PARENT, None, None)
    assert (child["cluster_id"], child["duplicate_of"]) == (PARENT, PARENT)
    assert 0.5 <= child["duplicate_score"] <= 1
    assert {"same_address", "same_category"} <= set(child["duplicate_signals"])
    assert (light["cluster_id"], light["duplicate_of"]) == (LIGHT, None)
    suspected = [e for e in _events(engine, CHILD) if e["kind"] == "duplicate_suspected"]
    assert suspected == [
        {
            "kind": "duplicate_suspected",
            "duplicate_of": PARENT,
            "cluster_id": PARENT,
            "matched": PARENT,
            "score": child["duplicate_score"],
            "signals": child["duplicate_signals"],
        }
    ]
    # A later version of the child keeps what intake decided.
    _ingest(
        engine,
        keyring,
        neighborhood_app.MAPPER,
        _app("WLL20261120000102", "2026-11-20T09:40:00+08:00", updatedAt="2026-11-20T10:00:00+08:00"),
    )
    again = _case(engine, CHILD)
    assert again["version"] == 2 and (again["cluster_id"], again["duplicate_of"]) == (PARENT, PARENT)


def test_the_same_reporter_is_recognised_across_index_keys_while_a_re_index_is_under_way(
    engine: Engine, keyring: KeyRing
) -> None:
    """A new blind-index key is active and the re-index has not reached the first call yet: the
    second call of the same number is still the same reporter's."""
    _ingest(engine, keyring, hotline.MAPPER, _call("WH20261120000101", "2026-11-20 09:02:00"))
    rotated = keyring.with_new_key(index=True)
    _ingest(engine, rotated, hotline.MAPPER, _call("WH20261120000104", "2026-11-20 09:30:00"))
    first, second = _case(engine, PARENT), _case(engine, SECOND_CALL)
    assert (first["reporter_index_key_id"], second["reporter_index_key_id"]) == (
        keyring.index_active,
        rotated.index_active,
    )
    assert first["reporter_phone_index"] != second["reporter_phone_index"]
    assert second["duplicate_of"] == PARENT and "same_reporter" in second["duplicate_signals"]
    other = case_id("hotline", "WH20261120000105")
    _ingest(
        engine,
        rotated,
        hotline.MAPPER,
        _call("WH20261120000105", "2026-11-20 09:45:00", LDHM="+86 139 7123 0002"),
    )
    assert "same_reporter" not in (_case(engine, other)["duplicate_signals"] or [])


def test_the_parents_completion_completes_its_children(engine: Engine, keyring: KeyRing) -> None:
    _land_incident(engine, keyring)
    assert _case(engine, CHILD)["status"] == "dispatched"
    _act(engine, keyring, PARENT, "accept", handler="值班员")
    _act(engine, keyring, PARENT, "complete", result=RESULT)
    child, light = _case(engine, CHILD), _case(engine, LIGHT)
    assert (child["status"], child["result"]) == ("completed", RESULT)
    assert light["status"] == "dispatched" and light["result"] is None
    closed = [e for e in _events(engine, CHILD) if e["kind"] == "closed_with_parent"]
    assert closed == [
        {"kind": "closed_with_parent", "parent": PARENT, "by": str(_case(engine, PARENT)["district_code"])}
    ]
    with engine.connect() as conn:
        told = set(
            conn.execute(select(OutboxEvent.partner, OutboxEvent.kind).where(OutboxEvent.case_id == CHILD))
        )
    assert ("neighborhood_app", "result") in told, "the child's channel hears the result"
    assert ("district", "cancel") in told, "the district the child was dispatched to can stop"


def test_a_parent_closed_at_its_own_channel_with_a_result_completes_its_children(
    engine: Engine, keyring: KeyRing
) -> None:
    """The hotline ends the work order itself (已办结, with its result): the app's report of the
    same incident is completed with that result and the app hears it."""
    _land_incident(engine, keyring)
    done = _call(
        "WH20261120000101", "2026-11-20 09:02:00", GDZT="04", BLJG=RESULT, GXSJ="2026-11-20 16:00:00"
    )
    _ingest(engine, keyring, hotline.MAPPER, done)
    child, light = _case(engine, CHILD), _case(engine, LIGHT)
    assert (child["status"], child["result"]) == ("completed", RESULT)
    assert [e for e in _events(engine, CHILD) if e["kind"] == "closed_with_parent"] == [
        {"kind": "closed_with_parent", "parent": PARENT, "by": "hotline"}
    ]
    with engine.connect() as conn:
        told = set(
            conn.execute(select(OutboxEvent.partner, OutboxEvent.kind).where(OutboxEvent.case_id == CHILD))
        )
    assert ("neighborhood_app", "result") in told and ("district", "cancel") in told
    assert light["status"] == "dispatched" and light["result"] is None


def test_a_parent_withdrawn_at_its_channel_leaves_its_children_open(engine: Engine, keyring: KeyRing) -> None:
    """作废 at the hotline (the caller withdrew): the app's resident still waits for an answer."""
    _land_incident(engine, keyring)
    withdrawn = _call("WH20261120000101", "2026-11-20 09:02:00", GDZT="09", GXSJ="2026-11-20 10:00:00")
    _ingest(engine, keyring, hotline.MAPPER, withdrawn)
    assert _case(engine, PARENT)["status"] == "cancelled"
    child = _case(engine, CHILD)
    assert (child["status"], child["result"]) == ("dispatched", None)
    assert not [e for e in _events(engine, CHILD) if e["kind"] == "closed_with_parent"]


def test_a_split_survives_re_clustering(engine: Engine, keyring: KeyRing) -> None:
    _land_incident(engine, keyring)
    _ingest(
        engine,
        keyring,
        hotline.MAPPER,
        _call("WH20261120000104", "2026-11-20 11:30:00", LDHM="+86 139 8600 0004"),
    )
    assert _case(engine, SECOND_CALL)["duplicate_of"] == PARENT
    outcome = duplicates.split(engine, [CHILD], by="值班长")
    assert outcome["split_off"] == {"cluster_id": CHILD, "cases": [CHILD]}
    assert outcome["remaining"] == {"cluster_id": PARENT, "cases": [PARENT, SECOND_CALL]}
    with engine.connect() as conn:
        pairs = set(conn.execute(select(ClusterSplit.case_id, ClusterSplit.other_case_id)))
    assert pairs == {tuple(sorted((CHILD, PARENT))), tuple(sorted((CHILD, SECOND_CALL)))}
    assert (_case(engine, CHILD)["cluster_id"], _case(engine, CHILD)["duplicate_of"]) == (CHILD, None)
    assert any(e["kind"] == "cluster_split" for e in _events(engine, CHILD))

    run = duplicates.recluster(engine)
    assert run.cases == 4 and run.changed == 0, run.summary()
    assert (_case(engine, CHILD)["cluster_id"], _case(engine, CHILD)["duplicate_of"]) == (CHILD, None)
    assert _case(engine, SECOND_CALL)["duplicate_of"] == PARENT


def test_re_clustering_makes_the_earliest_case_the_parent(engine: Engine, keyring: KeyRing) -> None:
    _ingest(engine, keyring, neighborhood_app.MAPPER, _app("WLL20261120000102", "2026-11-20T09:40:00+08:00"))
    _ingest(engine, keyring, hotline.MAPPER, _call("WH20261120000101", "2026-11-20 09:02:00"))
    assert _case(engine, PARENT)["duplicate_of"] == CHILD, "intake joins the cluster it finds"
    run = duplicates.recluster(engine)
    assert run.changed == 2 and run.summary()["duplicates"] == 1
    assert (_case(engine, PARENT)["cluster_id"], _case(engine, PARENT)["duplicate_of"]) == (PARENT, None)
    assert (_case(engine, CHILD)["cluster_id"], _case(engine, CHILD)["duplicate_of"]) == (PARENT, PARENT)
    assert [e["kind"] for e in _events(engine, CHILD)][-1] == "reclustered"
    assert duplicates.recluster(engine).changed == 0


def test_a_split_is_refused_with_a_reason(engine: Engine, keyring: KeyRing) -> None:
    import pytest

    from casehub.errors import ConfigurationError

    _land_incident(engine, keyring)
    with pytest.raises(ConfigurationError, match="no case"):
        duplicates.split(engine, ["00000000-0000-5000-8000-000000000000"], by="x")
    with pytest.raises(ConfigurationError, match="different clusters"):
        duplicates.split(engine, [CHILD, LIGHT], by="x")
    with pytest.raises(ConfigurationError, match="nothing would be split"):
        duplicates.split(engine, [CHILD, PARENT], by="x")
