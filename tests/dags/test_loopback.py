"""Every server a local run starts listens on loopback unless told otherwise: the Airflow API
server `make up` starts (through `airflow standalone`, in the environment `casehub.demo`
prepares), the gateway and the simulators."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from casehub.cli import parser as casehub_parser
from casehub.demo import LOOPBACK, airflow_environment
from tests.served import CASEHUB, gateway_env

PROBE = """
import json
from airflow.cli.cli_parser import get_parser
from airflow.configuration import conf
args = get_parser().parse_args(["api-server"])
print(json.dumps({"api_server": args.host,
                  "health_check": conf.get("scheduler", "scheduler_health_check_server_host")}))
"""


def _airflow_binds(*envs: dict[str, str]) -> list[dict[str, str]]:
    """Where the API server and the scheduler's health check would listen in each environment, as
    Airflow's own CLI parser and configuration decide it (what `airflow standalone` runs)."""
    probes = [
        subprocess.Popen(
            [sys.executable, "-c", PROBE], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for env in envs
    ]
    found = []
    for probe in probes:
        out, err = probe.communicate(timeout=120)
        assert probe.returncode == 0, err[-2000:]
        found.append(dict(json.loads(out.strip().splitlines()[-1])))
    return found


def test_the_local_airflow_listens_on_loopback_unless_the_operator_says_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRFLOW__API__HOST", raising=False)
    monkeypatch.delenv("AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST", raising=False)
    local = airflow_environment(tmp_path / "airflow", connections={})
    bare = {k: v for k, v in local.items() if k not in ("AIRFLOW__API__HOST",)}
    monkeypatch.setenv("AIRFLOW__API__HOST", "0.0.0.0")
    told = airflow_environment(tmp_path / "airflow", connections={})
    ours, airflows, operators = _airflow_binds(local, bare, told)
    assert ours == {"api_server": LOOPBACK, "health_check": LOOPBACK}
    assert airflows["api_server"] == "0.0.0.0", "Airflow's own default, which the environment overrides"
    assert operators["api_server"] == "0.0.0.0"


def test_the_gateway_and_the_simulators_default_to_loopback() -> None:
    assert casehub_parser().parse_args(["serve"]).host == LOOPBACK
    main = importlib.import_module("simulators.__main__")
    for partner in (*main.APP_FACTORIES, "all"):
        assert main.parser().parse_args([partner]).host == LOOPBACK, partner


def test_casehub_serve_with_no_host_given_listens_on_loopback(tmp_path: Path) -> None:
    """The gateway started as the demo starts it, without --host: uvicorn's own start-up line."""
    from casehub.crypto import KeyRing

    env = gateway_env(f"sqlite:///{tmp_path / 'casehub.db'}", tmp_path, KeyRing.generate().to_json())
    with subprocess.Popen(
        [str(CASEHUB), "serve", "--port", "0"],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    ) as process:
        try:
            assert process.stderr is not None
            started = next((line for line in process.stderr if "Uvicorn running on" in line), "")
        finally:
            process.kill()
    assert f"Uvicorn running on http://{LOOPBACK}:" in started
