"""The pages behind Airflow's login, in a real Airflow API server shaped as `make up` starts it:
anyone Airflow has not let in gets the same 401, a viewer who may not replay gets a 403, and no
refusal — nor the pages a viewer may see — shows a value of the quarantined record, whose
reporter, number, ID and address are the markers of `tests/markers.py`."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
import requests
from sqlalchemy import Engine, select

from casehub.crypto import KeyRing
from casehub.demo import airflow_environment
from casehub.pipeline import Pipeline
from casehub.store import connect, migrate
from casehub.store.models import Quarantine
from connectors.hotline import MAPPER
from tests.markers import leaked, marked_order

USERS = {"admin": "admin-refusals-test", "viewer": "viewer-refusals-test"}
JWT_SECRET = "refusals-test-jwt-secret-" + "s" * 64
OTHER_SECRET = "not-the-servers-secret-" + "x" * 64
START_SECONDS = 90.0

pytestmark = pytest.mark.slow


@dataclass
class Airflow:
    url: str
    engine: Engine
    http: requests.Session

    def token(self, user: str) -> str:
        answer = self.http.post(
            f"{self.url}/auth/token", json={"username": user, "password": USERS[user]}, timeout=10
        )
        assert answer.status_code in (200, 201), answer.text
        return str(answer.json()["access_token"])

    def attempts(self) -> list[int]:
        with self.engine.connect() as conn:
            return list(conn.scalars(select(Quarantine.attempts).order_by(Quarantine.id)))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def airflow(airflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Airflow]:
    base = tmp_path_factory.mktemp("refusals")
    keyring = KeyRing.generate()
    ring_file = base / "keyring.json"
    ring_file.write_text(keyring.to_json(), encoding="utf-8")
    db_url = f"sqlite:///{base / 'casehub.db'}"
    engine = connect(db_url)
    migrate(engine)
    page = Pipeline(engine, MAPPER, keyring).ingest([marked_order(SSQX="火星区")])
    assert page.quarantined == 1
    passwords = base / "passwords.json"
    passwords.write_text(json.dumps(USERS), encoding="utf-8")
    env = {
        **{
            k: v
            for k, v in airflow_environment(airflow_db, connections={}).items()
            if not k.startswith("CASEHUB_")
        },
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API_AUTH__JWT_SECRET": JWT_SECRET,
        "CASEHUB_DB_URL": db_url,
        "CASEHUB_KEYRING_FILE": str(ring_file),
        "CASEHUB_HOME": str(base / "var"),
    }
    port = _free_port()
    log = base / "api-server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("airflow")),
                "api-server",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            assert process.poll() is None, log.read_text(errors="replace")[-2000:]
            assert time.monotonic() < deadline, "the API server did not answer in time"
            try:
                if requests.get(f"{url}/api/v2/monitor/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        with requests.Session() as http:
            yield Airflow(url, engine, http)
    finally:
        process.terminate()
        process.wait(timeout=30)
        engine.dispose()


def forged(secret: str) -> str:
    """An Airflow-shaped token for the admin, signed with a key that is not the server's."""
    return jwt.encode(
        {"sub": "admin", "role": "ADMIN", "exp": int(time.time()) + 600}, secret, algorithm="HS512"
    )


def test_anyone_airflow_has_not_let_in_gets_one_401_that_shows_nothing(airflow: Airflow) -> None:
    wrong = [
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": f"Bearer {forged(OTHER_SECRET)}"},
        {"Cookie": "_token=not-a-token"},
        {"Cookie": f"_token={forged(OTHER_SECRET)}"},
    ]
    bodies = set()
    for path in ("quarantine", "quality", "stats", "data-docs/"):
        for headers in wrong:
            answer = airflow.http.get(f"{airflow.url}/casehub/pages/{path}", headers=headers, timeout=10)
            assert answer.status_code == 401, (path, headers, answer.text)
            assert not leaked(answer.text) and "hotline" not in answer.text
            bodies.add(answer.text)
        refused = airflow.http.post(
            f"{airflow.url}/casehub/pages/quarantine/replay", json={"all": True}, headers=wrong[2], timeout=10
        )
        assert refused.status_code == 401
        bodies.add(refused.text)
    assert len(bodies) == 1


def test_a_viewer_sees_the_quarantine_masked_and_may_not_replay_it(airflow: Airflow) -> None:
    before = airflow.attempts()
    viewer = {"Authorization": f"Bearer {airflow.token('viewer')}"}
    shown = airflow.http.get(f"{airflow.url}/casehub/pages/quarantine", headers=viewer, timeout=10)
    assert shown.status_code == 200 and shown.json()["entries"]
    assert not leaked(shown.text), shown.text
    refused = airflow.http.post(
        f"{airflow.url}/casehub/pages/quarantine/replay", json={"all": True}, headers=viewer, timeout=30
    )
    assert refused.status_code == 403 and not leaked(refused.text)
    assert "WH20261120008765" not in refused.text and "unknown_district" not in refused.text
    assert airflow.attempts() == before, "a refused replay changes nothing"
    admin = {"Authorization": f"Bearer {airflow.token('admin')}"}
    replayed = airflow.http.post(
        f"{airflow.url}/casehub/pages/quarantine/replay", json={"all": True}, headers=admin, timeout=60
    )
    assert replayed.status_code == 200 and not leaked(replayed.text)
    assert airflow.attempts() == [attempt + 1 for attempt in before]
