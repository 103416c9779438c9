"""A whole 民呼我应 cycle through the scheduler on the production stack (`casehub stack`): runs
triggered over Airflow's REST API, executed by the Celery workers. Cases come in from every
channel the simulators serve, are dispatched to the districts, the districts' results go back to
each channel and the city's recipients get their feeds — and the counts agree with what the
simulators served and recorded. On the way a Celery worker is killed (SIGKILL) in the middle of
the hotline's ingest, whose retry runs on the other worker, and the scheduler is restarted while
the cycle's last runs are in flight: nothing is lost, nothing is done twice, the cycle completes.
The store and the simulators are fresh: the counts are this cycle's alone.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, create_engine, func, select, text

from casehub.demo import OUTBOX_DAG, SUPERVISE_DAG, cycle, dag_id_of
from casehub.partners import Partner, delivered, notified, pulled, pushing
from casehub.stack import ADMIN, Stack, worker_name
from casehub.stats import collect
from casehub.store.models import Case, OutboxEvent, ProvisionLog, Quarantine, RawRecord
from tests.stack.airflow_rest import Airflow
from tests.stack.figures import FIGURES

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(470)]

KILLED_DAG, KILLED_TASK = "ingest_hotline", "ingest"
"""The hotline's ingest reads two pages of 200 work orders; its worker dies while the second hangs."""
SEED = 42


def simulator(stack: Stack, code: str) -> str:
    return f"http://127.0.0.1:{stack.config.simulator_ports()[code]}"


def executed_by(stack: Stack, run: tuple[str, str], task_id: str, attempt: int) -> list[str]:
    """The workers whose log shows them executing this try (Celery logs each workload's log path)."""
    dag_id, run_id = run
    wanted = f"log_path='dag_id={dag_id}/run_id={run_id}/task_id={task_id}/attempt={attempt}.log'"
    found = []
    for number in range(1, stack.config.workers + 1):
        log = stack.config.logs / f"{worker_name(number)}.log"
        text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
        found += [worker_name(number)] * text.count(wanted)
    return found


def landed(engine: Engine, channel: str) -> int:
    with engine.connect() as conn:
        query = select(func.count()).select_from(RawRecord).where(RawRecord.channel == channel)
        return int(conn.scalar(query) or 0)


def until(what: str, check: Any, timeout: float, every: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def send_webhooks(stack: Stack, spec: Partner) -> subprocess.Popen[bytes]:
    assert spec.simulator is not None
    with (stack.config.logs / f"{spec.code}-sender.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "simulators", spec.code, "--target", stack.config.gateway_url,
             "--secret", spec.simulator.secret, "--seed", str(SEED), "--retry-scale", "0.01"],
            env=stack.env, stdout=log, stderr=subprocess.STDOUT,
        )


def holders(stack: Stack) -> list[dict[str, Any]]:
    """The sessions of Airflow's database that hold a transaction open, and what they last ran."""
    engine = create_engine(stack.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT pid, application_name, state, now() - xact_start AS open_for, "
                "left(query, 200) AS query FROM pg_stat_activity WHERE datname = current_database() "
                "AND xact_start IS NOT NULL AND pid <> pg_backend_pid() ORDER BY xact_start"
            )).mappings()
            return [{key: str(value) for key, value in row.items()} for row in rows]
    finally:
        engine.dispose()


def stop(process: subprocess.Popen[bytes]) -> None:
    process.kill()
    process.wait()


