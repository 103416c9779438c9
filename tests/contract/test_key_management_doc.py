"""docs/security.md, *Key management*, held to the code: every test it names exists, every
`casehub keys` command and option it tells an operator to run is one the command knows, and
every refusal it explains is word for word the one a process gives."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, update

from casehub.cli import parser
from casehub.crypto import KeyRing, load_keyring
from casehub.errors import ConfigurationError
from casehub.store.keys import check_keyring
from casehub.store.models import KeyFingerprint

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def runbook() -> str:
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    start = text.index("\n## Key management\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else len(text)]


def test_every_test_the_runbook_names_exists() -> None:
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", runbook())
    assert len(named) >= 10
    for path, name in named:
        source = (ROOT / path).read_text(encoding="utf-8")
        assert re.search(rf"^def {name}\(", source, re.MULTILINE), f"{path}::{name}"


def _keys_commands() -> dict[str, set[str]]:
    """Each `casehub keys` subcommand and the options it takes."""
    root = parser()
    commands = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction))
    keys = commands.choices["keys"]
    subcommands = next(a for a in keys._actions if isinstance(a, argparse._SubParsersAction))
    return {
        name: {option for action in sub._actions for option in action.option_strings}
        for name, sub in subcommands.choices.items()
    }


def test_every_command_the_runbook_gives_is_one_casehub_knows() -> None:
    known = _keys_commands()
    given = re.findall(r"casehub keys (\w+)((?: [\w.-]+)*(?: --[\w-]+(?: [\w./<>-]+)?)*)", runbook())
    assert {name for name, _ in given} == set(known)
    for name, rest in given:
        for option in re.findall(r"--[\w-]+", rest):
            assert option in known[name], f"casehub keys {name} {option}"


def _refusals() -> list[str]:
    return re.findall(r"^\| `([^`]+)` \|", runbook(), re.MULTILINE)


def _refused(call: object) -> str:
    with pytest.raises(ConfigurationError) as refused:
        call()  # type: ignore[operator]
    return str(refused.value)


def test_every_refusal_the_runbook_explains_is_the_one_a_process_gives(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    ring = KeyRing.generate()
    with sqlite_engine.begin() as conn:
        check_keyring(conn, ring, NOW)
    rotated = ring.with_new_key()

    def check(other: KeyRing) -> str:
        with sqlite_engine.begin() as conn:
            return _refused(lambda: check_keyring(conn, other, NOW))

    given = {
        "no key ring": _refused(lambda: load_keyring({"CASEHUB_HOME": str(tmp_path)})),
        "does not match": check(KeyRing.generate()),
    }
    with sqlite_engine.begin() as conn:
        check_keyring(conn, rotated, NOW)
    given["lacks"] = check(ring)
    with sqlite_engine.begin() as conn:
        conn.execute(update(KeyFingerprint).where(KeyFingerprint.key_id == "k1").values(retired_at=NOW))
    given["retired"] = check(KeyRing(rotated.keys, "k1", rotated.index_keys, rotated.index_active))

    explained = _refusals()
    assert len(explained) == len(given)
    for words in explained:
        (message,) = [message for key, message in given.items() if key in words]
        for part in words.split("…"):
            assert part.strip(" ,") in message, (words, message)
