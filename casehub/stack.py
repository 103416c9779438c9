"""`casehub stack up | down | status`: the production stack as local processes, for a machine
without Docker.

The same services as docker-compose.yml — Airflow's api-server, scheduler, dag-processor and
triggerer, Celery workers on Redis (each with its own hostname), the gateway and the partner
simulators — started on loopback with the CeleryExecutor, Airflow's metadata and the hub's store
in two databases of the machine's PostgreSQL server. Everything the stack keeps goes into its
state directory (`var/stack/`, or `CASEHUB_STACK_DIR`): the generated secrets (mode 0600), the key
ring, `stack.env` (the environment of every process, to run `airflow …` or `casehub …` against
the stack), each service's log and the process ids it started. Every service runs in a session
of its own, so `down` stops each whole process group it recorded, and nothing else.

Ports are Airflow's and the manifest's plus `CASEHUB_STACK_PORT_OFFSET` (1000 unless set), so the
stack and a `make demo` or `make up` on the same machine do not meet.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from casehub.crypto import ensure_local_keyring
from casehub.demo import LOOPBACK, served, simulator_connections
from casehub.errors import ConfigurationError
from casehub.partners import load_partners, pushing
from casehub.paths import ROOT

BIN = Path(sys.executable).parent
CELERY_APP = "airflow.providers.celery.executors.celery_executor.app"
ADMIN = "admin"
HUB_SERVICES = ("simulators", "gateway")
"""The services that are not Airflow's."""
SECRETS = ("AIRFLOW_FERNET_KEY", "AIRFLOW_API_SECRET_KEY", "AIRFLOW_JWT_SECRET", "CASEHUB_GATEWAY_TOKEN",
           "AIRFLOW_ADMIN_PASSWORD")
"""What `up` generates once into the state directory and reuses after: the names compose reads."""


def _number(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name)
    if value is None or value == "":
        return default
    if not value.isdigit():
        raise ConfigurationError(f"{name} must be a whole number of seconds or ports, not {value!r}")
    return int(value)


