"""The stand-ins' own facts — port, demo credential, record count — as the partner manifest
(`connectors/partners.toml`) states them, read as data: the simulators never import the hub."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

MANIFEST = Path(__file__).resolve().parents[1] / "connectors" / "partners.toml"


@cache
def stand_ins(path: Path = MANIFEST) -> dict[str, dict[str, Any]]:
    """Each partner's `[partner.simulator]` table by partner code, in manifest order."""
    with path.open("rb") as handle:
        partners = tomllib.load(handle).get("partner", [])
    return {entry["code"]: dict(entry["simulator"]) for entry in partners if "simulator" in entry}


def servers() -> dict[str, dict[str, Any]]:
    """The stand-ins the hub calls, which listen on a port."""
    return {code: s for code, s in stand_ins().items() if s.get("role", "server") == "server"}
