"""The channel registry (`connectors/registry.toml`): one entry per partner the hub pulls from.

The core reads it as data and loads a connector by its module path at run time, the way a
plugin is loaded; it never imports a connector statically (dependencies point dags →
connectors → casehub).
"""

from __future__ import annotations

import importlib
import tomllib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import ModuleType

from casehub.errors import ConfigurationError
from casehub.paths import ROOT

REGISTRY_PATH = ROOT / "connectors" / "registry.toml"


@dataclass(frozen=True)
class ChannelSpec:
    code: str
    title: str
    module: str
    connection: str
    pool: str
    pool_slots: int
    schedule: str
    page_size: int
    timeout_seconds: float
    lookback_minutes: int
    initial_days: int
    future_tolerance_minutes: int = 5

    @property
    def lookback(self) -> timedelta:
        return timedelta(minutes=self.lookback_minutes)

    @property
    def future_tolerance(self) -> timedelta:
        """How far ahead of the hub's clock an update time may be before it is quarantined."""
        return timedelta(minutes=self.future_tolerance_minutes)

    @property
    def initial_span(self) -> timedelta:
        return timedelta(days=self.initial_days)


def load_channels(path: Path = REGISTRY_PATH) -> list[ChannelSpec]:
    """Every channel, in registry order; a malformed entry names itself and the field."""
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    specs: list[ChannelSpec] = []
    for position, entry in enumerate(data.get("channel", []), start=1):
        try:
            specs.append(ChannelSpec(**entry))
        except TypeError as exc:
            raise ConfigurationError(f"{path.name}: channel #{position} is malformed: {exc}") from None
    codes = [s.code for s in specs]
    if len(set(codes)) != len(codes):
        raise ConfigurationError(f"{path.name}: a channel code appears twice")
    return specs


def channel(code: str, path: Path = REGISTRY_PATH) -> ChannelSpec:
    for spec in load_channels(path):
        if spec.code == code:
            return spec
    raise ConfigurationError(f"no channel {code!r} in {path.name}")


def load_connector(spec: ChannelSpec) -> ModuleType:
    """The connector package of a channel: it exports `build_source` and `MAPPER`."""
    module = importlib.import_module(spec.module)
    for name in ("build_source", "MAPPER"):
        if not hasattr(module, name):
            raise ConfigurationError(f"connector {spec.module} does not export {name}")
    return module
