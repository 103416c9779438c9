"""docker-compose.yml and the Dockerfile, held to the code without a Docker engine.

What `docker compose up` would only find out at run time is checked here: the files parse, what
they mount and build exists, every command is one our own parsers (casehub's, the simulators',
Airflow's) accept, ports and partner connections agree with the code, airflow-init creates the
registry's pools, every setting the core reads reaches the services that need it, no secret
is written into the repository, and the host sees only the Airflow UI and the gateway, on its
loopback unless the operator names another address.
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import create_async_engine

from casehub.cli import parser as casehub_parser
from casehub.demo import simulator_connections
from casehub.partners import load_partners

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
POSTGRES_INIT = ROOT / "deploy" / "postgres"
SIMULATOR_PORTS = {p.code: p.simulator.port for p in load_partners() if p.simulator and p.simulator.port}
"""Every stand-in the hub calls — the pulled partners', those it pushes to and the community
app's callback receiver — on its port."""

AIRFLOW_SERVICES = (
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "flower",
)
SERVICES = {"postgres", "redis", *AIRFLOW_SERVICES, "gateway", "simulators", "neighborhood-app"}
ONE_SHOT = {"airflow-init", "neighborhood-app"}
"""Services that run to completion; the others serve, and have a health check."""
GATEWAY_PORT, API_SERVER_PORT, FLOWER_PORT = 8000, 8080, 5555
PUBLISHED = {"airflow-apiserver": {API_SERVER_PORT}, "gateway": {GATEWAY_PORT}, "flower": {FLOWER_PORT}}
"""What an operator needs from the host: the Airflow UI and API (with the mounted gateway), the
gateway for partners' webhooks and the district platforms, and Flower when its profile is on.
Nothing else is published."""
PROFILED = {"flower": ["flower"]}
"""Services that start only when their profile is asked for."""
ENV_EXAMPLE = ROOT / ".env.example"
PUBLISH_ADDRESS = "CASEHUB_PUBLISH_ADDRESS"
# What each of our processes reads from the environment, by service. The API server mounts the
# gateway (plugins/), the worker runs the ingest tasks, airflow-init migrates the store.
NEEDS = {
    "gateway": {"CASEHUB_DB_URL", "CASEHUB_KEYRING", "CASEHUB_GATEWAY_TOKEN"},
    "airflow-apiserver": {"CASEHUB_DB_URL", "CASEHUB_KEYRING", "CASEHUB_GATEWAY_TOKEN"},
    "airflow-worker": {"CASEHUB_DB_URL", "CASEHUB_KEYRING"},
    "airflow-init": {"CASEHUB_DB_URL"},
}
# Read by the core but rightly absent from compose: alternatives to a set variable, or image defaults.
OPTIONAL_SETTINGS = {
    "CASEHUB_KEYRING_FILE": "an alternative to CASEHUB_KEYRING",
    "CASEHUB_HOME": "set by the Dockerfile",
}
LOCAL_STACK_PREFIX = "CASEHUB_STACK_"
REQUIRED = re.compile(r"^\$\{(\w+):\?[^}]*\}$")
VARIABLE = re.compile(r"\$\{(\w+)(?::?[?-][^}]*)?\}")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEYRING|FERNET|_KEY$")
NOT_A_SECRET = re.compile(r"_FILE$")  # a path to a secret, not the secret


@cache
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def service(name: str) -> dict[str, Any]:
    return compose()["services"][name]


def environment(name: str) -> dict[str, str]:
    env = service(name).get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def interpolated(value: str) -> str:
    """A value as compose would pass it, with a stand-in for every variable."""
    return VARIABLE.sub(lambda match: f"test-{match[1].lower().replace('_', '-')}", value)


def command(name: str) -> list[str]:
    spec = service(name)
    return [str(part) for part in (spec.get("entrypoint") or []) + spec["command"]]


def init_script() -> list[str]:
    """airflow-init's bash script, line by line."""
    argv = command("airflow-init")
    assert argv[:4] == ["/bin/bash", "-euo", "pipefail", "-c"], "airflow-init runs a bash script"
    return argv[4].strip().splitlines()


