"""`casehub demo`: the main job end to end on one machine, on the embedded SQLite store.

It starts the partner simulators as their own process (the hub never imports them) and the
gateway, prepares a local Airflow home under `var/airflow`, and runs one whole cycle of the
民呼我应 network through the real DAGs with `airflow dags test` — the scheduler's code path for
one run, in-process:

1. the ingest DAGs pull the hotline, the message board and urban management, the community app
   pushes its webhooks and its DAG lands them: cases are classified, graded, routed, given a
   deadline and dispatched (to a district platform, or transferred to urban management);
2. `deliver_outbox` transfers the city-management cases into urban management (CreateCase);
3. the 13 district platforms (`python -m simulators district --once`, with credentials the demo
   issues) fetch their dispatches over REST or SOAP, accept, handle and complete them — or
   return them, which re-dispatches them;
4. `deliver_outbox` sends each result back to the channel the case came from (the hotline's
   handling result, an official reply on the board, a status callback to the app);
5. the ingest DAGs run again: the hotline's evaluations and urban management's progress come
   back into the cases;
6. the push DAGs send the city brain and the health commission their feeds.
Then it reports the counts per partner and direction. Airflow is driven through its CLI, so the
core still never imports it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from casehub.crypto import ensure_local_keyring, local_keyring_path
from casehub.errors import ConfigurationError
from casehub.normalize import SHANGHAI
from casehub.partners import Partner, delivered, load_partners, pulled, pushing
from casehub.paths import ROOT, data_docs_dir, var_dir
from casehub.stats import collect
from casehub.store import connect, migrate

LOOPBACK = "127.0.0.1"
"""Where every server a local run starts listens, unless the environment says otherwise: the
machine itself, never its network."""
GATEWAY_PORT = 8000
GATEWAY_URL = f"http://{LOOPBACK}:{GATEWAY_PORT}"
PUSH_LINE = re.compile(r"(\w+) push: (\{.*\})")
OUTBOX_LINE = re.compile(r"(\w+) outbox: (\{.*\})")
SUPERVISION_LINE = re.compile(r"supervision: (\{.*\})")
OUTBOX_DAG = "deliver_outbox"
SUPERVISE_DAG = "supervise_deadlines"
QUALITY_DAG = "quality_daily"
QUALITY_LINE = re.compile(r"quality_daily: (\{.*\})")
HOTSPOTS_DAG = "hotspots_daily"
HOTSPOTS_LINE = re.compile(r"hotspots_daily: (\{.*\})")
DISTRICT_COUNT = re.compile(r"(\w+) (\d+)")
PAGE_LINE = re.compile(r"(\w+) page: (\d+) received, (\d+) already landed, (\d+) accepted, (\d+) quarantined")


@dataclass(frozen=True)
class DemoOptions:
    seed: int = 42
    defect_rate: float = 0.05


def airflow_environment(home: Path, *, connections: Mapping[str, Mapping[str, object]]) -> dict[str, str]:
    """Environment for a local Airflow on SQLite that loads our DAGs and plugins, no examples.

    Airflow's API server — the UI, its API and the mounted gateway — and the scheduler's health
    check would listen on every interface (Airflow's default, 0.0.0.0); here they listen on
    loopback unless `AIRFLOW__API__HOST` (or the health check's setting) is already set.
    """
    env = dict(os.environ)
    env.setdefault("AIRFLOW__API__HOST", LOOPBACK)
    env.setdefault("AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST", LOOPBACK)
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
    """The partners whose simulators listen (those the hub pulls from or delivers to, and a
    sender that takes the outbox's callbacks on its port), in manifest order."""
    return [p for p in load_partners() if p.simulator is not None and p.simulator.port > 0]


def simulator_connections(
    host: str = "127.0.0.1", *, sequential: bool = False
) -> dict[str, dict[str, object]]:
    """The Airflow connection of every partner the hub calls, pointed at its simulator.

    `sequential` is for the demo, which runs one DAG after another: with nothing committing
    while a push runs, a push may include what landed a moment ago (no settle time).
    """
    connections: dict[str, dict[str, object]] = {}
    for spec in served():
        assert spec.simulator is not None
        extra: dict[str, object] = {"timeout": 10}
        if sequential and spec.deliver is not None:
            extra["settle_seconds"] = 0
        connections[spec.connection] = {
            "conn_type": "http",
            "host": f"http://{host}:{spec.simulator.port}{spec.simulator.path}",
            "login": spec.simulator.login,
            "password": spec.simulator.callback_secret or spec.simulator.secret,
            "extra": extra,
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


def _refuse_busy(url: str, what: str) -> None:
    try:
        requests.get(url, timeout=1)
    except requests.RequestException:
        return
    raise ConfigurationError(f"{url} is already serving ({what}?): stop it first")


def start_gateway(log_dir: Path) -> subprocess.Popen[bytes]:
    """`casehub serve` on the demo's port, holding each pushing partner's demo webhook secret."""
    _refuse_busy(f"{GATEWAY_URL}/healthz", "another gateway")
    env = dict(os.environ)
    for spec in pushing():
        if spec.simulator is not None:
            env.setdefault(spec.pushing().secret_env, spec.simulator.secret)
    process = subprocess.Popen(  # noqa: S603 - the venv's own casehub, fixed arguments
        [str(Path(sys.executable).with_name("casehub")), "serve", "--port", str(GATEWAY_PORT)],
        cwd=ROOT,
        env=env,
        stdout=(log_dir / "gateway.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    _wait_ready(f"{GATEWAY_URL}/healthz", process)
    return process


def push_webhooks(spec: Partner, options: DemoOptions, log: Path, console: Console) -> None:
    """The partner's stand-in sends its reports to the gateway, as the real app would."""
    assert spec.simulator is not None
    started = time.monotonic()
    with log.open("wb") as handle, console.status(f"{spec.code} sending its reports to the gateway …"):
        done = subprocess.run(  # noqa: S603 - our own module, fixed arguments
            [
                sys.executable,
                "-m",
                "simulators",
                spec.code,
                "--target",
                GATEWAY_URL,
                "--secret",
                spec.simulator.secret,
                "--seed",
                str(options.seed),
                "--defect-rate",
                str(options.defect_rate),
                "--retry-scale",
                "0.01",
            ],
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
            check=False,
        )
    lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    if done.returncode != 0:
        raise ConfigurationError(f"{spec.code} could not deliver its webhooks; see {log}")
    seconds = time.monotonic() - started
    console.print(f"[green]✓[/] {lines[-1] if lines else spec.code + ' sent its reports'} ({seconds:.0f} s)")


def start_simulators(options: DemoOptions, log_dir: Path) -> subprocess.Popen[bytes]:
    ports = {p.code: p.simulator.port for p in served() if p.simulator is not None}
    for partner, port in ports.items():
        _refuse_busy(f"http://127.0.0.1:{port}/_admin/health", f"the {partner} simulator")
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


def configure_airflow(env: Mapping[str, str], log: Path, *, simulators_host: str | None = None) -> None:
    """A pool per partner of the manifest (`casehub airflow-setup`, also run by compose's
    airflow-init); with `simulators_host`, the connections of the partners it calls too, at the
    simulators there and stored in Airflow's database, where an operator can repoint them."""
    for spec in load_partners():
        _airflow(["pools", "set", spec.pool, str(spec.pool_slots), f"calls to {spec.title}"], env, log)
    if simulators_host is None:
        return
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "connections.json"
        path.write_text(json.dumps(simulator_connections(simulators_host)), encoding="utf-8")
        _airflow(["connections", "import", "--overwrite", str(path)], env, log)


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


def has_dag(spec: Partner) -> bool:
    """Whether the partner has a DAG of its own (the district platforms call the gateway instead)."""
    return spec.pull is not None or spec.push_in is not None or spec.deliver is not None


def dag_id_of(spec: Partner) -> str:
    """The partner's DAG: its ingest, its webhook processing, or its scheduled push."""
    if spec.pull is not None:
        return f"ingest_{spec.code}"
    return f"process_webhooks_{spec.code}" if spec.push_in is not None else f"push_{spec.code}"


def run_dag(spec: Partner, env: Mapping[str, str], log: Path, console: Console) -> None:
    """`airflow dags test`, streaming its log to a file and page counts to the screen."""
    dag_id = dag_id_of(spec)
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
    seconds = time.monotonic() - started
    pushed = [json.loads(m[2]) for m in PUSH_LINE.finditer(text)]
    if spec.deliver is not None and pushed:
        records = sum(int(p["records"]) for p in pushed)
        batches = sum(int(p["batches"]) for p in pushed)
        noun = "batch" if batches == 1 else "batches"
        console.print(f"[green]✓[/] {dag_id}: {records} cases in {batches} signed {noun} in {seconds:.0f} s")
        return
    console.print(
        f"[green]✓[/] {dag_id}: {totals[0]} records read, {totals[1]} accepted, {totals[2]} quarantined "
        f"in {seconds:.0f} s"
    )


def _airflow_test(
    dag_id: str, env: Mapping[str, str], log: Path, console: Console, *, conf: Mapping[str, Any] | None = None
) -> str:
    """`airflow dags test dag_id`, its log to `log`; the log's text, or the failure's cause."""
    extra = ["--conf", json.dumps(dict(conf))] if conf else []
    with log.open("wb") as handle, console.status(f"running {dag_id} …"):
        done = subprocess.run(  # noqa: S603 - the venv's own airflow, fixed arguments
            [str(Path(sys.executable).with_name("airflow")), "dags", "test", dag_id, *extra],
            env=dict(env),
            stdout=handle,
            stderr=subprocess.STDOUT,
            check=False,
        )
    text = log.read_text(encoding="utf-8", errors="replace")
    if done.returncode != 0 or "state=failed" in text or "Task failed with exception" in text:
        tail = "\n".join(text.splitlines()[-25:])
        raise ConfigurationError(f"{dag_id} failed; the end of {log}:\n{tail}")
    return text


def run_outbox(env: Mapping[str, str], log: Path, console: Console) -> dict[str, dict[str, int]]:
    """One run of `supervise_deadlines`, then of `deliver_outbox`: each partner's due events."""
    started = time.monotonic()
    supervised = _airflow_test(SUPERVISE_DAG, env, log, console)
    text = _airflow_test(OUTBOX_DAG, env, log, console)
    runs = {m[1]: json.loads(m[2]) for m in OUTBOX_LINE.finditer(text)}
    flagged = [json.loads(m[1]) for m in SUPERVISION_LINE.finditer(supervised)]
    sent = ", ".join(
        f"{code} {run['delivered']}" + (f" (+{run['retried']} to retry)" if run["retried"] else "")
        for code, run in runs.items()
    )
    overdue = f"; {flagged[-1]['cases']} cases supervised (督办)" if flagged and flagged[-1]["cases"] else ""
    seconds = time.monotonic() - started
    console.print(f"[green]✓[/] {OUTBOX_DAG}: delivered {sent}{overdue} in {seconds:.0f} s")
    return runs


def run_quality(env: Mapping[str, str], log: Path, console: Console) -> dict[str, Any]:
    """`quality_daily` on today (the day the demo's records landed), which builds the Data Docs."""
    started = time.monotonic()
    day = datetime.now(SHANGHAI).date().isoformat()
    text = _airflow_test(QUALITY_DAG, env, log, console, conf={"day": day})
    found = QUALITY_LINE.findall(text)
    summary: dict[str, Any] = json.loads(found[-1]) if found else {"channels": {}}
    rules = sum(entry["rules"] for entry in summary["channels"].values())
    failed = sorted({rule for entry in summary["channels"].values() for rule in entry["failed"]})
    seconds = time.monotonic() - started
    console.print(
        f"[green]✓[/] {QUALITY_DAG}: {rules} rule results on {len(summary['channels'])} channels for {day}"
        f" in {seconds:.0f} s; broken: {', '.join(failed) or 'none'}; Data Docs in {data_docs_dir()}"
    )
    return summary


def run_hotspots(env: Mapping[str, str], log: Path, console: Console) -> dict[str, Any]:
    """`hotspots_daily` on yesterday, the last whole day the simulators' records were reported on
    (they landed today, but tell of the days before): the city's leading terms."""
    started = time.monotonic()
    day = (datetime.now(SHANGHAI).date() - timedelta(days=1)).isoformat()
    text = _airflow_test(HOTSPOTS_DAG, env, log, console, conf={"day": day})
    found = HOTSPOTS_LINE.findall(text)
    summary: dict[str, Any] = json.loads(found[-1]) if found else {"cases": 0, "top": [], "rising": []}
    seconds = time.monotonic() - started
    console.print(
        f"[green]✓[/] {HOTSPOTS_DAG}: {summary['cases']} cases for {day} in {seconds:.0f} s; top terms: "
        f"{'、'.join(summary['top']) or 'none'}; rising: {'、'.join(summary['rising']) or 'none'}",
        highlight=False,
    )
    return summary


def issue_district_credentials(path: Path) -> None:
    """An API key and a SOAP credential for each of the 13 districts, written for the district
    simulator only (mode 0600): the store keeps the key's hash and the password sealed."""
    from casehub import credentials
    from casehub.crypto import load_keyring
    from casehub.reference import load_reference

    engine, ring = connect(), load_keyring()
    issued: dict[str, dict[str, str]] = {}
    for code in sorted(load_reference().districts):
        key = credentials.issue(engine, ring, code)
        soap = credentials.issue(engine, ring, code, kind="soap")
        issued[code] = {"api_key": key.api_key, "soap_username": soap.key_id, "soap_password": soap.secret}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(json.dumps(issued, indent=2), encoding="utf-8")


def run_districts(options: DemoOptions, credentials_file: Path, log: Path, console: Console) -> None:
    """One pass of the 13 district platforms against the gateway (`simulators district --once`)."""
    started = time.monotonic()
    with log.open("wb") as handle, console.status("the district platforms fetch and handle their cases …"):
        done = subprocess.run(  # noqa: S603 - our own module, fixed arguments
            [
                sys.executable,
                "-m",
                "simulators",
                "district",
                "--target",
                GATEWAY_URL,
                "--credentials",
                str(credentials_file),
                "--once",
                "--seed",
                str(options.seed),
                "--var-dir",
                str(var_dir()),
            ],
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
            check=False,
        )
    lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    if done.returncode != 0:
        raise ConfigurationError(f"the district platforms failed; see {log}")
    totals: dict[str, int] = {}
    for line in lines:
        for key, number in DISTRICT_COUNT.findall(line.partition("): ")[2]):
            totals[key] = totals.get(key, 0) + int(number)
    did = ", ".join(f"{key} {number}" for key, number in totals.items()) or "nothing to do"
    seconds = time.monotonic() - started
    console.print(f"[green]✓[/] {len(lines)} district platforms: {did} ({seconds:.0f} s)")


def _counts(title: str, key: str, unit: str, counts: Mapping[str, object]) -> Table:
    table = Table(title=title, show_edge=False)
    table.add_column(key)
    table.add_column(unit, justify="right")
    for name, count in counts.items():
        table.add_row(name, str(count))
    return table


def _median(values: list[float]) -> float | None:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else None


def cycle(engine: Engine, started: datetime) -> dict[str, Any]:
    """The loop's counts per partner and direction, and its two latencies (no personal data).

    `dispatch_seconds`: from the demo's start, when the simulators' work orders are there to be
    read, to a district confirming a hotline case's dispatch; `result_seconds`: from a district's
    completion of a hotline case to the hotline's receipt of its handling result.
    """
    from sqlalchemy import func, select

    from casehub.store.models import Case, OutboxEvent, WorkflowOperation

    with engine.connect() as conn:
        sent = conn.execute(
            select(OutboxEvent.partner, OutboxEvent.kind, OutboxEvent.state, func.count()).group_by(
                OutboxEvent.partner, OutboxEvent.kind, OutboxEvent.state
            )
        ).all()
        acted = conn.execute(
            select(WorkflowOperation.actor, WorkflowOperation.action, func.count()).group_by(
                WorkflowOperation.actor, WorkflowOperation.action
            )
        ).all()
        evaluated = conn.scalar(
            select(func.count()).where(Case.channel == "hotline", Case.satisfaction.is_not(None))
        )
        dispatched = conn.execute(
            select(OutboxEvent.delivered_at)
            .join(Case, Case.case_id == OutboxEvent.case_id)
            .where(
                OutboxEvent.partner == "district",
                OutboxEvent.kind == "dispatch",
                OutboxEvent.state == "delivered",
                Case.channel == "hotline",
            )
        ).scalars()
        dispatch_seconds = [(at - started).total_seconds() for at in dispatched if at is not None]
        results = conn.execute(
            select(WorkflowOperation.recorded_at, OutboxEvent.delivered_at)
            .join(OutboxEvent, OutboxEvent.case_id == WorkflowOperation.case_id)
            .where(
                WorkflowOperation.action == "complete",
                OutboxEvent.partner == "hotline",
                OutboxEvent.kind == "result",
                OutboxEvent.state == "delivered",
            )
        ).all()
    result_seconds = [(got - done).total_seconds() for done, got in results if got is not None]
    out: dict[str, dict[str, int]] = {}
    for partner, kind, state, number in sent:
        out.setdefault(f"{partner} {kind}", {"delivered": 0, "pending": 0, "dead": 0})[state] = int(number)
    back: dict[str, int] = {}
    for actor, action, number in acted:
        who = "district" if actor.isdigit() else actor
        back[f"{who} {action}"] = back.get(f"{who} {action}", 0) + int(number)
    back["hotline evaluation"] = int(evaluated or 0)
    return {
        "out": dict(sorted(out.items())),
        "in": dict(sorted(back.items())),
        "dispatch_seconds": _median(dispatch_seconds),
        "result_seconds": _median(result_seconds),
    }


def report_cycle(
    console: Console, engine: Engine, started: datetime, stats: Mapping[str, Any]
) -> dict[str, Any]:
    loop = cycle(engine, started)
    table = Table(title="the loop, per partner and direction", show_edge=False)
    for column in ("partner", "direction", "what", "delivered", "pending", "dead"):
        table.add_column(column, justify="right" if column in ("delivered", "pending", "dead") else "left")
    for name, states in loop["out"].items():
        partner, kind = name.split(" ")
        table.add_row(
            partner, "hub →", kind, str(states["delivered"]), str(states["pending"]), str(states["dead"])
        )
    for name, count in loop["in"].items():
        partner, action = name.split(" ")
        table.add_row(partner, "→ hub", action, str(count), "", "")
    for name, entry in stats["provisions"].items():
        table.add_row(name, "hub →", "scheduled feed (cases)", str(entry["records"]), "", "")
    console.print(table)
    if loop["dispatch_seconds"] is not None:
        console.print(
            f"hotline work order in the simulator → its dispatch confirmed by a district: median "
            f"{loop['dispatch_seconds']:.0f} s; a district's completion → the hotline's receipt of "
            f"the result: median {loop['result_seconds'] or 0:.0f} s (the demo runs each DAG once, in turn)"
        )
    return loop


def report(console: Console) -> dict[str, object]:
    stats = collect(connect())
    cases = stats["cases"]
    console.print(_counts("cases landed", "channel", "cases", cases["by_channel"]))
    total = cases["total"] or 1
    for title, key, counts in (
        ("graded", "grade", cases["by_grade"]),
        ("routed to", "unit kind", cases["by_unit_kind"]),
    ):
        shares = {name: f"{count} ({100 * count / total:.0f}%)" for name, count in counts.items()}
        console.print(_counts(title, key, "cases", shares))
    provided = {name: entry["records"] for name, entry in stats["provisions"].items()}
    if provided:
        console.print(_counts("pushed (provision log)", "recipient", "cases", provided))
    console.print(_counts("quarantined, by reason", "reason", "records", stats["quarantined"]["by_reason"]))
    outcome = stats["raw_by_outcome"]
    mark = "[green]reconciled[/]" if stats["reconciled"] else "[red]NOT reconciled[/]"
    console.print(
        f"raw records {stats['raw']} = accepted {outcome['accepted']} + quarantined "
        f"{outcome['quarantined']} + superseded {outcome['superseded']}: {mark}"
    )
    return stats


def prepare(
    options: DemoOptions, console: Console
) -> tuple[dict[str, str], list[subprocess.Popen[bytes]], Path]:
    """Key ring, store, Airflow metadata and pools, the simulators and the gateway: what a local
    run needs. The processes come back to be stopped by the caller."""
    home = var_dir()
    logs = home / "logs" / "demo"
    logs.mkdir(parents=True, exist_ok=True)
    if not (os.environ.get("CASEHUB_KEYRING") or os.environ.get("CASEHUB_KEYRING_FILE")):
        # Later commands find this file by themselves (`casehub.crypto.load_keyring`); the demo's
        # own processes are pointed at it so that none of them takes another ring.
        os.environ["CASEHUB_KEYRING_FILE"] = str(ensure_local_keyring(local_keyring_path()))
        console.print(f"key ring: created or reused {os.environ['CASEHUB_KEYRING_FILE']} (local use only)")
    with console.status("migrating the store …"):
        migrate(connect())
    console.print("[green]✓[/] store migrated (var/casehub.db unless CASEHUB_DB_URL says otherwise)")
    env = airflow_environment(home / "airflow", connections=simulator_connections(sequential=True))
    with console.status("preparing Airflow's metadata database (var/airflow) …"):
        _airflow(["db", "migrate"], env, logs / "airflow-setup.log")
        configure_airflow(env, logs / "airflow-setup.log")
    console.print("[green]✓[/] Airflow ready (SQLite metadata, a pool per partner)")
    with console.status("starting the partner simulators …"):
        processes = [start_simulators(options, logs)]
    listening = ", ".join(
        f"{p.code} :{p.simulator.port} ({p.protocol.upper()})" for p in served() if p.simulator is not None
    )
    console.print(f"[green]✓[/] simulators up: {listening}")
    try:
        with console.status("starting the gateway …"):
            processes.append(start_gateway(logs))
    except BaseException:
        stop(processes)
        raise
    console.print(f"[green]✓[/] gateway up: {GATEWAY_URL} (webhooks, /healthz, /openapi.json)")
    return env, processes, logs


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=30)


def run(options: DemoOptions | None = None, console: Console | None = None) -> dict[str, object]:
    options = options or DemoOptions()
    console = console or Console()
    started = datetime.now(UTC)
    env, processes, logs = prepare(options, console)
    credentials_file = var_dir() / "simulators" / "district" / "credentials.json"
    try:
        for spec in pulled():
            run_dag(spec, env, logs / f"{dag_id_of(spec)}.log", console)
        for spec in pushing():
            push_webhooks(spec, options, logs / f"{spec.code}-sender.log", console)
            run_dag(spec, env, logs / f"{dag_id_of(spec)}.log", console)
        run_outbox(env, logs / f"{OUTBOX_DAG}-1.log", console)
        issue_district_credentials(credentials_file)
        run_districts(options, credentials_file, logs / "districts.log", console)
        run_outbox(env, logs / f"{OUTBOX_DAG}-2.log", console)
        for spec in pulled():
            run_dag(spec, env, logs / f"{dag_id_of(spec)}-2.log", console)
        for spec in delivered():
            run_dag(spec, env, logs / f"{dag_id_of(spec)}.log", console)
        run_quality(env, logs / f"{QUALITY_DAG}.log", console)
        run_hotspots(env, logs / f"{HOTSPOTS_DAG}.log", console)
    finally:
        stop(processes)
    stats = report(console)
    stats["cycle"] = report_cycle(console, connect(), started, stats)
    console.print(
        "\nwhere to look next:\n"
        "  casehub stats --json            everything above, as JSON\n"
        "  casehub quarantine list         each quarantined record with its reasons\n"
        "  casehub quarantine replay       retry them once the cause is fixed\n"
        "  casehub outbox list             what each partner was told, and what failed\n"
        "  var/simulators/district/        what each district platform received and did\n"
        "  make up                         the same DAGs in the Airflow UI at http://127.0.0.1:8080\n"
        f"  {logs}   the DAG runs' logs"
    )
    return stats


def up(options: DemoOptions | None = None, console: Console | None = None) -> int:
    """The simulators and a local Airflow (`airflow standalone`: API server, UI, scheduler) until Ctrl-C."""
    options = options or DemoOptions()
    console = console or Console()
    env, processes, logs = prepare(options, console)
    dags = ", ".join([*(dag_id_of(spec) for spec in load_partners() if has_dag(spec)), OUTBOX_DAG])
    try:
        for spec in pushing():
            push_webhooks(spec, options, logs / f"{spec.code}-sender.log", console)
        console.print(
            "starting Airflow: UI at http://127.0.0.1:8080 — the admin password is printed below and kept "
            f"in var/airflow; unpause or trigger {dags}. Ctrl-C stops all."
        )
        return subprocess.call(  # noqa: S603 - the venv's own airflow, fixed arguments
            [str(Path(sys.executable).with_name("airflow")), "standalone"], env=env
        )
    except KeyboardInterrupt:
        return 0
    finally:
        stop(processes)