@dataclass(frozen=True)
class StackConfig:
    """Where the stack keeps its state, its ports and the servers it uses; from the environment."""

    state_dir: Path
    port_offset: int = 1000
    postgres_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    airflow_database: str = "casehub_stack_airflow"
    store_database: str = "casehub_stack_store"
    broker_url: str = "redis://127.0.0.1:6379/5"
    workers: int = 2
    concurrency: int = 2
    heartbeat_timeout: int = 300
    """Airflow's `[scheduler] task_instance_heartbeat_timeout`: how long a task whose worker died
    stays running before the scheduler fails it into its retry."""
    retry_delay: int | None = None
    """Seconds between two tries of every task, in place of the DAGs' own delay (drills, tests)."""
    schedules: bool = True
    """False: the scheduler starts no run of a schedule; triggered runs (and assets) still run."""
    settle_seconds: int | None = None
    """How old a case must be to go into a push, in place of the manifest's (the connections' extra)."""
    parse_interval: int = 30
    """`[dag_processor] min_file_process_interval`: how often each DAG file is parsed again. Each
    parse holds its DAGs' rows locked, and the scheduler passes over the runs of a locked DAG
    (apache/airflow#70614): on a loaded machine a longer interval keeps runs moving."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> StackConfig:
        env = os.environ if env is None else env
        settings: dict[str, Any] = {
            "state_dir": Path(env.get("CASEHUB_STACK_DIR") or ROOT / "var" / "stack"),
            "port_offset": _number(env, "CASEHUB_STACK_PORT_OFFSET", 1000),
            "postgres_url": env.get("CASEHUB_STACK_POSTGRES_URL") or cls.postgres_url,
            "airflow_database": env.get("CASEHUB_STACK_AIRFLOW_DB") or cls.airflow_database,
            "store_database": env.get("CASEHUB_STACK_STORE_DB") or cls.store_database,
            "broker_url": env.get("CASEHUB_STACK_BROKER_URL") or cls.broker_url,
            "workers": _number(env, "CASEHUB_STACK_WORKERS", 2),
            "concurrency": _number(env, "CASEHUB_STACK_WORKER_CONCURRENCY", 2),
            "heartbeat_timeout": _number(env, "CASEHUB_STACK_HEARTBEAT_TIMEOUT", 300),
            "parse_interval": _number(env, "CASEHUB_STACK_PARSE_INTERVAL", 30),
        }
        for name, setting in (("CASEHUB_STACK_RETRY_DELAY", "retry_delay"),
                              ("CASEHUB_STACK_SETTLE_SECONDS", "settle_seconds")):
            if env.get(name):
                settings[setting] = _number(env, name, 0)
        settings.update(overrides)
        return cls(**settings)

    def port(self, base: int) -> int:
        return base + self.port_offset

    @property
    def api_port(self) -> int:
        return self.port(8080)

    @property
    def gateway_port(self) -> int:
        return self.port(8000)

    @property
    def api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.api_port}"

    @property
    def gateway_url(self) -> str:
        return f"http://{LOOPBACK}:{self.gateway_port}"

    def simulator_ports(self) -> dict[str, int]:
        """Every simulator that listens, on its manifest port moved by the offset."""
        return {p.code: self.port(p.simulator.port) for p in served() if p.simulator is not None}

    def database_url(self, database: str, driver: str = "psycopg") -> str:
        url = make_url(self.postgres_url).set(drivername=f"postgresql+{driver}", database=database)
        return url.render_as_string(hide_password=False)

    @property
    def home(self) -> Path:
        return self.state_dir / "airflow"

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    @property
    def pids_file(self) -> Path:
        return self.state_dir / "pids.json"

    @property
    def env_file(self) -> Path:
        return self.state_dir / "stack.env"


@dataclass(frozen=True)
class Service:
    """One process of the stack: its command, what it adds to the environment, how to tell it is up."""

    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    health: str | None = None
    """A URL answering 2xx once the service serves (None: checked otherwise)."""


def worker_name(number: int) -> str:
    return f"worker{number}"


def celery_hostname(number: int) -> str:
    """The Celery node name of worker `number`, as `--celery-hostname worker1@%h` makes it."""
    return f"{worker_name(number)}@{socket.gethostname()}"


def services(config: StackConfig) -> list[Service]:
    """The stack's processes in the order they start."""
    airflow = str(BIN / "airflow")
    ports = config.simulator_ports()
    simulators = [str(BIN / "python"), "-m", "simulators", "all", "--host", LOOPBACK,
                  "--var-dir", str(config.state_dir)]
    for code, port in ports.items():
        simulators += ["--port", f"{code}={port}"]
    webhook_secrets = {
        spec.pushing().secret_env: spec.simulator.secret for spec in pushing() if spec.simulator is not None
    }
    listed = [
        Service("simulators", simulators),
        Service(
            "gateway",
            [str(BIN / "casehub"), "serve", "--host", LOOPBACK, "--port", str(config.gateway_port)],
            env=webhook_secrets,
            health=f"{config.gateway_url}/healthz",
        ),
        Service("api-server", [airflow, "api-server", "--host", LOOPBACK, "--port", str(config.api_port)],
                health=f"{config.api_url}/api/v2/monitor/health"),
        Service("scheduler", [airflow, "scheduler"], health=f"http://{LOOPBACK}:{config.port(8974)}/health"),
        Service("dag-processor", [airflow, "dag-processor"]),
        Service("triggerer", [airflow, "triggerer"]),
    ]
    for number in range(1, config.workers + 1):
        listed.append(
            Service(
                worker_name(number),
                [airflow, "celery", "worker", "--celery-hostname", f"{worker_name(number)}@%h",
                 "--concurrency", str(config.concurrency)],
                # Each worker serves its tasks' logs to the API server on a port of its own.
                env={"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(config.port(8800 + number))},
            )
        )
    return listed


def stack_secrets(config: StackConfig) -> dict[str, str]:
    """The stack's secrets, generated on the first `up` into `secrets.json` (0600) and reused."""
    path = config.state_dir / "secrets.json"
    known: dict[str, str] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    missing = {name for name in SECRETS if name not in known}
    if missing:
        for name in missing:
            known[name] = Fernet.generate_key().decode() if name == "AIRFLOW_FERNET_KEY" else (
                secrets.token_urlsafe(32))
        _write_private(path, json.dumps(known, indent=2))
    return known


def _write_private(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)


def environment(config: StackConfig, secret: Mapping[str, str]) -> dict[str, str]:
    """What every process of the stack runs with (beside the inherited environment)."""
    airflow_db = config.database_url(config.airflow_database)
    return {
        "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")]),
        "AIRFLOW_HOME": str(config.home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__FERNET_KEY": secret["AIRFLOW_FERNET_KEY"],
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{config.api_url}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(config.state_dir / "passwords.json"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_db,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": config.database_url(config.airflow_database,
                                                                         "psycopg_async"),
        "AIRFLOW__CELERY__BROKER_URL": config.broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{airflow_db}",
        "AIRFLOW__API__HOST": LOOPBACK,
        "AIRFLOW__API__PORT": str(config.api_port),
        "AIRFLOW__API__BASE_URL": config.api_url,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": secret["AIRFLOW_API_SECRET_KEY"],
        "AIRFLOW__API_AUTH__JWT_SECRET": secret["AIRFLOW_JWT_SECRET"],
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": LOOPBACK,
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(config.port(8974)),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(config.heartbeat_timeout),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": str(
            min(10, max(2, config.heartbeat_timeout // 3))
        ),
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": str(config.schedules),
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": str(config.parse_interval),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(config.port(8794)),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(config.port(8793)),
        "CASEHUB_HOME": str(config.state_dir),
        "CASEHUB_DB_URL": config.database_url(config.store_database),
        "CASEHUB_KEYRING_FILE": str(config.state_dir / "keyring.json"),
        "CASEHUB_GATEWAY_TOKEN": secret["CASEHUB_GATEWAY_TOKEN"],
        "GX_ANALYTICS_ENABLED": "false",
        "NO_COLOR": "1",
    }


RETRY_POLICY = '''"""The stack's cluster policy (`casehub stack up` writes it): a retry after {delay} s."""
from datetime import timedelta


def task_policy(task):
    task.retry_delay = timedelta(seconds={delay})
    task.retry_exponential_backoff = 0
'''


@dataclass
class Stack:
    """The stack of one state directory: its configuration, environment and recorded processes."""

    config: StackConfig
    say: Callable[[str], None] = print

    def __post_init__(self) -> None:
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        """The processes this object started, kept to be waited for when they stop."""
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        self.secrets = stack_secrets(self.config)
        self.env = {**os.environ, **environment(self.config, self.secrets)}
        # Inherited settings for other Airflow homes or stores must not leak into the stack's.
        for name in ("CASEHUB_KEYRING", "AIRFLOW_CONFIG"):
            self.env.pop(name, None)

    # -- what it recorded ---------------------------------------------------------------------

    def recorded(self) -> dict[str, dict[str, Any]]:
        path = self.config.pids_file
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    def _record(self, entries: Mapping[str, dict[str, Any]]) -> None:
        self.config.pids_file.write_text(json.dumps(dict(entries), indent=2), encoding="utf-8")

    def alive(self, name: str) -> bool:
        entry = self.recorded().get(name)
        return entry is not None and _is_ours(entry)

    def running(self) -> list[str]:
        return [name for name, entry in self.recorded().items() if _is_ours(entry)]

    # -- bringing it up -----------------------------------------------------------------------

    def prepare(self) -> None:
        """Databases, key ring, secrets, the environment file and the store's schema: safe to rerun."""
        config = self.config
        config.logs.mkdir(parents=True, exist_ok=True)
        config.home.mkdir(parents=True, exist_ok=True)
        for database in (config.airflow_database, config.store_database):
            create_database(config.postgres_url, database)
        ensure_local_keyring(config.state_dir / "keyring.json")
        _write_private(config.state_dir / "passwords.json",
                       json.dumps({ADMIN: self.secrets["AIRFLOW_ADMIN_PASSWORD"]}))
        policy = config.home / "config" / "airflow_local_settings.py"
        if config.retry_delay is not None:
            policy.parent.mkdir(parents=True, exist_ok=True)
            policy.write_text(RETRY_POLICY.format(delay=config.retry_delay), encoding="utf-8")
        elif policy.exists():
            policy.unlink()
        self.write_env_file()
        self.run([str(BIN / "casehub"), "migrate"], config.logs / "setup.log")

    def prepare_airflow(self) -> None:
        """Airflow's schema, then a pool per partner and the partners' connections of the manifest
        (what `casehub airflow-setup` sets, in one import each): safe to rerun."""
        setup = self.config.logs / "setup.log"
        self.run([str(BIN / "airflow"), "db", "migrate"], setup)
        pools = {spec.pool: {"slots": spec.pool_slots, "description": f"calls to {spec.title}",
                             "include_deferred": False} for spec in load_partners()}
        with tempfile.TemporaryDirectory() as directory:
            imports = []
            wanted: list[tuple[str, object, list[str]]] = [
                ("pools", pools, []), ("connections", self.connections(), ["--overwrite"])
            ]
            for kind, content, extra in wanted:
                path = Path(directory) / f"{kind}.json"
                path.write_text(json.dumps(content), encoding="utf-8")
                imports.append([str(BIN / "airflow"), kind, "import", *extra, str(path)])
            self.run_all(imports, setup)

    def connections(self) -> dict[str, dict[str, object]]:
        """The partners' connections of the manifest, at the stack's simulators."""
        ports = self.config.simulator_ports()
        by_connection = {p.connection: p.code for p in load_partners()}
        delivering = {p.connection for p in load_partners() if p.deliver is not None}
        found = simulator_connections(LOOPBACK)
        for conn_id, fields in found.items():
            parts = urlsplit(str(fields["host"]))
            fields["host"] = urlunsplit(parts._replace(netloc=f"{LOOPBACK}:{ports[by_connection[conn_id]]}"))
            extra = fields["extra"]
            if self.config.settle_seconds is not None and conn_id in delivering and isinstance(extra, dict):
                extra["settle_seconds"] = self.config.settle_seconds
        return found

    def write_env_file(self) -> None:
        """`stack.env`: the stack's own settings, to source before `airflow …` or `casehub …`."""
        own = environment(self.config, self.secrets)
        own.pop("PATH")
        lines = [f"{name}={_quoted(value)}" for name, value in sorted(own.items())]
        _write_private(self.config.env_file, "\n".join(["# casehub stack up: source with `set -a; . this`",
                                                        *lines, ""]))

    def run_all(self, commands: list[list[str]], log: Path) -> None:
        """The commands side by side; the first that fails is the error."""
        with log.open("ab") as handle:
            running = [
                subprocess.Popen(  # noqa: S603 - the venv's own programs, fixed arguments
                    command, cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT
                )
                for command in commands
            ]
            codes = [process.wait() for process in running]
        for command, code in zip(commands, codes, strict=True):
            if code != 0:
                raise ConfigurationError(f"`{Path(command[0]).name} {' '.join(command[1:3])}` failed; "
                                         f"see {log}")

    def run(self, command: list[str], log: Path) -> None:
        with log.open("ab") as handle:
            done = subprocess.run(  # noqa: S603 - the venv's own programs, fixed arguments
                command, cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT, check=False
            )
        if done.returncode != 0:
            raise ConfigurationError(f"`{Path(command[0]).name} {' '.join(command[1:3])}` failed; see {log}")

    def start(self, service: Service) -> int:
        """Start `service` in a session of its own and record its process id."""
        if self.alive(service.name):
            pid = self.recorded()[service.name]["pid"]
            raise ConfigurationError(f"{service.name} is running already (pid {pid})")
        log = (self.config.logs / f"{service.name}.log").open("ab")
        process = subprocess.Popen(  # noqa: S603 - the venv's own programs, fixed arguments
            service.command,
            cwd=ROOT,
            env={**self.env, **service.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.children[service.name] = process
        entries = self.recorded()
        entries[service.name] = {"pid": process.pid, "started": _started(process.pid)}
        self._record(entries)
        return process.pid

    def service(self, name: str) -> Service:
        for each in services(self.config):
            if each.name == name:
                return each
        raise ConfigurationError(f"the stack has no service {name!r}")

    def up(self, timeout: float = 240.0) -> float:
        """Prepare, start every service not running and wait until all are healthy; the seconds it took."""
        started = time.monotonic()
        self._refuse_busy()
        self.say(f"preparing databases, key ring and Airflow in {self.config.state_dir} …")
        self.prepare()
        # The simulators and the gateway need only the store: they start while Airflow migrates.
        hub: list[Service] = []
        airflow: list[Service] = []
        for each in services(self.config):
            (hub if each.name in HUB_SERVICES else airflow).append(each)
        for each in hub:
            if not self.alive(each.name):
                self.start(each)
        self.prepare_airflow()
        for each in airflow:
            if not self.alive(each.name):
                self.start(each)
        self.say("started: " + ", ".join(f"{n} ({e['pid']})" for n, e in self.recorded().items()))
        self.wait_healthy(timeout - (time.monotonic() - started))
        return time.monotonic() - started

    def _refuse_busy(self) -> None:
        mine = set(self.running())
        config = self.config
        wanted = {"api-server": config.api_port, "gateway": config.gateway_port,
                  **{f"simulator {code}": port for code, port in config.simulator_ports().items()}}
        for what, port in wanted.items():
            owner = "simulators" if what.startswith("simulator") else what
            if owner not in mine and _listening(port):
                raise ConfigurationError(
                    f"port {port} ({what}) is taken by a process this stack did not start: stop it, or set "
                    "CASEHUB_STACK_PORT_OFFSET"
                )

    # -- health -------------------------------------------------------------------------------

    def health(self) -> dict[str, str]:
        """Each service: `healthy`, or what is wrong."""
        found: dict[str, str] = {}
        for each in services(self.config):
            if not self.alive(each.name):
                found[each.name] = "not running"
            elif each.name == "simulators":
                found[each.name] = self._simulators_health()
            elif each.health is not None:
                found[each.name] = _http_health(each.health)
            else:
                found[each.name] = "running"
        if found.get("api-server") == "healthy":
            components = self.airflow_health()
            for name, component in (("scheduler", "scheduler"), ("dag-processor", "dag_processor"),
                                    ("triggerer", "triggerer")):
                if found[name] in ("running", "healthy"):
                    state = components.get(component, "unknown")
                    found[name] = "healthy" if state == "healthy" and (
                        name != "scheduler" or found[name] == "healthy") else f"Airflow says {state}"
        workers = [worker_name(n) for n in range(1, self.config.workers + 1)]
        if any(found[w] == "running" for w in workers):
            answered = self.ping_workers()
            for number, name in enumerate(workers, start=1):
                if found[name] == "running":
                    found[name] = "healthy" if celery_hostname(number) in answered else "no answer to ping"
        return found

    def _simulators_health(self) -> str:
        for code, port in self.config.simulator_ports().items():
            state = _http_health(f"http://{LOOPBACK}:{port}/_admin/health")
            if state != "healthy":
                return f"{code}: {state}"
        return "healthy"

    def airflow_health(self) -> dict[str, str]:
        try:
            reply = requests.get(f"{self.config.api_url}/api/v2/monitor/health", timeout=5).json()
        except (requests.RequestException, ValueError):
            return {}
        return {name: str(entry.get("status")) for name, entry in reply.items() if isinstance(entry, dict)}

    def ping_workers(self) -> set[str]:
        """The Celery node names that answer `celery inspect ping`."""
        done = subprocess.run(  # noqa: S603 - the venv's own celery, fixed arguments
            [str(BIN / "celery"), "--app", CELERY_APP, "inspect", "ping", "--json", "--timeout", "3"],
            cwd=ROOT, env=self.env, capture_output=True, text=True, check=False, timeout=60,
        )
        try:
            replies = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}
        except ValueError:
            return set()
        return set(replies) if isinstance(replies, dict) else set()

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        found: dict[str, str] = {}
        while time.monotonic() < deadline:
            found = self.health()
            dead = [name for name, state in found.items() if state == "not running"]
            if dead:
                raise ConfigurationError(
                    f"{', '.join(dead)} exited while starting; see {self.config.logs}/<service>.log"
                )
            if all(state == "healthy" for state in found.values()):
                return
            time.sleep(2)
        waiting = ", ".join(f"{name}: {state}" for name, state in found.items() if state != "healthy")
        raise ConfigurationError(f"the stack is not healthy after {timeout:.0f} s ({waiting}); see "
                                 f"{self.config.logs}")

    # -- stopping -----------------------------------------------------------------------------

    def stop(self, name: str, *, sig: signal.Signals = signal.SIGTERM, grace: float = 30.0) -> bool:
        """Stop the process group recorded for `name` (SIGKILL after `grace`); whether it ran."""
        entries = self.recorded()
        entry = entries.get(name)
        ran = entry is not None and _is_ours(entry)
        if entry is not None and ran:
            _stop_group(int(entry["pid"]), sig, grace)
        child = self.children.pop(name, None)
        if child is not None:
            child.wait(timeout=grace + 15)
        entries.pop(name, None)
        self._record(entries)
        return ran

    def down(self, grace: float = 30.0) -> list[str]:
        """Stop every service this state directory recorded, all at once (SIGTERM, then SIGKILL
        after `grace`); the names of those that were running."""
        entries = self.recorded()
        live = {name: int(entry["pid"]) for name, entry in entries.items() if _is_ours(entry)}
        _stop_groups(list(live.values()), signal.SIGTERM, grace)
        for name in list(self.children):
            self.children.pop(name).wait(timeout=15)
        self.config.pids_file.unlink(missing_ok=True)
        return list(live)

    def restart(self, name: str) -> int:
        self.stop(name)
        return self.start(self.service(name))

    # -- where it is --------------------------------------------------------------------------

    def where(self) -> list[tuple[str, str]]:
        config = self.config
        return [
            ("Airflow UI and API", f"{config.api_url}  (user {ADMIN}, password in "
                                   f"{config.state_dir / 'secrets.json'} AIRFLOW_ADMIN_PASSWORD)"),
            ("gateway", f"{config.gateway_url}  (in Airflow {config.api_url}/casehub/)"),
            ("simulators", ", ".join(f"{code} :{port}" for code, port in config.simulator_ports().items())),
            ("Celery workers", ", ".join(celery_hostname(n) for n in range(1, config.workers + 1))
             + f" on {_shown(config.broker_url)}"),
            ("Airflow metadata", _shown(config.database_url(config.airflow_database))),
            ("the store", _shown(config.database_url(config.store_database))),
            ("environment", f"{config.env_file}  (set -a; . {config.env_file}; set +a)"),
            ("logs", str(config.logs)),
        ]


def create_database(server_url: str, database: str) -> None:
    """Create `database` on the server unless it exists."""
    engine = create_engine(make_url(server_url).set(drivername="postgresql+psycopg"),
                           isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": database})
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{database}"'))
    except Exception as exc:  # noqa: BLE001 - any driver failure is the same advice
        raise ConfigurationError(
            f"cannot create the database {database!r} on {_shown(server_url)} ({type(exc).__name__}); "
            "is PostgreSQL running, and CASEHUB_STACK_POSTGRES_URL right?"
        ) from None
    finally:
        engine.dispose()


def drop_database(server_url: str, database: str) -> None:
    engine = create_engine(make_url(server_url).set(drivername="postgresql+psycopg"),
                           isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    finally:
        engine.dispose()


def _shown(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        parts = parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@"))
    return urlunsplit(parts)


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((LOOPBACK, port)) == 0


def _http_health(url: str) -> str:
    try:
        reply = requests.get(url, timeout=5)
    except requests.RequestException as exc:
        return f"no answer ({type(exc).__name__})"
    return "healthy" if reply.ok else f"HTTP {reply.status_code}"


def _started(pid: int) -> str:
    """The process's start time in clock ticks since boot: with the pid, it names one process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _is_ours(entry: Mapping[str, Any]) -> bool:
    """Whether the recorded process still runs and is the one recorded (not a reused pid)."""
    pid = int(entry["pid"])
    return _started(pid) == entry.get("started") and _started(pid) != "" and _group_alive(pid)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


def _stop_group(pgid: int, sig: signal.Signals, grace: float) -> None:
    _stop_groups([pgid], sig, grace)


def _stop_groups(pgids: list[int], sig: signal.Signals, grace: float) -> None:
    """Signal each process group, wait up to `grace` for all to end, SIGKILL what is left."""
    for pgid in pgids:
        with _quiet():
            os.killpg(pgid, sig)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_group_alive(pgid) for pgid in pgids):
        for pgid in pgids:
            _reap(pgid)
        time.sleep(0.2)
    left = [pgid for pgid in pgids if _group_alive(pgid)]
    for pgid in left:
        with _quiet():
            os.killpg(pgid, signal.SIGKILL)
    while any(_group_alive(pgid) for pgid in left) and time.monotonic() < deadline + 10:
        for pgid in left:
            _reap(pgid)
        time.sleep(0.1)
    for pgid in pgids:
        _reap(pgid)


def _reap(pid: int) -> None:
    """Collect the leader if this process started it (a zombie would keep its group alive)."""
    with _quiet():
        os.waitpid(pid, os.WNOHANG)


def _quiet() -> AbstractContextManager[None]:
    return suppress(ChildProcessError, ProcessLookupError)


def status_table(stack: Stack) -> list[tuple[str, str, str]]:
    """(service, pid, health) for every service of the stack."""
    recorded = stack.recorded()
    health = stack.health()
    return [(name, str(recorded.get(name, {}).get("pid", "")), state) for name, state in health.items()]