def heredoc(lines: list[str]) -> str:
    start = next(i for i, line in enumerate(lines) if line.startswith("python - <<'PY'"))
    end = lines.index("PY", start)
    return "\n".join(lines[start + 1 : end])


def init_commands() -> list[list[str]]:
    """airflow-init's shell commands, split as bash would, the heredoc's body left out."""
    commands: list[list[str]] = []
    in_heredoc = False
    for line in init_script():
        if in_heredoc:
            in_heredoc = line != "PY"
        elif line.strip():
            commands.append(shlex.split(line))
            in_heredoc = line.endswith("<<'PY'")
    return commands


def defaulted(value: str) -> str:
    """A value as compose passes it when no variable is set: each `${NAME:-default}` its default."""
    return re.sub(r"\$\{\w+:?-([^}]*)\}", r"\1", value)


def published(name: str) -> dict[int, tuple[str, str]]:
    """Container port → (host address, host port) the service publishes, in either syntax; an
    empty address is every interface of the host."""
    ports: dict[int, tuple[str, str]] = {}
    for entry in service(name).get("ports", []):
        if isinstance(entry, dict):
            address, host, container = str(entry.get("host_ip", "")), str(entry["published"]), entry["target"]
        else:
            *binding, container = str(entry).split(":")
            address = binding[0] if len(binding) == 2 else ""
            host = binding[-1] if binding else container
        ports[int(str(container).split("/")[0])] = (address, host)
    return ports


def healthcheck(name: str) -> str:
    test = service(name)["healthcheck"]["test"]
    return " ".join(test[1:]) if isinstance(test, list) else test


def dockerfile() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return [" ".join(i.split()) for i in "\n".join(lines).replace("\\\n", " ").splitlines() if i.strip()]


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in dockerfile():
        if instruction.startswith("ENV "):
            env.update(pair.split("=", 1) for pair in shlex.split(instruction[4:]))
    return env


def celery_provider_installed() -> bool:
    return importlib.util.find_spec("airflow.providers.celery") is not None


