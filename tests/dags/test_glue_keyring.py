"""The DAG tasks find the key ring as every other process does, the connection through Airflow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from casehub.crypto import KeyRing

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, os, sys
sys.path.insert(0, "dags")
import _glue

found = []
for drop in ("", "CASEHUB_KEYRING", "AIRFLOW_CONN_CASEHUB_KEYRING", "CASEHUB_HOME"):
    os.environ.pop(drop, None)
    if drop == "CASEHUB_HOME":
        os.environ["CASEHUB_HOME"] = sys.argv[1] + "/empty"
    try:
        found.append(_glue.keyring().active)
    except Exception as exc:
        found.append(f"{type(exc).__name__}: {exc}")
print(json.dumps(found))
"""


def test_the_dag_glue_looks_in_the_environment_airflow_then_the_local_file(tmp_path) -> None:
    from casehub.crypto import ensure_local_keyring, local_keyring_path

    home = tmp_path / "home"
    local = ensure_local_keyring(local_keyring_path({"CASEHUB_HOME": str(home)}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CASEHUB_KEYRING", "AIRFLOW_CONN_"))}
    connection = {"conn_type": "generic", "password": KeyRing.generate("from-airflow").to_json()}
    env.update(
        CASEHUB_HOME=str(home),
        CASEHUB_KEYRING=KeyRing.generate("from-env").to_json(),
        AIRFLOW_CONN_CASEHUB_KEYRING=json.dumps(connection),
    )
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found[:3] == ["from-env", "from-airflow", KeyRing.from_json(local.read_text()).active]
    assert found[3] == (
        "ConfigurationError: no key ring: looked in CASEHUB_KEYRING, CASEHUB_KEYRING_FILE, the Airflow "
        f"connection casehub_keyring and {tmp_path / 'empty' / 'keyring.json'}"
    )
