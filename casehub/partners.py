"""The partner manifest (`connectors/partners.toml`): one entry per partner system, every fact once.

A partner takes part in one or more directions, each described by its own table: `pull` (the
hub pages through the partner's records), `push_in` (the partner sends signed webhooks to the
gateway), `serve_in` (clients file requests through a public API the gateway serves: Open311),
`deliver` (the hub sends scheduled batches of cases to the partner) and `outbox` (the
partner hears about single changes of the cases it is concerned with, through the outbox). A
partner that is only delivered to has no pull fields at all, rather than dummy ones. The
`simulator` table names the stand-in that the demo, the tests and compose run in its place.

The core reads the manifest as data and loads a connector by its module path at run time, the
way a plugin is loaded; it never imports a connector statically (dependencies point dags →
connectors → casehub).
"""

from __future__ import annotations

import dataclasses
import importlib
import tomllib
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, TypeVar, get_args

from casehub.errors import ConfigurationError
from casehub.paths import ROOT

MANIFEST_PATH = ROOT / "connectors" / "partners.toml"

Direction = Literal["pull", "push_in", "serve_in", "deliver", "outbox"]
DIRECTIONS: tuple[Direction, ...] = get_args(Direction)
PROTOCOLS = ("soap", "rest", "webhooks", "standard", "open311")
"""`standard`: the partner speaks the hub's own standard interface (docs/district-interface.md);
`open311`: its clients speak Open311 GeoReport v2 to the gateway (docs/open311.md)."""
SIMULATOR_ROLES = ("server", "sender")


@dataclass(frozen=True)
class Pull:
    """The hub pages through the partner's records updated since its cursor."""

    schedule: str
    page_size: int
    timeout_seconds: float
    lookback_minutes: int
    initial_days: int

    @property
    def lookback(self) -> timedelta:
        return timedelta(minutes=self.lookback_minutes)

    @property
    def initial_span(self) -> timedelta:
        return timedelta(days=self.initial_days)


@dataclass(frozen=True)
class PushIn:
    """The partner pushes signed webhooks (Standard Webhooks) to the gateway at `path`.

    Each body is an envelope `{type, timestamp, data}` with `type` one of `event_types`; `data`
    is the partner's record, whose `id_field` and `updated_field` the gateway requires before it
    lands the delivery (the pipeline checks the rest).

    Its secrets are read from the environment variable `secret_env`, never from the manifest:
    several, separated by spaces, while a rotation is under way.
    """

    path: str
    secret_env: str
    event_types: tuple[str, ...]
    id_field: str
    updated_field: str
    max_body_bytes: int
    tolerance_seconds: int
    schedule: str
    batch_size: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "event_types", tuple(self.event_types))

    @property
    def tolerance(self) -> timedelta:
        return timedelta(seconds=self.tolerance_seconds)


@dataclass(frozen=True)
class ServeIn:
    """Clients file requests through an API the gateway serves under `path` (Open311).

    What they file lands sealed in the inbox, as a pushed webhook does, and the
    `process_requests_<code>` DAG turns it into cases `batch_size` at a time on `schedule`. A
    body over `max_body_bytes` is refused. Each API key may make `rate_per_minute` requests a
    minute, `rate_burst` at once; a listing spans at most `window_days` and `max_records`.
    """

    path: str
    max_body_bytes: int
    schedule: str
    batch_size: int
    rate_per_minute: int = 60
    rate_burst: int = 20
    window_days: int = 90
    max_records: int = 1000


@dataclass(frozen=True)
class Deliver:
    """The hub pushes cases to the partner on a schedule, `batch_size` records per signed batch.

    `recipient` names the partner's allow-list, `schemas/recipients/<recipient>.json`: the
    fields it may receive, the schema of one record, and which cases it is sent. Without one,
    the partner's code names it. A push's window ends `settle_seconds` before the run's end, so
    that a page still committing when the push reads has landed before its window is read.
    With `feedback`, the partner's handling feedback on what it was sent is read back after each
    push, through its connector's `build_feedback_source` and `feedback_action`.
    """

    schedule: str
    batch_size: int
    timeout_seconds: float
    recipient: str = ""
    settle_seconds: int = 0
    feedback: bool = False

    @property
    def settle(self) -> timedelta:
        return timedelta(seconds=self.settle_seconds)