def run_districts(stack: Stack) -> str:
    credentials = stack.config.state_dir / "simulators" / "district" / "credentials.json"
    subprocess.run(
        [sys.executable, "-c", "import sys; from pathlib import Path; from casehub.demo import "
         "issue_district_credentials as issue; issue(Path(sys.argv[1]))", str(credentials)],
        env=stack.env, check=True,
    )
    done = subprocess.run(
        [sys.executable, "-m", "simulators", "district", "--target", stack.config.gateway_url,
         "--credentials", str(credentials), "--once", "--seed", str(SEED),
         "--var-dir", str(stack.config.state_dir)],
        env=stack.env, capture_output=True, text=True, check=False, timeout=180,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def engine(stack: Stack) -> Iterator[Engine]:
    made = create_engine(stack.env["CASEHUB_DB_URL"])
    yield made
    made.dispose()


@pytest.fixture(scope="module")
def ran(stack: Stack, engine: Engine) -> Iterator[dict[str, Any]]:
    """The cycle, driven through the scheduler; what it saw on the way."""
    senders: list[subprocess.Popen[bytes]] = []
    try:
        yield drive(stack, engine, senders)
    finally:
        for sender in senders:
            stop(sender)


def drive(stack: Stack, engine: Engine, senders: list[subprocess.Popen[bytes]]) -> dict[str, Any]:
    api = Airflow(stack.config.api_url, ADMIN, stack.secrets["AIRFLOW_ADMIN_PASSWORD"])
    ingests = [dag_id_of(spec) for spec in pulled()]
    webhooks = [dag_id_of(spec) for spec in pushing() if spec.simulator is not None]
    pushes = [dag_id_of(spec) for spec in delivered()]
    wanted = {*ingests, *webhooks, *pushes, OUTBOX_DAG, SUPERVISE_DAG}
    until("the DAG processor has every DAG of the cycle", lambda: wanted <= api.dag_ids(), 120, every=2)
    for dag_id in sorted(wanted):
        api.unpause(dag_id)
    seen: dict[str, Any] = {}
    started = time.monotonic()

    # 1. Every channel in. The hotline's second page hangs; its worker is killed meanwhile.
    hotline = simulator(stack, "hotline")
    requests.post(f"{hotline}/_admin/faults", json={"mode": "hang", "count": 1, "after": 1,
                                                    "hang_seconds": 120}, timeout=10).raise_for_status()
    runs = {dag_id: api.trigger(dag_id) for dag_id in ingests}
    senders += [send_webhooks(stack, spec) for spec in pushing() if spec.simulator is not None]
    hot = runs[KILLED_DAG]
    until("the hotline's second page hanging",
          lambda: api.unfailed(hot) and requests.get(f"{hotline}/_admin/faults", timeout=5).json()["hanging"],
          120)
    [victim] = until("the worker running the first try", lambda: executed_by(stack, hot, KILLED_TASK, 1), 30)
    survivor = next(worker_name(n) for n in (1, 2) if worker_name(n) != victim)
    seen["landed before the kill"] = landed(engine, "hotline")
    stack.stop(victim, sig=signal.SIGKILL, grace=5)
    killed = time.monotonic()
    requests.post(f"{hotline}/_admin/faults", json={"mode": "none"}, timeout=10).raise_for_status()
    try:
        until("the retry started", lambda: executed_by(stack, hot, KILLED_TASK, 2), 150)
    except AssertionError as stalled:
        raise AssertionError(f"{stalled}; Airflow's database meanwhile: {holders(stack)}") from None
    seen["retried after"] = time.monotonic() - killed
    stack.start(stack.service(victim))  # back to two workers for the rest of the cycle
    for sender in senders:
        assert sender.wait(timeout=180) == 0, "the community app could not deliver its webhooks"
    runs.update({dag_id: api.trigger(dag_id) for dag_id in webhooks})
    api.wait(list(runs.values()), timeout=240)
    seen["killed"] = {"task": f"{KILLED_DAG}.{KILLED_TASK}", "run": hot[1], "worker": victim,
                      "retried on": executed_by(stack, hot, KILLED_TASK, 2),
                      "tries": [(t["try_number"], t["state"]) for t in api.tries(hot, KILLED_TASK)]}
    seen["landed after the retry"] = landed(engine, "hotline")
    seen["survivor"] = survivor

    seen["phases"] = {"in (with the kill)": time.monotonic() - started}

    # 2. Dispatch: the outbox transfers to urban management; the districts fetch theirs.
    api.wait([api.trigger(SUPERVISE_DAG), api.trigger(OUTBOX_DAG)], timeout=180)
    seen["districts"] = run_districts(stack)

    seen["phases"]["dispatched and handled"] = time.monotonic() - started - sum(seen["phases"].values())

    # 3. Results back to each channel, and the recipients' feeds pushed; the scheduler restarted
    #    while these runs are in flight.
    last = [api.trigger(OUTBOX_DAG), *(api.trigger(dag_id) for dag_id in pushes)]
    until("a task of the last runs running",
          lambda: any(ti["state"] == "running" for run in last for ti in api.task_instances(run)), 120)
    in_flight = {run[0]: api.state(run) for run in last}
    restarted = time.monotonic()
    stack.restart("scheduler")
    api.wait(last, timeout=240)
    seen["scheduler restart"] = {"runs in flight": in_flight, "completed after": time.monotonic() - restarted}
    seen["phases"]["results out and pushed (with the restart)"] = (
        time.monotonic() - started - sum(seen["phases"].values())
    )
    seen["cycle seconds"] = time.monotonic() - started
    phases = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in seen["phases"].items())
    FIGURES["cycle wall time"] = f"{seen['cycle seconds']:.0f} s: {phases}"
    return seen


