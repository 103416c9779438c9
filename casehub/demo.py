"""`casehub demo`: the main job end to end on one machine, on the embedded SQLite store.

It starts the partner simulators as their own process (the hub never imports them), prepares a
local Airflow home under `var/airflow`, and runs the real ingest DAGs with `airflow dags test`
— the scheduler's code path for one run, in-process — then reports what landed and what was
quarantined. Airflow is driven through its CLI, so the core still never imports it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import requests
from rich.console import Console
from rich.table import Table

from casehub.crypto import ensure_local_keyring
from casehub.errors import ConfigurationError
from casehub.partners import Partner, load_partners, pulled
from casehub.paths import ROOT, var_dir
from casehub.stats import collect
from casehub.store import connect, migrate

PAGE_LINE = re.compile(r"(\w+) page: (\d+) received, (\d+) already landed, (\d+) accepted, (\d+) quarantined")


@dataclass(frozen=True)
class DemoOptions:
    seed: int = 42
    defect_rate: float = 0.05


def airflow_environment(home: Path, *, connections: Mapping[str, Mapping[str, object]]) -> dict[str, str]:
    """Environment for a local Airflow on SQLite that loads our DAGs and plugins, no examples."""
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "GX_ANALYTICS_ENABLED": "false",
            "NO_COLOR": "1",
            # `airflow standalone` starts its components as `airflow …` from PATH: this venv's.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        }
    )
    for conn_id, fields in connections.items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(fields)
    return env


def served() -> list[Partner]:
    """The pulled partners whose simulators the demo serves, in manifest order."""
    return [p for p in pulled() if p.simulator is not None]


def simulator_connections(host: str = "127.0.0.1") -> dict[str, dict[str, object]]:
    """The Airflow connection of every pulled partner, pointed at its simulator."""
    connections: dict[str, dict[str, object]] = {}
    for spec in served():
        assert spec.simulator is not None
        connections[spec.connection] = {
            "conn_type": "http",
            "host": f"http://{host}:{spec.simulator.port}{spec.simulator.path}",
            "login": spec.simulator.login,
            "password": spec.simulator.secret,
            "extra": {"timeout": 10},
        }
    return connections


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConfigurationError(f"the simulators exited early (code {process.returncode}); see var/logs")
        try:
            if requests.get(url, timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise ConfigurationError(f"simulator at {url} did not become ready in {timeout:.0f} s")


def start_simulators(options: DemoOptions, log_dir: Path) -> subprocess.Popen[bytes]:
    ports = {p.code: p.simulator.port for p in served() if p.simulator is not None}
    for partner, port in ports.items():
        try:
            requests.get(f"http://127.0.0.1:{port}/_admin/health", timeout=1)
        except requests.RequestException:
            continue
        raise ConfigurationError(
            f"port {port} is already serving ({partner}?): stop the other simulator first"
        )
    log = (log_dir / "simulators.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [
            sys.executable,
            "-m",
            "simulators",
            "all",
            "--seed",
            str(options.seed),
            "--defect-rate",
            str(options.defect_rate),
            "--var-dir",
            str(var_dir()),
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    for port in ports.values():
        _wait_ready(f"http://127.0.0.1:{port}/_admin/health", process)
    return process


def _airflow(args: list[str], env: Mapping[str, str], log: Path) -> None:
    with log.open("ab") as handle:
        done = subprocess.run(  # noqa: S603 - the venv's own airflow, fixed arguments
            [str(Path(sys.executable).with_name("airflow")), *args],
            env=dict(env),
            stdout=handle,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0:
        raise ConfigurationError(f"`airflow {' '.join(args[:2])}` failed; see {log}")


def run_dag(spec: Partner, env: Mapping[str, str], log: Path, console: Console) -> None:
    """`airflow dags test`, streaming its log to a file and page counts to the screen."""
    dag_id = f"ingest_{spec.code}"
    totals = [0, 0, 0]
    started = time.monotonic()
    with log.open("wb") as handle, console.status(f"running {dag_id} …") as status:
        process = subprocess.Popen(  # noqa: S603 - the venv's own airflow, fixed arguments
            [str(Path(sys.executable).with_name("airflow")), "dags", "test", dag_id],
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert process.stdout is not None
        failure: list[str] = []
        for line in process.stdout:
            handle.write(line)
            if failure or b"Task failed with exception" in line:
                # The DAG would wait out its retry delays; a demo shows the cause at once instead.
                failure.append(line.decode(errors="replace").rstrip())
                if len(failure) > 60:
                    process.terminate()
                    break
                continue
            match = PAGE_LINE.search(line.decode(errors="replace"))
            if match:
                totals[0] += int(match[2])
                totals[1] += int(match[4])
                totals[2] += int(match[5])
                status.update(
                    f"running {dag_id}: {totals[0]} records read, {totals[1]} accepted, "
                    f"{totals[2]} quarantined ({time.monotonic() - started:.0f} s)"
                )
        process.wait()
    if failure:
        raise ConfigurationError(f"{dag_id} failed; from {log}:\n" + "\n".join(failure))
    text = log.read_text(encoding="utf-8", errors="replace")
    if process.returncode != 0 or "state=failed" in text:
        tail = "\n".join(text.splitlines()[-25:])
        raise ConfigurationError(f"{dag_id} failed; the end of {log}:\n{tail}")
    console.print(
        f"[green]✓[/] {dag_id}: {totals[0]} records read, {totals[1]} accepted, {totals[2]} quarantined "
        f"in {time.monotonic() - started:.0f} s"
    )


def _counts(title: str, key: str, unit: str, counts: Mapping[str, int]) -> Table:
    table = Table(title=title, show_edge=False)
    table.add_column(key)
    table.add_column(unit, justify="right")
    for name, count in counts.items():
        table.add_row(name, str(count))
    return table


def report(console: Console) -> dict[str, object]:
    stats = collect(connect())
    console.print(_counts("cases landed", "channel", "cases", stats["cases"]["by_channel"]))
    console.print(_counts("quarantined, by reason", "reason", "records", stats["quarantined"]["by_reason"]))
    outcome = stats["raw_by_outcome"]
    mark = "[green]reconciled[/]" if stats["reconciled"] else "[red]NOT reconciled[/]"
    console.print(
        f"raw records {stats['raw']} = accepted {outcome['accepted']} + quarantined "
        f"{outcome['quarantined']} + superseded {outcome['superseded']}: {mark}"
    )
    return stats


def prepare(options: DemoOptions, console: Console) -> tuple[dict[str, str], subprocess.Popen[bytes], Path]:
    """Key ring, store, Airflow metadata and pools, and the simulators: what a local run needs."""
    home = var_dir()
    logs = home / "logs" / "demo"
    logs.mkdir(parents=True, exist_ok=True)
    if not (os.environ.get("CASEHUB_KEYRING") or os.environ.get("CASEHUB_KEYRING_FILE")):
        os.environ["CASEHUB_KEYRING_FILE"] = str(ensure_local_keyring(home / "keyring.json"))
        console.print(f"key ring: created or reused {os.environ['CASEHUB_KEYRING_FILE']} (local use only)")
    with console.status("migrating the store …"):
        migrate(connect())
    console.print("[green]✓[/] store migrated (var/casehub.db unless CASEHUB_DB_URL says otherwise)")
    env = airflow_environment(home / "airflow", connections=simulator_connections())
    with console.status("preparing Airflow's metadata database (var/airflow) …"):
        _airflow(["db", "migrate"], env, logs / "airflow-setup.log")
        for spec in load_partners():
            _airflow(
                ["pools", "set", spec.pool, str(spec.pool_slots), f"calls to {spec.title}"],
                env,
                logs / "airflow-setup.log",
            )
    console.print("[green]✓[/] Airflow ready (SQLite metadata, a pool per partner)")
    with console.status("starting the partner simulators …"):
        simulators = start_simulators(options, logs)
    listening = ", ".join(
        f"{p.code} :{p.simulator.port} ({p.protocol.upper()})" for p in served() if p.simulator is not None
    )
    console.print(f"[green]✓[/] simulators up: {listening}")
    return env, simulators, logs


def run(options: DemoOptions | None = None, console: Console | None = None) -> dict[str, object]:
    options = options or DemoOptions()
    console = console or Console()
    env, simulators, logs = prepare(options, console)
    try:
        for spec in served():
            run_dag(spec, env, logs / f"ingest_{spec.code}.log", console)
    finally:
        simulators.terminate()
        simulators.wait(timeout=30)
    stats = report(console)
    console.print(
        "\nwhere to look next:\n"
        "  casehub stats --json            everything above, as JSON\n"
        "  casehub quarantine list         each quarantined record with its reasons\n"
        "  casehub quarantine replay       retry them once the cause is fixed\n"
        "  make up                         the same DAGs in the Airflow UI at http://127.0.0.1:8080\n"
        f"  {logs}   the DAG runs' logs"
    )
    return stats


def up(options: DemoOptions | None = None, console: Console | None = None) -> int:
    """The simulators and a local Airflow (`airflow standalone`: API server, UI, scheduler) until Ctrl-C."""
    options = options or DemoOptions()
    console = console or Console()
    env, simulators, _ = prepare(options, console)
    console.print(
        "starting Airflow: UI at http://127.0.0.1:8080 — the admin password is printed below and kept in "
        "var/airflow; unpause ingest_hotline and ingest_message_board, or trigger them. Ctrl-C stops all."
    )
    try:
        return subprocess.call(  # noqa: S603 - the venv's own airflow, fixed arguments
            [str(Path(sys.executable).with_name("airflow")), "standalone"], env=env
        )
    except KeyboardInterrupt:
        return 0
    finally:
        simulators.terminate()
        simulators.wait(timeout=30)
