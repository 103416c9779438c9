"""`casehub keys` as an operator runs it, in real processes against a real store (SQLite and
PostgreSQL): a rotation killed with SIGKILL part-way is finished by the next run, and after the
old keys are retired the ring the commands wrote reads and finds everything."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from casehub.cli import main
from casehub.crypto import KeyRing
from casehub.keys import held
from casehub.store.models import DistrictCredential, RawRecord
from tests.keyed import cases_of, key_ids, opened, people, populate

CASEHUB = Path(sys.executable).parent / "casehub"
REPORTERS = people(12)


@pytest.fixture
def operator(engine: Engine, tmp_path: Path) -> dict[str, str]:
    """The environment an operator runs the commands in: the store, and the ring in a file."""
    ring_file = tmp_path / "keyring.json"
    ring = KeyRing.generate()
    ring_file.write_text(ring.to_json())
    populate(engine, ring, REPORTERS)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CASEHUB_", "AIRFLOW_CONN_"))}
    return {
        **env,
        "CASEHUB_DB_URL": engine.url.render_as_string(hide_password=False),
        "CASEHUB_KEYRING_FILE": str(ring_file),
        "CASEHUB_HOME": str(tmp_path / "home"),
        "COLUMNS": "200",
    }


def casehub(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CASEHUB), *argv], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def ring_of(env: dict[str, str]) -> KeyRing:
    return KeyRing.from_json(Path(env["CASEHUB_KEYRING_FILE"]).read_text())


def under(engine: Engine, key_id: str) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).where(RawRecord.key_id == key_id)) or 0)


def test_a_rotation_killed_part_way_is_finished_by_the_next_run(
    engine: Engine, operator: dict[str, str], command
) -> None:
    before = opened(engine, ring_of(operator))
    status, _, said = command("keys", "add", "--out", operator["CASEHUB_KEYRING_FILE"])
    assert status == 0 and "'k2' active" in said and "casehub keys rotate" in said
    rotated = ring_of(operator)
    assert rotated.active == "k2" and set(rotated.keys) == {"k1", "k2"}

    rotation = subprocess.Popen(
        [str(CASEHUB), "keys", "rotate", "--batch-size", "2", "--pause", "0.2"],
        env=operator,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while under(engine, "k2") == 0:  # the first batch is committed
        assert rotation.poll() is None and time.monotonic() < deadline, "the rotation ended early"
        time.sleep(0.01)
    rotation.send_signal(signal.SIGKILL)
    assert rotation.wait(timeout=30) == -signal.SIGKILL
    assert rotation.stdout is not None and rotation.stderr is not None
    rotation.stdout.close()
    rotation.stderr.close()

    part = key_ids(engine)
    assert "k2" in part["raw_records"] and "k1" in set().union(*part.values())  # stopped part-way
    assert opened(engine, rotated) == before  # every value under one key or the other
    already = sum(held(engine)["k2"].values())

    finished = casehub(operator, "keys", "rotate")
    assert finished.returncode == 0, finished.stderr
    summary = json.loads(finished.stdout)
    assert summary["left"] == 0 and summary["key_id"] == "k2"
    assert summary["total"] == len(before) - already
    assert "k1 holds nothing now: casehub keys retire k1" in finished.stderr
    assert set().union(*key_ids(engine).values()) == {"k2"}

    status, _, said = command("keys", "retire", "k1", "--out", operator["CASEHUB_KEYRING_FILE"])
    assert status == 0, said
    kept = ring_of(operator)
    assert set(kept.keys) == {"k2"}
    assert opened(engine, kept) == before
    for person in REPORTERS:
        assert len(cases_of(engine, kept, person.e164)) == 1

    status, shown, _ = command("keys", "status", "--json")
    assert status == 0
    keys = {key["key_id"]: key for key in json.loads(shown)["keys"]}
    assert keys["k1"]["retired_at"] and not keys["k1"]["in_ring"] and keys["k1"]["values"] == {}
    assert keys["k2"]["active"] and keys["k2"]["values"]["cases.reporter_phone"] == len(REPORTERS)
    assert all(len(key["fingerprint"]) == 16 for key in keys.values())
    text = shown + command("keys", "status")[1]
    for key in (*rotated.keys.values(), *rotated.index_keys.values()):
        assert key.hex() not in text and key.hex()[:16] not in text


@pytest.fixture
def command(operator: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """`casehub …` run in this process in the operator's environment: (exit status, stdout, stderr)."""
    for name in [n for n in os.environ if n.startswith(("CASEHUB_", "AIRFLOW_CONN_"))]:
        monkeypatch.delenv(name)
    for name, value in operator.items():
        if name.startswith("CASEHUB_") or name == "COLUMNS":
            monkeypatch.setenv(name, value)

    def run(*argv: str, **env: str | None) -> tuple[int, str, str]:
        with monkeypatch.context() as changed:
            for name, value in env.items():
                if value is None:
                    changed.delenv(name, raising=False)
                else:
                    changed.setenv(name, value)
            status = main(list(argv))
        out, err = capsys.readouterr()
        return status, out, err

    return run


