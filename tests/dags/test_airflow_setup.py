"""`casehub airflow-setup`, as compose's airflow-init runs it, against a real Airflow database:
a pool per partner of the manifest, and the connections of the partners the hub calls pointed at the
simulators, in Airflow's own store where an operator can repoint them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from casehub.demo import simulator_connections
from casehub.partners import delivered, load_partners, pulled

BIN = Path(sys.executable).parent


def _airflow(*args: str) -> str:
    done = subprocess.run(
        [str(BIN / "airflow"), *args], env=dict(os.environ), capture_output=True, text=True, check=True
    )
    return done.stdout


def test_pools_and_connections_come_from_the_manifest(airflow_db, tmp_path: Path) -> None:
    log = tmp_path / "setup.log"
    for _ in range(2):  # airflow-init reruns it on every start: the second run changes nothing
        done = subprocess.run(
            [str(BIN / "casehub"), "airflow-setup", "--simulators-host", "simulators", "--log", str(log)],
            env=dict(os.environ),
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, log.read_text(encoding="utf-8")
    pools = {p["pool"]: int(p["slots"]) for p in json.loads(_airflow("pools", "list", "--output", "json"))}
    assert {spec.pool: spec.pool_slots for spec in load_partners()}.items() <= pools.items()
    expected = simulator_connections("simulators")
    for spec in (*pulled(), *delivered()):
        [stored] = json.loads(_airflow("connections", "get", spec.connection, "--output", "json"))
        assert stored["host"] == expected[spec.connection]["host"]
        assert stored["login"] == expected[spec.connection]["login"]
        assert stored["conn_type"] == "http"
