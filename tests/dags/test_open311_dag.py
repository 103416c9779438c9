"""`process_requests_open311` end to end: requests filed over HTTP at a real gateway land in the
inbox, the DAG (`dag.test()`) turns them into cases through the pipeline — mapping,
validation, quarantine, dedup, routing — and each comes back through its token and as a
service request, a probable duplicate with its parent."""

from __future__ import annotations

import requests
from sqlalchemy import select

from casehub.crypto import KeyRing
from casehub.gateway import create_app
from casehub.open311 import keys
from casehub.store import Quarantine, connect, migrate
from casehub.store.models import InboundWebhook
from tests.markers import ADDRESS, NAME, PHONE, leaked
from tests.threaded import serving

DAG_ID = "process_requests_open311"
LAMP = f"我是{NAME}，电话{PHONE}，住{ADDRESS}，解放大道路口的路灯坏了，晚上一片漆黑。"


def test_filed_requests_become_cases_through_the_dag_and_come_back_by_token(
    dagbag, tmp_path, monkeypatch
) -> None:
    dag = dagbag.get_dag(DAG_ID)
    assert {"casehub", "open311"} <= set(dag.tags) and "Open311" in dag.doc_md
    db_url = f"sqlite:///{tmp_path / 'casehub.db'}"
    ring = KeyRing.generate()
    monkeypatch.setenv("CASEHUB_DB_URL", db_url)
    monkeypatch.setenv("CASEHUB_KEYRING", ring.to_json())
    engine = connect(db_url)
    migrate(engine)
    api_key = keys.issue(engine, "a civic app").api_key
    base = {"api_key": api_key, "service_code": "020016", "lat": "30.6248", "long": "114.3152"}
    filed = [
        {**base, "description": LAMP, "first_name": NAME[1:], "last_name": NAME[0],
         "phone": PHONE, "address_string": ADDRESS},
        {**base, "description": "解放大道路口的路灯坏了，晚上一片漆黑，请尽快修理。", "phone": "13800138000"},
        {"api_key": api_key, "service_code": "020016", "description": "路灯坏了",
         "address_string": "某个地方"},
    ]
    bodies: list[str] = []
    with serving(create_app(engine)) as url:
        tokens = []
        for form in filed:
            answer = requests.post(f"{url}/open311/v2/requests.json", data=form, timeout=10)
            assert answer.status_code == 200, answer.text
            tokens.append(answer.json()[0]["token"])

        assert dag.test().state == "success"

        made = []
        for token in tokens:
            answer = requests.get(f"{url}/open311/v2/tokens/{token}.json", timeout=10)
            bodies.append(answer.text)
            made.append(answer.json()[0]["service_request_id"])
        first, second, placeless = made
        assert first and second and placeless is None, "the third names no district: quarantined"
        shown = {}
        for case_id in (first, second):
            answer = requests.get(f"{url}/open311/v2/requests/{case_id}.json", timeout=10)
            bodies.append(answer.text)
            shown[case_id] = answer.json()[0]
        assert shown[second]["duplicate_of"] == first and shown[second]["extended_status"] == "duplicate"
        assert shown[first]["duplicate_of"] is None and shown[first]["status"] == "open"
        wanted = {"service_code": "020016"}
        listing = requests.get(f"{url}/open311/v2/requests.xml", params=wanted, timeout=10)
        bodies.append(listing.text)
        assert listing.text.count("<request>") == 2

        assert dag.test().state == "success", "a rerun finds nothing pending and changes nothing"
        again = [requests.get(f"{url}/open311/v2/tokens/{t}.json", timeout=10).json()[0] for t in tokens]
        assert [each["service_request_id"] for each in again] == made
    with engine.connect() as conn:
        reasons = conn.execute(
            select(Quarantine.reasons).where(Quarantine.channel == "open311")
        ).scalars().all()
        states = conn.execute(
            select(InboundWebhook.state).where(InboundWebhook.partner == "open311")
        ).scalars()
        assert set(states) == {"processed"}
    assert [[r["code"] for r in entry] for entry in reasons] == [["unknown_district"]]
    assert leaked(*bodies) == []