def test_the_blind_index_key_is_rotated_with_a_reindex_from_the_command_line(
    engine: Engine, operator: dict[str, str], command
) -> None:
    ring_file = operator["CASEHUB_KEYRING_FILE"]
    status, _, said = command("keys", "add", "--blind-index", "--out", ring_file)
    assert status == 0 and "casehub keys rotate --blind-index" in said
    _, shown, _ = command("keys", "status")
    assert f"{len(REPORTERS)} cases are not indexed under i2" in shown
    status, _, said = command("keys", "retire", "i1")
    assert status == 2 and "run casehub keys rotate --blind-index first" in said

    status, out, _ = command("keys", "rotate", "--blind-index", "--batch-size", "5")
    assert status == 0 and json.loads(out)["done"] == {"cases": len(REPORTERS)}
    status, _, said = command("keys", "retire", "i1", "--out", ring_file)
    assert status == 0, said
    kept = ring_of(operator)
    assert list(kept.index_keys) == ["i2"]
    for person in REPORTERS:
        assert len(cases_of(engine, kept, person.e164)) == 1


def test_a_wrong_or_missing_ring_is_one_line_and_exit_2_before_anything_is_written(
    engine: Engine, operator: dict[str, str], command
) -> None:
    impostor = {"CASEHUB_KEYRING": KeyRing.generate().to_json()}
    nothing = {"CASEHUB_KEYRING_FILE": None}
    before = opened(engine, ring_of(operator))
    with engine.connect() as conn:
        raw = conn.scalar(select(func.count()).select_from(RawRecord))
    for env, said in ((impostor, "key ring does not match this store: key 'k1'"), (nothing, "no key ring")):
        for argv in (
            ("keys", "rotate"),
            ("keys", "rotate", "--blind-index"),
            ("keys", "retire", "k1"),
            ("district-key", "issue", "--district", "420102", "--kind", "soap"),
            ("quarantine", "replay"),
        ):
            status, out, err = command(*argv, **env)
            assert status == 2 and out == "", (argv, out, err)
            assert said in err and err.count("\n") == 1, (argv, err)
    status, _, err = command("keys", "add", **nothing)
    assert status == 2 and "no key ring" in err and err.count("\n") == 1
    assert opened(engine, ring_of(operator)) == before
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(RawRecord)) == raw
        assert conn.scalar(select(func.count()).select_from(DistrictCredential)) == 2
    status, out, _ = command("keys", "status", **impostor)
    assert status == 1 and "differs from the store's" in out


def test_generate_writes_a_private_ring_and_never_over_a_file(tmp_path: Path, command) -> None:
    target = tmp_path / "new" / "ring.json"
    target.parent.mkdir()
    status, out, _ = command("keys", "generate", "--out", str(target))
    assert status == 0 and out == "" and target.stat().st_mode & 0o777 == 0o600
    ring = KeyRing.from_json(target.read_text())
    assert (ring.active, ring.index_active) == ("k1", "i1")
    status, _, err = command("keys", "generate", "--out", str(target))
    assert status == 2 and "nothing written" in err
    for argv in (("keys", "add"), ("keys", "retire", "k1")):  # not the ring they replace
        status, _, err = command(*argv, "--out", str(target))
        assert status == 2 and "is not the ring this replaces: nothing written" in err
    assert KeyRing.from_json(target.read_text()) == ring
    _, out, _ = command("keys", "generate")
    assert KeyRing.from_json(out).active == "k1"
