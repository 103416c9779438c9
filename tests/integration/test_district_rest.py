"""The district standard interface over REST, on SQLite and PostgreSQL, through the real gateway on
loopback: what a district platform sees, what it may do, and every refusal it can provoke."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, select, update

from casehub import credentials, outbox
from casehub.crypto import KeyRing
from casehub.gateway.app import create_app
from casehub.partners import load_connector, partner
from casehub.pipeline import Pipeline
from casehub.store.models import Case, CaseHistory, OutboxEvent, RawRecord
from tests.samples import report, work_order
from tests.threaded import serving

JIANGAN, JIANGHAN = "420102", "420103"
PHONE = "13800138000"


@pytest.fixture
def gateway(engine: Engine, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("CASEHUB_KEYRING", keyring.to_json())
    monkeypatch.delenv("CASEHUB_KEYRING_FILE", raising=False)
    with serving(create_app(engine)) as url:
        yield url


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def ingest(engine: Engine, keyring: KeyRing, channel: str, records: list[dict[str, Any]]) -> None:
    page = Pipeline(engine, load_connector(partner(channel)).MAPPER, keyring).ingest(records)
    assert page.accepted == len(records), page


@pytest.fixture
def hotline_cases(engine: Engine, keyring: KeyRing) -> list[str]:
    """Three noise complaints (噪声扰民, graded for the community) in 江岸区, waiting for dispatch."""
    ingest(
        engine,
        keyring,
        "hotline",
        [
            work_order(GDBH=f"WH2026112000000{n}", GDZT="01", YWLBDM="HL0201", YWLBMC="噪声扰民", LDHM=PHONE)
            for n in (1, 2, 3)
        ],
    )
    with engine.connect() as conn:
        return list(
            conn.scalars(select(Case.case_id).where(Case.channel == "hotline").order_by(Case.source_id))
        )


def key(engine: Engine, keyring: KeyRing, district: str = JIANGAN, **options: Any) -> dict[str, str]:
    issued = credentials.issue(engine, keyring, district, **options)
    return {"Authorization": f"Bearer {issued.api_key}"}


def now() -> str:
    return datetime.now(UTC).isoformat()


def act(
    http: requests.Session, url: str, headers: dict[str, str], case_id: str, action: str, **body: Any
) -> requests.Response:
    body.setdefault("operation_id", f"{action}-{case_id[:8]}")
    body.setdefault("at", now())
    return http.post(
        f"{url}/districts/{JIANGAN}/cases/{case_id}/{action}", json=body, headers=headers, timeout=30
    )


def problem(response: requests.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:casehub:problem:{slug}"
    assert PHONE not in response.text and "张明" not in response.text
    return body


def events(engine: Engine, **where: str) -> list[dict[str, Any]]:
    query = select(
        OutboxEvent.partner, OutboxEvent.kind, OutboxEvent.target, OutboxEvent.state, OutboxEvent.case_id
    )
    for name, value in where.items():
        query = query.where(getattr(OutboxEvent, name) == value)
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query.order_by(OutboxEvent.id)).mappings()]


def test_a_district_lists_its_dispatches_with_the_case_it_needs_and_confirms_them(
    gateway: str, http: requests.Session, engine: Engine, keyring: KeyRing, hotline_cases: list[str]
) -> None:
    headers = key(engine, keyring)
    listed = http.get(f"{gateway}/districts/{JIANGAN}/dispatches", headers=headers, timeout=30)
    assert listed.status_code == 200, listed.text
    dispatches = listed.json()["dispatches"]
    order = [d["case_id"] for d in dispatches]
    assert sorted(order) == sorted(hotline_cases)
    first = dispatches[0]
    assert first["kind"] == "dispatch"
    assert first["case"]["status"] == "dispatched" and first["case"]["district_code"] == JIANGAN
    assert first["case"]["reporter_phone"] == "+8613800138000" and first["case"]["deadline_at"]
    assert first["case"]["unit_name"]
    assert "reporter_id_number" not in first["case"]
    confirmed = http.post(
        f"{gateway}/districts/{JIANGAN}/dispatches/{first['event_id']}/receipt", headers=headers, timeout=30
    )
    assert confirmed.json() == {"event_id": first["event_id"], "state": "delivered"}
    again = http.get(f"{gateway}/districts/{JIANGAN}/dispatches?limit=1", headers=headers, timeout=30).json()
    assert [d["case_id"] for d in again["dispatches"]] == order[1:2]  # oldest first, the confirmed gone
    assert http.get(
        f"{gateway}/districts/{JIANGHAN}/dispatches", headers=key(engine, keyring, JIANGHAN), timeout=30
    ).json() == {"dispatches": []}


def test_a_case_whose_record_breaks_the_contract_goes_to_the_dead_letter_and_the_rest_are_listed(
    gateway: str, http: requests.Session, engine: Engine, keyring: KeyRing, hotline_cases: list[str]
) -> None:
    """A stored case the district's allow-list refuses (a street code no longer in its pattern) is
    never shown; the district gets the others, the data engineer a dead event to replay."""
    broken, *others = hotline_cases
    with engine.begin() as conn:
        conn.execute(update(Case).where(Case.case_id == broken).values(street_code="42010X"))
    headers = key(engine, keyring)
    listed = http.get(f"{gateway}/districts/{JIANGAN}/dispatches", headers=headers, timeout=30)
    assert listed.status_code == 200, listed.text
    assert sorted(d["case_id"] for d in listed.json()["dispatches"]) == sorted(others)
    assert "42010X" not in listed.text
    dead = events(engine, partner="district", state="dead")
    assert [e["case_id"] for e in dead] == [broken]
    with engine.connect() as conn:
        error = conn.scalar(select(OutboxEvent.last_error).where(OutboxEvent.case_id == broken))
    assert error["code"] == "recipient_contract" and "/street_code" in error["message"]
    assert PHONE not in json.dumps(error, ensure_ascii=False)
    again = http.get(f"{gateway}/districts/{JIANGAN}/dispatches", headers=headers, timeout=30).json()
    assert broken not in {d["case_id"] for d in again["dispatches"]}  # not offered while dead

    with engine.begin() as conn:  # the cause fixed, the dead event replayed: listed again
        conn.execute(update(Case).where(Case.case_id == broken).values(street_code=None))
    assert outbox.replay(engine, partner="district") == 1
    fixed = http.get(f"{gateway}/districts/{JIANGAN}/dispatches", headers=headers, timeout=30).json()
    assert broken in {d["case_id"] for d in fixed["dispatches"]}


def test_accept_handle_complete_versions_the_case_and_sends_the_result_to_the_hotline_once(
    gateway: str, http: requests.Session, engine: Engine, keyring: KeyRing, hotline_cases: list[str]
) -> None:
    headers, case_id = key(engine, keyring), hotline_cases[0]
    accepted = act(http, gateway, headers, case_id, "accept", handler="江岸区某街道网格员")
    assert accepted.json()["status"] == "accepted" and accepted.json()["version"] == 2
    assert (
        act(http, gateway, headers, case_id, "progress", note="已联系商户整改").json()["status"]
        == "processing"
    )
    done = act(
        http, gateway, headers, case_id, "complete", result="经现场核查，商户已停止夜间营业，噪声问题已解决。"
    )
    assert (
        done.status_code == 200 and done.json()["status"] == "completed" and done.json()["duplicate"] is False
    )
    repeated = act(
        http, gateway, headers, case_id, "complete", result="经现场核查，商户已停止夜间营业，噪声问题已解决。"
    )
    assert repeated.json() == {**done.json(), "duplicate": True}
    with engine.connect() as conn:
        case = conn.execute(
            select(Case.status, Case.result, Case.version).where(Case.case_id == case_id)
        ).one()
        history = conn.execute(
            select(CaseHistory.version, CaseHistory.events, CaseHistory.raw_id)
            .where(CaseHistory.case_id == case_id)
            .order_by(CaseHistory.version)
        ).all()
        landed = conn.scalar(select(RawRecord.channel).where(RawRecord.raw_id == history[-1].raw_id))
    assert tuple(case) == ("completed", "经现场核查，商户已停止夜间营业，噪声问题已解决。", 4)
    assert [h.version for h in history] == [1, 2, 3, 4]
    assert history[-1].events[0] == {
        "kind": "district.complete",
        "by": JIANGAN,
        "operation_id": f"complete-{case_id[:8]}",
    }
    assert landed == "district"
    results = events(engine, partner="hotline")
    assert [(e["kind"], e["case_id"], e["state"]) for e in results] == [("result", case_id, "pending")]
    assert (
        events(engine, partner="district", case_id=case_id)[0]["state"] == "delivered"
    )  # accepting confirms


def test_a_return_naming_another_district_dispatches_the_case_there_and_only_there(
    gateway: str, http: requests.Session, engine: Engine, keyring: KeyRing, hotline_cases: list[str]
) -> None:
    headers, case_id = key(engine, keyring), hotline_cases[1]
    returned = act(
        http,
        gateway,
        headers,
        case_id,
        "return",
        reason_code="not_in_jurisdiction",
        reason="该地址属江汉区管辖",
        suggested_district=JIANGHAN,
    )
    assert returned.json()["status"] == "dispatched", returned.text
    elsewhere = http.get(
        f"{gateway}/districts/{JIANGHAN}/dispatches", headers=key(engine, keyring, JIANGHAN), timeout=30
    ).json()["dispatches"]
    assert [d["case_id"] for d in elsewhere] == [case_id]
    assert elsewhere[0]["case"]["district_code"] == JIANGHAN
    mine = http.get(f"{gateway}/districts/{JIANGAN}/dispatches", headers=headers, timeout=30).json()
    assert case_id not in [d["case_id"] for d in mine["dispatches"]]
    problem(act(http, gateway, headers, case_id, "accept", operation_id="late-accept"), 404, "not-found")


def test_a_return_without_a_district_goes_back_to_the_city_and_the_app_hears_it(
    gateway: str, http: requests.Session, engine: Engine, keyring: KeyRing
) -> None:
    ingest(engine, keyring, "neighborhood_app", [report(status="已提交", satisfaction="", handlingResult="")])
    with engine.connect() as conn:
        case_id, district = conn.execute(select(Case.case_id, Case.district_code)).one()
    headers = key(engine, keyring, district)
    answer = http.post(
        f"{gateway}/districts/{district}/cases/{case_id}/return",
        json={"operation_id": "r1", "at": now(), "reason_code": "not_our_department", "reason": "非本区职责"},
        headers=headers,
        timeout=30,
    )
    assert answer.json()["status"] == "returned", answer.text
    with engine.connect() as conn:
        unit = conn.scalar(select(Case.assigned_unit).where(Case.case_id == case_id))
    assert unit == "city.dispatch"
    assert [(e["partner"], e["kind"]) for e in events(engine, case_id=case_id)] == [
        ("district", "dispatch"),
        ("neighborhood_app", "status"),
    ]


def test_a_postponement_moves_the_deadline_once(
    gateway: str, http: requests.Session, engine: Engine, keyring: KeyRing, hotline_cases: list[str]
) -> None:
    headers, case_id = key(engine, keyring), hotline_cases[2]
    before = act(http, gateway, headers, case_id, "accept").json()["deadline_at"]
    later = act(http, gateway, headers, case_id, "postpone", days=3, reason="需协调多部门联合处置").json()
    assert datetime.fromisoformat(later["deadline_at"]) - datetime.fromisoformat(before) >= timedelta(days=3)
    again = act(http, gateway, headers, case_id, "postpone", operation_id="p2", days=2, reason="再次延期")
    assert problem(again, 409, "action-conflict")["field"] == "/days"


def test_every_refusal_names_its_cause_and_changes_nothing(
    gateway: str, http: requests.Session, engine: Engine, keyring: KeyRing, hotline_cases: list[str]
) -> None:
    headers, case_id = key(engine, keyring), hotline_cases[0]
    base = f"{gateway}/districts/{JIANGAN}"
    problem(http.get(f"{base}/dispatches", timeout=30), 401, "unauthorized")
    problem(
        http.get(f"{base}/dispatches", headers={"Authorization": "Bearer cdk_nope_nope"}, timeout=30),
        401,
        "unauthorized",
    )
    problem(
        http.get(f"{gateway}/districts/{JIANGHAN}/dispatches", headers=headers, timeout=30), 403, "forbidden"
    )
    reader = key(engine, keyring, scopes=("dispatches:read",))
    assert problem(act(http, gateway, reader, case_id, "accept"), 403, "forbidden")["scope"] == "cases:write"
    problem(act(http, gateway, headers, case_id, "approve"), 404, "not-found")
    problem(act(http, gateway, headers, "0" * 8 + "-0000-5000-8000-" + "0" * 12, "accept"), 404, "not-found")
    wrong = act(http, gateway, headers, case_id, "complete", result=7, extra="x", at="yesterday")
    assert sorted(e["field"] for e in problem(wrong, 422, "invalid-action")["errors"]) == [
        "/at",
        "/extra",
        "/result",
    ]
    missing = act(http, gateway, headers, case_id, "return", reason_code="because")
    assert {e["field"] for e in problem(missing, 422, "invalid-action")["errors"]} == {
        "/reason",
        "/reason_code",
    }
    future = act(
        http, gateway, headers, case_id, "accept", at=(datetime.now(UTC) + timedelta(hours=1)).isoformat()
    )
    assert problem(future, 422, "invalid-action")["errors"][0]["code"] == "future_time"
    raw = {**headers, "Content-Type": "application/json"}
    problem(
        http.post(f"{base}/cases/{case_id}/accept", data=b"{not json", headers=raw, timeout=30),
        400,
        "malformed-json",
    )
    problem(
        http.post(f"{base}/cases/{case_id}/accept", data=b"x=1", headers=headers, timeout=30),
        415,
        "unsupported-media-type",
    )
    huge = json.dumps({"operation_id": "big", "at": now(), "note": "很" * 70_000}).encode()
    problem(
        http.post(f"{base}/cases/{case_id}/progress", data=huge, headers=raw, timeout=30),
        413,
        "body-too-large",
    )
    problem(act(http, gateway, headers, case_id, "complete", result="过早办结"), 409, "action-conflict")
    assert act(http, gateway, headers, case_id, "accept", operation_id="op-1").status_code == 200
    reused = act(http, gateway, headers, case_id, "progress", operation_id="op-1", note="另一件事")
    assert problem(reused, 409, "action-conflict")["field"] == "/operation_id"
    with engine.connect() as conn:
        assert conn.scalar(select(Case.version).where(Case.case_id == case_id)) == 2
    assert events(engine, partner="hotline") == []