OUTBOX_KINDS = ("dispatch", "transfer", "status", "result", "urge", "cancel")
OUTBOX_DELIVERY = ("push", "pull")


@dataclass(frozen=True)
class Outbox:
    """The partner hears about single changes through the outbox (`casehub.outbox`).

    `kinds` are the events it receives (`OUTBOX_KINDS`). With `delivery = "push"` the
    `deliver_outbox` DAG sends them, at most `batch_size` per run, each attempt bounded by
    `timeout_seconds`, on `lanes` connections at once (a case's events always on the same one,
    in order); a failed attempt is tried again after an exponential back-off from
    `backoff_seconds` up to `max_backoff_seconds` (with jitter, or the partner's Retry-After),
    and after `max_attempts` the event goes to the dead letter. With `delivery = "pull"` the
    partner fetches its events from the gateway and confirms each (the district platforms).
    """

    kinds: tuple[str, ...]
    delivery: str = "push"
    batch_size: int = 200
    timeout_seconds: float = 15
    max_attempts: int = 8
    backoff_seconds: int = 30
    max_backoff_seconds: int = 3600
    lanes: int = 4

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", tuple(self.kinds))

    @property
    def pushed(self) -> bool:
        return self.delivery == "push"


@dataclass(frozen=True)
class Simulator:
    """The partner's stand-in in `simulators/` and its documented demo credential.

    A `server` listens on `port` and is called by the hub (`path` is appended to its base URL
    for the connection); a `sender` calls the hub's gateway, signing with `secret`, and listens
    on `port` (when it has one) for the events the outbox sends it, which the hub signs with
    `callback_secret`.
    """

    role: str = "server"
    port: int = 0
    path: str = ""
    login: str = ""
    secret: str = dataclasses.field(default="", repr=False)
    callback_secret: str = dataclasses.field(default="", repr=False)
    records: int = 0


@dataclass(frozen=True)
class Partner:
    code: str
    title: str
    protocol: str
    connector: str
    connection: str
    pool: str
    pool_slots: int = 1
    future_tolerance_minutes: int = 5
    silent_hours: float = 26.0
    pull: Pull | None = None
    push_in: PushIn | None = None
    serve_in: ServeIn | None = None
    deliver: Deliver | None = None
    outbox: Outbox | None = None
    simulator: Simulator | None = None

    @property
    def directions(self) -> tuple[Direction, ...]:
        return tuple(d for d in DIRECTIONS if getattr(self, d) is not None)

    @property
    def inbound(self) -> bool:
        """Whether cases come in from the partner: pulled, pushed or filed through the gateway."""
        return self.pull is not None or self.push_in is not None or self.serve_in is not None

    @property
    def future_tolerance(self) -> timedelta:
        """How far ahead of the hub's clock an update time may be before it is quarantined."""
        return timedelta(minutes=self.future_tolerance_minutes)

    def pulled(self) -> Pull:
        """The pull table; a configuration error for a partner the hub does not pull from."""
        if self.pull is None:
            raise ConfigurationError(f"partner {self.code!r} is not pulled (no [partner.pull] table)")
        return self.pull

    def delivered(self) -> Deliver:
        """The deliver table; a configuration error for a partner the hub sends nothing to."""
        if self.deliver is None:
            raise ConfigurationError(f"partner {self.code!r} is not delivered to (no [partner.deliver])")
        return self.deliver

    @property
    def recipient(self) -> str:
        """The name of the partner's allow-list in `schemas/recipients/`."""
        return self.delivered().recipient or self.code

    def notified(self) -> Outbox:
        """The outbox table; a configuration error for a partner that hears of no single change."""
        if self.outbox is None:
            raise ConfigurationError(f"partner {self.code!r} receives no outbox events (no [partner.outbox])")
        return self.outbox

    def pushing(self) -> PushIn:
        """The push-in table; a configuration error for a partner that sends no webhooks."""
        if self.push_in is None:
            raise ConfigurationError(f"partner {self.code!r} pushes no webhooks (no [partner.push_in] table)")
        return self.push_in

    def serving(self) -> ServeIn:
        """The serve-in table; a configuration error for a partner whose clients file nothing."""
        if self.serve_in is None:
            raise ConfigurationError(f"partner {self.code!r} files no requests (no [partner.serve_in] table)")
        return self.serve_in


