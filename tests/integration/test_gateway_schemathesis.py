"""Schemathesis against the gateway's OpenAPI, served on loopback with a store, a key ring, the
gateway token, a district's API key, the community app's webhook secret and a guard for the
pages: every default check (server errors, status codes, content types, headers and bodies
against their schemas, negative and positive data, missing headers, undeclared methods, ignored
auth …) over every operation, with a fixed seed, must find nothing. The count of test cases it
generated is printed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import Request
from sqlalchemy import Engine

from casehub import credentials
from casehub.crypto import KeyRing
from casehub.gateway import create_app
from casehub.gateway.viewer import Viewer, not_signed_in
from tests.threaded import serving

REPO = Path(__file__).resolve().parents[2]
SEED = 20261201
MAX_EXAMPLES = 40
TOKEN = "schemathesis-gateway-token"
COOKIE = "casehub_viewer"
DISTRICT = "420102"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def guard(request: Request) -> Viewer:
    """The host's login, as a cookie: in, as a viewer who may replay, or refused (401)."""
    if request.cookies.get(COOKIE) != "signed-in":
        raise not_signed_in()
    return Viewer("schemathesis", may_replay=True, session="signed-in")


@pytest.fixture
def gateway(sqlite_engine: Engine, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("CASEHUB_KEYRING", keyring.to_json())
    monkeypatch.delenv("CASEHUB_KEYRING_FILE", raising=False)
    monkeypatch.setenv("CASEHUB_WEBHOOK_SECRETS_NEIGHBORHOOD_APP", WEBHOOK_SECRET)
    with serving(create_app(sqlite_engine, token=TOKEN, guard=guard)) as url:
        yield url


def _config(path: Path, district_key: str) -> Path:
    """The run's settings. Two say what the OpenAPI cannot: the SOAP endpoint answers its faults
    with HTTP 500, as SOAP 1.1 requires (`tests/schemathesis_hooks.py` holds each to being the
    caller's fault); and a district's action has rules beyond its schema — `at` not ahead of the
    hub's clock nor before the dispatch, one postponement — broken by a body the schema allows,
    and refused with 422 naming the field; and Open311's checks beyond its parameters' schemas
    (a window of at most 90 days, a service code the hub has, a place inside the city, the
    api_key itself) are the spec's 400, 403 and 404."""
    path.write_text(
        f"""
seed = {SEED}
hooks = "tests.schemathesis_hooks"
suppress-health-check = ["too_slow"]

[cache]
enabled = false

[generation]
max-examples = {MAX_EXAMPLES}
deterministic = true

[headers]
Cookie = "{COOKIE}=signed-in"

[auth.openapi.gatewayToken]
bearer = "{TOKEN}"

[auth.openapi.districtKey]
bearer = "{district_key}"

[[operations]]
include-path = "/soap/district"
include-method = "POST"
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "500"]

[[operations]]
include-path-regex = "^/districts/[{{]district_code[}}]/cases/"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]

[[operations]]
include-path-regex = "^/open311/v2/"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "403", "404", "429"]
""",
        encoding="utf-8",
    )
    return path


def test_schemathesis_finds_nothing_wrong_with_the_gateway(
    gateway: str, sqlite_engine: Engine, keyring: KeyRing, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    district_key = credentials.issue(sqlite_engine, keyring, DISTRICT).api_key
    config = _config(tmp_path / "schemathesis.toml", district_key)
    reports = tmp_path / "reports"
    run = subprocess.run(
        [
            sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
            f"{gateway}/openapi.json", "--report", "json", "--report-dir", str(reports),
            "--no-color", "--workers", "1",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    [report_file] = reports.glob("*.json")
    report = json.loads(report_file.read_text(encoding="utf-8"))
    assert run.returncode == 0 and report["failures"] == [] and report["errors"] == [], run.stdout[-20000:]
    assert report["operations"]["tested"] == report["operations"]["total"]
    with capsys.disabled():
        cases = report["test_cases"]
        print(f"\nschemathesis: {cases['generated']} test cases generated over "
              f"{report['operations']['tested']} operations (seed {SEED}), none failing")