@pytest.fixture(scope="module")
def airflow_cli(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Airflow's own CLI parser on every airflow command of the stack → "" or its complaint.

    In a child process with a throwaway AIRFLOW_HOME, so the suite's Airflow stays unconfigured.
    """
    argvs = [argv[1:] for argv in airflow_commands()]
    probe = textwrap.dedent(
        """
        import contextlib, io, json, sys
        from airflow.cli.cli_parser import get_parser
        results = {}
        for argv in json.loads(sys.argv[1]):
            err = io.StringIO()
            try:
                with contextlib.redirect_stderr(err):
                    get_parser().parse_args(argv)
                results[" ".join(argv)] = ""
            except SystemExit:
                results[" ".join(argv)] = err.getvalue().strip().splitlines()[-1]
        print(json.dumps(results))
        """
    )
    home = tmp_path_factory.mktemp("airflow-home")
    env = {"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(argvs)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def airflow_commands() -> list[list[str]]:
    """Every `airflow …` the stack runs: service commands, airflow-init's steps, health checks."""
    found = [command(name) for name in SERVICES if service(name).get("command")]
    found = [argv for argv in found if argv[0] == "airflow"]
    found += [argv for argv in init_commands() if argv[0] == "airflow"]
    for name in SERVICES:
        test = service(name).get("healthcheck", {}).get("test")
        if isinstance(test, list) and test[0] == "CMD" and test[1] == "airflow":
            found.append([str(part) for part in test[1:]])
    return found


def test_the_stack_has_every_service() -> None:
    assert set(compose()["services"]) == SERVICES


def test_every_build_has_its_context_and_dockerfile() -> None:
    built = [name for name in SERVICES if "build" in service(name)]
    assert set(built) >= {*AIRFLOW_SERVICES, "gateway", "simulators"}
    for name in built:
        build = service(name)["build"]
        context = ROOT / build["context"]
        assert context.is_dir(), f"{name}: build context {context} is missing"
        assert (context / build.get("dockerfile", "Dockerfile")).is_file(), f"{name}: no Dockerfile"
    copied = [
        source
        for instruction in dockerfile()
        if instruction.startswith("COPY ")
        for source in instruction.split()[1:-1]
        if not source.startswith("--") and source != "."
    ]
    assert "constraints.txt" in copied
    assert "requirements.txt" in copied
    for source in copied:
        assert (ROOT / source).is_file(), f"the Dockerfile copies {source}, which does not exist"


def test_the_image_runs_the_repository_as_airflow_expects() -> None:
    instructions = dockerfile()
    assert instructions[0] == "FROM python:3.11-slim"
    workdir = next(i.split()[1] for i in instructions if i.startswith("WORKDIR "))
    env = dockerfile_env()
    assert env["AIRFLOW_HOME"] == "/opt/airflow"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == f"{workdir}/dags"
    assert (ROOT / "dags").is_dir()
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == f"{workdir}/plugins"
    assert (ROOT / "plugins").is_dir()
    assert any(i.startswith("RUN pip install --no-deps --editable .") for i in instructions)
    user = next(i.split()[1] for i in reversed(instructions) if i.startswith("USER "))
    assert user not in {"root", "0", "0:0"}


def test_the_build_context_keeps_state_and_secrets_out() -> None:
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {".venv", "var", ".git", ".env"} <= set(ignored)
    needed = [
        "requirements.txt",
        "constraints.txt",
        "pyproject.toml",
        "casehub",
        "connectors",
        "dags",
        "plugins",
        "schemas",
        "expectations",
        "simulators",
    ]
    for path in needed:
        assert not any(fnmatch.fnmatch(path, pattern) for pattern in ignored), f"{path} is ignored"


def test_every_mounted_host_path_exists() -> None:
    named = set(compose().get("volumes") or {})
    for name in SERVICES:
        for volume in service(name).get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
            else:
                assert source in named, f"{name} mounts the undeclared volume {source}"


def test_the_postgres_init_script_creates_the_store_the_hub_connects_to() -> None:
    [mount] = [v for v in service("postgres")["volumes"] if v.startswith("./deploy/postgres/")]
    host, target = mount.split(":")[:2]
    script = ROOT / host
    assert target.startswith("/docker-entrypoint-initdb.d/")
    assert target.endswith(".sh")
    assert script.parent == POSTGRES_INIT
    if shutil.which("bash"):
        subprocess.run(["bash", "-n", str(script)], check=True)
    sql = script.read_text(encoding="utf-8")
    store = urlsplit(interpolated(environment("gateway")["CASEHUB_DB_URL"]))
    assert re.search(rf"CREATE ROLE {store.username} LOGIN PASSWORD :'\w+'", sql)
    assert re.search(rf"CREATE DATABASE {store.path.lstrip('/')} OWNER {store.username}", sql)
    assert "CASEHUB_DB_PASSWORD" in environment("postgres")
    assert store.hostname == "postgres"
    assert service("postgres")["image"].startswith("postgres:15")


def test_casehub_commands_are_subcommands_of_the_cli() -> None:
    args = casehub_parser().parse_args(command("gateway")[1:])
    assert command("gateway")[0] == "casehub"
    assert (args.command, args.host, args.port) == ("serve", "0.0.0.0", GATEWAY_PORT)
    ours = [argv for argv in init_commands() if argv[0] == "casehub"]
    assert ours == [["casehub", "airflow-setup", "--simulators-host", "simulators"], ["casehub", "migrate"]]
    setup = casehub_parser().parse_args(ours[0][1:])
    assert (setup.command, setup.simulators_host) == ("airflow-setup", "simulators")
    assert casehub_parser().parse_args(ours[1][1:]).command == "migrate"


def test_the_simulators_command_is_what_their_parser_accepts() -> None:
    argv = command("simulators")
    assert argv[:3] == ["python", "-m", "simulators"]
    main = importlib.import_module("simulators.__main__")
    args = main.parser().parse_args(argv[3:])
    assert (args.partner, args.host) == ("all", "0.0.0.0")
    assert {partner: port for partner, port, _ in main._plan(args)} == SIMULATOR_PORTS


def test_the_community_app_sends_to_the_gateway_with_the_secret_it_holds() -> None:
    argv = command("neighborhood-app")
    assert argv[:4] == ["python", "-m", "simulators", "neighborhood_app"]
    args = importlib.import_module("simulators.__main__").parser().parse_args(argv[3:])
    assert urlsplit(args.target).netloc == f"gateway:{GATEWAY_PORT}"
    [app] = [p for p in load_partners() if p.push_in is not None]
    variable = app.pushing().secret_env
    assert args.secret == [f"${{{variable}:?set {variable}}}"]
    assert REQUIRED.match(environment("gateway")[variable])
    assert service("neighborhood-app")["depends_on"] == {"gateway": {"condition": "service_healthy"}}


def test_airflow_commands_are_what_airflow_accepts(airflow_cli: dict[str, str]) -> None:
    for argv, complaint in airflow_cli.items():
        if argv.startswith("celery ") and not celery_provider_installed():
            continue
        assert complaint == "", f"airflow {argv}: {complaint}"
    assert "celery worker" in airflow_cli


def test_the_image_brings_the_celery_executor() -> None:
    installs = " ".join(i for i in dockerfile() if i.startswith("RUN pip install"))
    requirements = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    assert "apache-airflow[celery]" in installs or "apache-airflow-providers-celery" in requirements
    worker = healthcheck("airflow-worker")
    assert "airflow.providers.celery.executors.celery_executor.app" in worker
    if celery_provider_installed():
        importlib.import_module("airflow.providers.celery.executors.celery_executor")


def test_airflow_init_runs_its_python_and_writes_no_password() -> None:
    code = heredoc(init_script())
    compile(code, "airflow-init", "exec")
    assert 'os.environ["AIRFLOW_ADMIN_PASSWORD"]' in code
    assert environment("airflow-init")["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] in code
    assert REQUIRED.match(environment("airflow-init")["AIRFLOW_ADMIN_PASSWORD"])


def test_ports_agree_with_the_code() -> None:
    serving = importlib.import_module("simulators.serving")
    assert serving.DEFAULT_PORTS == SIMULATOR_PORTS
    for port in SIMULATOR_PORTS.values():
        assert f"localhost:{port}/" in healthcheck("simulators")
    assert set(published("gateway")) == {GATEWAY_PORT}
    assert f"localhost:{GATEWAY_PORT}/healthz" in healthcheck("gateway")
    api = command("airflow-apiserver")
    assert api[:2] == ["airflow", "api-server"]
    assert api[api.index("--port") + 1] == str(API_SERVER_PORT)
    assert set(published("airflow-apiserver")) == {API_SERVER_PORT}
    assert f"localhost:{API_SERVER_PORT}/" in healthcheck("airflow-apiserver")
    for name, ports in PUBLISHED.items():
        assert {container: int(host) for container, (_, host) in published(name).items()} == {
            port: port for port in ports
        }
    execution = urlsplit(environment("airflow-worker")["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert (execution.hostname, execution.port) == ("airflow-apiserver", API_SERVER_PORT)


def test_the_host_sees_only_the_airflow_ui_and_the_gateway_on_its_loopback_unless_told_otherwise() -> None:
    """PostgreSQL, Redis and the simulators (and a broker, were one added) stay on the stack's
    network: the services reach them by name, nobody on the host or beyond needs them."""
    for name in SERVICES:
        spec = service(name)
        assert spec.get("network_mode") != "host", f"{name} shares the host's network"
        ports = sorted(published(name))
        assert set(ports) == PUBLISHED.get(name, set()), f"{name} publishes {ports}"
    for name in PUBLISHED:
        for address, _ in published(name).values():
            assert address == f"${{{PUBLISH_ADDRESS}:-127.0.0.1}}", f"{name} is published on {address!r}"
            assert defaulted(address) == "127.0.0.1"
    assert PUBLISH_ADDRESS in COMPOSE_FILE.read_text(encoding="utf-8").split("x-casehub-image")[0]
    assert "EXPOSE 8000 8080" in dockerfile()


def test_the_partners_connections_come_from_the_manifest_not_the_compose_file() -> None:
    """airflow-init imports them (`casehub airflow-setup --simulators-host simulators`, checked
    against a real Airflow in tests/dags); no service restates one in its environment."""
    for name in SERVICES:
        assert not [key for key in environment(name) if key.startswith("AIRFLOW_CONN_")], name
    connections = simulator_connections(host="simulators")
    called = [spec for spec in load_partners() if spec.simulator is not None and spec.simulator.port]
    assert set(connections) == {spec.connection for spec in called}
    for spec in called:
        url = urlsplit(connections[spec.connection]["host"])
        assert (url.hostname, url.port) == ("simulators", SIMULATOR_PORTS[spec.code])
        assert "settle_seconds" not in connections[spec.connection]["extra"], "compose keeps the manifest's"


def test_airflow_runs_the_celery_executor_on_redis_and_postgres() -> None:
    for name in AIRFLOW_SERVICES:
        env = environment(name)
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert urlsplit(env["AIRFLOW__CELERY__BROKER_URL"]).hostname == "redis"
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql")
    assert command("airflow-worker")[:3] == ["airflow", "celery", "worker"]


def test_database_urls_name_drivers_the_image_has() -> None:
    """Built, not connected: a URL naming an uninstalled driver (asyncpg, psycopg2) fails here."""
    env = environment("airflow-worker")
    for url in (
        env["CASEHUB_DB_URL"],
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
        env["AIRFLOW__CELERY__RESULT_BACKEND"].removeprefix("db+"),
    ):
        create_engine(interpolated(url)).dispose()
    async_url = interpolated(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"])
    engine = create_async_engine(async_url)
    assert engine.url.database == "airflow"
    engine.sync_engine.dispose()
    assert urlsplit(interpolated(env["CASEHUB_DB_URL"])).path == "/casehub"


def test_every_setting_the_core_reads_reaches_the_services_that_need_it() -> None:
    read: set[str] = set()
    for path in [*(ROOT / "casehub").rglob("*.py"), *(ROOT / "dags").rglob("*.py")]:
        read |= set(re.findall(r"""["'](CASEHUB_[A-Z_]+)["']""", path.read_text(encoding="utf-8")))
    assert read >= {"CASEHUB_DB_URL", "CASEHUB_KEYRING", "CASEHUB_GATEWAY_TOKEN"}
    # `make stack`'s own settings (casehub/stack.py): compose does what they do with its services.
    read = {name for name in read if not name.startswith(LOCAL_STACK_PREFIX)}
    everywhere = set().union(*NEEDS.values())
    assert read - everywhere <= set(OPTIONAL_SETTINGS), "a new CASEHUB_ setting reaches no service"
    assert "CASEHUB_HOME" in dockerfile_env()
    for name, needed in NEEDS.items():
        missing = needed - set(environment(name))
        assert not missing, f"{name} lacks {sorted(missing)}"
    assert len({environment(name)["CASEHUB_DB_URL"] for name in NEEDS}) == 1


def test_no_secret_is_written_into_the_repository() -> None:
    for name in SERVICES:
        for key, value in environment(name).items():
            if SECRET_NAME.search(key) and not NOT_A_SECRET.search(key):
                assert REQUIRED.match(value), f"{name}: {key} must come from the environment, required"
            for url in re.findall(r"\w[\w+]*://[^\s'\"]+", value):
                password = urlsplit(url).password
                assert password is None or REQUIRED.match(password), f"{name}: {key} has a literal password"
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    defaults = [m for m in re.findall(r"\$\{(\w+):?-", text) if SECRET_NAME.search(m)]
    assert not defaults, f"secrets with a default value: {defaults}"
    assert not re.search(r"[A-Za-z0-9+/]{43}=", text), "something like a base64 key is in the compose file"


def test_services_start_in_order() -> None:
    for name in SERVICES:
        for dependency, condition in (service(name).get("depends_on") or {}).items():
            assert dependency in SERVICES
            wanted = condition["condition"]
            if wanted == "service_healthy":
                assert "healthcheck" in service(dependency), f"{name} waits on {dependency}'s health check"
            else:
                assert (dependency, wanted) == ("airflow-init", "service_completed_successfully")
    for name in (*AIRFLOW_SERVICES[1:], "gateway"):
        assert service(name)["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    assert service("airflow-init")["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in SERVICES - ONE_SHOT:
        assert "healthcheck" in service(name), f"{name} has no health check"
    for name in ONE_SHOT:
        assert service(name)["restart"] == "no", f"{name} runs once"
    ours = [name for name in SERVICES if "build" in service(name)]
    uses_curl = [name for name in ours if "curl" in str(service(name).get("healthcheck"))]
    assert uses_curl
    assert any("install" in i and " curl" in i for i in dockerfile())


def test_docker_compose_accepts_the_file() -> None:
    """`docker compose config` needs no engine; it runs wherever the compose plugin is installed."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client on this machine")
    version = subprocess.run([docker, "compose", "version"], capture_output=True, text=True, check=False)
    if version.returncode != 0:
        complaint = (version.stderr.strip().splitlines() or ["no output"])[0]
        pytest.skip(f"the docker client has no compose plugin ({complaint})")
    variables = set(re.findall(r"\$\{(\w+):\?", COMPOSE_FILE.read_text(encoding="utf-8")))
    env = {**os.environ, **{name: f"test-{name.lower()}" for name in variables}}
    done = subprocess.run(
        [docker, "compose", "--file", str(COMPOSE_FILE), "config", "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_the_airflow_services_share_the_x_airflow_common_anchor() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    assert "x-airflow-common: &airflow-common" in text
    common = compose()["x-airflow-common"]
    for name in AIRFLOW_SERVICES:
        spec = service(name)
        assert (spec["image"], spec["build"]) == (common["image"], common["build"]), name
        assert set(environment(name)) >= set(common["environment"]), f"{name} drops common settings"
    assert text.count("<<: *airflow-common") == len(AIRFLOW_SERVICES)


def test_flower_runs_only_under_its_profile_and_behind_the_admin_login() -> None:
    for name in SERVICES:
        assert service(name).get("profiles") == PROFILED.get(name), f"{name}: profiles"
    argv = command("flower")
    assert argv[:3] == ["airflow", "celery", "flower"]
    assert argv[argv.index("--port") + 1] == str(FLOWER_PORT)
    login = environment("flower")["AIRFLOW__CELERY__FLOWER_BASIC_AUTH"]
    user, _, password = login.partition(":")
    assert user == "admin" and REQUIRED.match(password), "Flower's login is the Airflow admin's"
    assert f"localhost:{FLOWER_PORT}/" in healthcheck("flower")


def env_example() -> dict[str, str]:
    entries = [line for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    pairs = [line.split("=", 1) for line in entries if not line.lstrip().startswith("#")]
    return {name.strip(): value for name, value in pairs}


def test_env_example_names_every_variable_compose_reads_and_holds_no_secret() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    # `$${NAME}` is the container's own variable (the shell's), not one compose reads.
    read = set(re.findall(r"(?<!\$)\$\{(\w+)", text))
    example = env_example()
    assert set(example) == read
    for name, value in example.items():
        if SECRET_NAME.search(name):
            assert value == "", f".env.example gives {name} a value: secrets are the operator's"
        else:
            [default] = set(re.findall(rf"\$\{{{name}:-([^}}]*)\}}", text))
            assert value == default, f"{name}: .env.example says {value!r}, compose defaults to {default!r}"
    if shutil.which("git") and (ROOT / ".git").exists():
        ignored = subprocess.run(["git", "check-ignore", "--quiet", ".env"], cwd=ROOT, check=False)
        assert ignored.returncode == 0, ".env is not ignored by git"