T = TypeVar("T")


def _build(kind: type[T], entry: Any, where: str) -> T:
    """`kind(**entry)`, with an unknown, missing or mistyped field named in the error."""
    if not isinstance(entry, dict):
        raise ConfigurationError(f"{where} is not a table")
    fields = {f.name: f for f in dataclasses.fields(kind)}  # type: ignore[arg-type]
    unknown = sorted(set(entry) - set(fields))
    if unknown:
        raise ConfigurationError(f"{where}: unknown field {unknown[0]!r}")
    missing = [
        name
        for name, f in fields.items()
        if name not in entry and f.default is dataclasses.MISSING and name not in _TABLES
    ]
    if missing:
        raise ConfigurationError(f"{where}: field {missing[0]!r} is missing")
    for name, value in entry.items():
        expected = _SCALARS.get(name)
        if expected is not None and (
            not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool)
        ):
            raise ConfigurationError(f"{where}: field {name!r} has the wrong type")
    return kind(**entry)


_SCALARS: dict[str, type | tuple[type, ...]] = {
    "code": str,
    "title": str,
    "protocol": str,
    "connector": str,
    "connection": str,
    "pool": str,
    "pool_slots": int,
    "future_tolerance_minutes": int,
    "silent_hours": (int, float),
    "schedule": str,
    "page_size": int,
    "timeout_seconds": (int, float),
    "lookback_minutes": int,
    "initial_days": int,
    "path": str,
    "secret_env": str,
    "event_types": list,
    "id_field": str,
    "updated_field": str,
    "max_body_bytes": int,
    "tolerance_seconds": int,
    "batch_size": int,
    "port": int,
    "role": str,
    "login": str,
    "secret": str,
    "records": int,
    "recipient": str,
    "settle_seconds": int,
    "feedback": bool,
    "kinds": list,
    "delivery": str,
    "max_attempts": int,
    "backoff_seconds": int,
    "max_backoff_seconds": int,
    "lanes": int,
    "callback_secret": str,
    "rate_per_minute": int,
    "rate_burst": int,
    "window_days": int,
    "max_records": int,
}
_TABLES: dict[str, type[Any]] = {
    "pull": Pull,
    "push_in": PushIn,
    "serve_in": ServeIn,
    "deliver": Deliver,
    "outbox": Outbox,
    "simulator": Simulator,
}


def _limits(served: ServeIn) -> tuple[int, ...]:
    return (
        served.max_body_bytes, served.batch_size, served.rate_per_minute,
        served.rate_burst, served.window_days, served.max_records,
    )


def _partner(entry: Any, where: str) -> Partner:
    if not isinstance(entry, dict):
        raise ConfigurationError(f"{where} is not a table")
    code = entry.get("code")
    where = f"{where} ({code})" if isinstance(code, str) else where
    tables = {
        name: _build(kind, entry[name], f"{where} [{name}]")
        for name, kind in _TABLES.items()
        if name in entry
    }
    scalars = {name: value for name, value in entry.items() if name not in _TABLES}
    partner = _build(Partner, scalars, where)
    partner = dataclasses.replace(partner, **tables)
    if partner.protocol not in PROTOCOLS:
        raise ConfigurationError(f"{where}: protocol must be one of {', '.join(PROTOCOLS)}")
    if not partner.directions:
        named = "a pull, push_in, serve_in, deliver or outbox table"
        raise ConfigurationError(f"{where}: no direction ({named})")
    served = partner.serve_in
    if served is not None and (not served.path.startswith("/") or min(_limits(served)) < 1):
        raise ConfigurationError(f"{where} [serve_in]: path must start with / and every limit be positive")
    notified = partner.outbox
    if notified is not None:
        unknown = sorted(set(notified.kinds) - set(OUTBOX_KINDS))
        if unknown or not notified.kinds:
            raise ConfigurationError(f"{where} [outbox]: kinds must be among {', '.join(OUTBOX_KINDS)}")
        if notified.delivery not in OUTBOX_DELIVERY:
            allowed = ", ".join(OUTBOX_DELIVERY)
            raise ConfigurationError(f"{where} [outbox]: delivery must be one of {allowed}")
        positive = notified.max_attempts >= 1 and notified.batch_size >= 1 and notified.timeout_seconds > 0
        positive = positive and 1 <= notified.lanes <= 32
        if not positive or not 0 < notified.backoff_seconds <= notified.max_backoff_seconds:
            raise ConfigurationError(f"{where} [outbox]: attempts, batch size and back-off must be positive")
    stand_in = partner.simulator
    if stand_in is not None and stand_in.role not in SIMULATOR_ROLES:
        raise ConfigurationError(f"{where} [simulator]: role must be one of {', '.join(SIMULATOR_ROLES)}")
    if stand_in is not None and stand_in.role == "server" and not 0 < stand_in.port < 65536:
        raise ConfigurationError(f"{where} [simulator]: a server needs a port")
    return partner