def test_every_channel_lands_every_record_it_served_once(
    stack: Stack, ran: dict[str, Any], engine: Engine
) -> None:
    """A pulled partner's record is a case, or quarantined when its defect refuses it — once; the
    community app's every delivered webhook is processed. The hotline's among them, its worker
    killed half-way."""
    stats = collect(engine)
    assert stats["reconciled"], stats["checks"]
    with engine.connect() as conn:
        cases = set(conn.execute(select(Case.channel, Case.source_id)))
        refused = set(conn.execute(select(Quarantine.channel, Quarantine.source_id)
                                   .where(Quarantine.state == "open")))
    seen = {}
    for spec in pulled():
        truth = requests.get(f"{simulator(stack, spec.code)}/_admin/truth", timeout=30).json()["records"]
        landed = {sid for channel, sid in cases if channel == spec.code}
        quarantined = {sid for channel, sid in refused if channel == spec.code}
        # A record missing its id is quarantined under none of its own: the reconciliation counts it.
        named = {sid for sid, record in truth.items() if "missing_id" not in record["defects"]}
        lost = named - landed - quarantined
        assert not lost, f"{spec.code}: served, neither a case nor quarantined: {sorted(lost)[:5]}"
        assert landed <= named, f"{spec.code}: cases of records it never served"
        seen[spec.code] = f"{len(truth)} served, {len(landed)} cases, {len(named - landed)} quarantined"
    for spec in [spec for spec in pushing() if spec.simulator is not None]:
        log = (stack.config.logs / f"{spec.code}-sender.log").read_text(encoding="utf-8")
        [delivered] = [int(n) for n in re.findall(r"(\d+) delivered", log)]
        assert stats["inbox"][spec.code] == {"pending": 0, "processed": delivered}
        seen[spec.code] = f"{delivered} webhooks, {stats['cases']['by_channel'][spec.code]} cases"
    FIGURES["channels in"] = seen


def test_cases_go_out_to_the_districts_and_their_results_back_to_each_channel(
    ran: dict[str, Any], engine: Engine
) -> None:
    loop = cycle(engine, datetime.now(UTC))
    out = loop["out"]
    FIGURES["outbox, delivered by partner and kind"] = {name: s["delivered"] for name, s in out.items()}
    assert out["district dispatch"]["delivered"] > 0 and out["district dispatch"]["dead"] == 0
    completed = sum(n for name, n in loop["in"].items() if name == "district complete")
    assert completed > 0, loop["in"]
    for spec in notified():
        if spec.code == "district":
            continue
        kinds = [name for name in out if name.startswith(f"{spec.code} ")]
        assert kinds, f"nothing was sent to {spec.code}"
        assert all(out[name]["dead"] == 0 for name in kinds), out


def test_each_partner_has_one_effect_per_event_the_store_delivered(
    stack: Stack, ran: dict[str, Any], engine: Engine
) -> None:
    checked = {}
    for spec in notified():
        if spec.code not in stack.config.simulator_ports():
            continue
        reply = requests.get(f"{simulator(stack, spec.code)}/_admin/effects", timeout=10)
        if reply.status_code == 404:
            continue  # a partner that keeps no effects by event id
        effects = reply.json()["effects"]
        with engine.connect() as conn:
            sent = conn.scalars(
                select(OutboxEvent.event_id).where(OutboxEvent.partner == spec.code,
                                                   OutboxEvent.state == "delivered")
            ).all()
        assert len(sent) == len(set(sent)) > 0
        assert set(effects) == set(sent), spec.code
        assert set(effects.values()) == {1}, spec.code
        checked[spec.code] = len(sent)
    FIGURES["effects at the simulators = events delivered"] = checked
    assert checked


def test_each_recipient_got_each_batch_of_its_feed_once(
    stack: Stack, ran: dict[str, Any], engine: Engine
) -> None:
    got = {}
    for spec in delivered():
        ledger = requests.get(f"{simulator(stack, spec.code)}/_admin/batches", timeout=10).json()["batches"]
        with engine.connect() as conn:
            logged = dict(
                conn.execute(
                    select(ProvisionLog.batch_id, ProvisionLog.record_count).where(
                        ProvisionLog.recipient == spec.delivered().recipient
                    )
                ).all()
            )
        assert logged and sum(logged.values()) > 0, spec.code
        assert {batch: entry["records"] for batch, entry in ledger.items()} == logged, spec.code
        got[spec.code] = sum(logged.values())
    FIGURES["records pushed, by recipient"] = got


def test_a_task_whose_worker_is_killed_is_retried_on_the_other_and_loses_nothing(ran: dict[str, Any]) -> None:
    killed = ran["killed"]
    FIGURES["killed worker"] = (
        f"{killed['worker']} killed (SIGKILL) during {killed['task']} (run {killed['run']}), "
        f"retried on {', '.join(killed['retried on'])} {ran['retried after']:.0f} s later; tries "
        f"{killed['tries']}; hotline raw records {ran['landed before the kill']} before the kill, "
        f"{ran['landed after the retry']} after"
    )
    assert killed["retried on"] == [ran["survivor"]]
    assert [state for _, state in killed["tries"]][-1] == "success"
    assert len(killed["tries"]) == 2
    assert 0 < ran["landed before the kill"] < ran["landed after the retry"]


def test_the_cycle_completes_across_a_scheduler_restart(ran: dict[str, Any]) -> None:
    restart = ran["scheduler restart"]
    FIGURES["scheduler restart"] = (
        f"restarted with runs {restart['runs in flight']}; "
        f"all completed {restart['completed after']:.0f} s later"
    )
    assert "running" in restart["runs in flight"].values() or "queued" in restart["runs in flight"].values()