@cache
def load_partners(path: Path = MANIFEST_PATH) -> tuple[Partner, ...]:
    """Every partner, in manifest order; a malformed entry names itself and the field."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigurationError(f"partner manifest missing: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path.name}: not valid TOML: {exc}") from None
    partners = tuple(
        _partner(entry, f"{path.name}: partner #{position}")
        for position, entry in enumerate(data.get("partner", []), start=1)
    )
    codes = [p.code for p in partners]
    for code in codes:
        if codes.count(code) > 1:
            raise ConfigurationError(f"{path.name}: partner code {code!r} appears twice")
    return partners


def partner(code: str, path: Path = MANIFEST_PATH) -> Partner:
    for each in load_partners(path):
        if each.code == code:
            return each
    known = ", ".join(p.code for p in load_partners(path))
    raise ConfigurationError(f"no partner {code!r} in {path.name} (known: {known})")


def pulled(path: Path = MANIFEST_PATH) -> list[Partner]:
    """The partners the hub pulls from, in manifest order."""
    return [p for p in load_partners(path) if p.pull is not None]


def pushing(path: Path = MANIFEST_PATH) -> list[Partner]:
    """The partners that push webhooks to the gateway, in manifest order."""
    return [p for p in load_partners(path) if p.push_in is not None]


def serving(path: Path = MANIFEST_PATH) -> list[Partner]:
    """The partners whose clients file requests through the gateway's own API, in manifest order."""
    return [p for p in load_partners(path) if p.serve_in is not None]


def delivered(path: Path = MANIFEST_PATH) -> list[Partner]:
    """The partners the hub pushes cases to, in manifest order."""
    return [p for p in load_partners(path) if p.deliver is not None]


def notified(path: Path = MANIFEST_PATH) -> list[Partner]:
    """The partners the outbox sends single changes to, in manifest order."""
    return [p for p in load_partners(path) if p.outbox is not None]


def load_connector(spec: Partner) -> ModuleType:
    """The connector package of a partner: `MAPPER` when cases come in from it, pushed, pulled
    or filed (with
    `build_source` when it is pulled), `RENDERER` and `build_sink` when the hub delivers to it
    (with `build_feedback_source` and `feedback_action` when it feeds back), `EVENT_RENDERER`
    and `build_event_sink` when the outbox sends it events (with `build_progress_source` and
    `progress_action` when it takes transferred cases, whose progress is read back)."""
    module = importlib.import_module(spec.connector)
    needed: list[str] = []
    if spec.pull is not None or spec.push_in is not None or spec.serve_in is not None:
        needed.append("MAPPER")
    if spec.pull is not None:
        needed.append("build_source")
    if spec.deliver is not None:
        needed += ["RENDERER", "build_sink"]
        if spec.deliver.feedback:
            needed += ["build_feedback_source", "feedback_action"]
    if spec.outbox is not None and spec.outbox.pushed:
        needed += ["EVENT_RENDERER", "build_event_sink"]
    if spec.outbox is not None and "transfer" in spec.outbox.kinds:
        needed += ["build_progress_source", "progress_action"]
    for name in needed:
        if not hasattr(module, name):
            raise ConfigurationError(f"connector {spec.connector} does not export {name}")
    return module
