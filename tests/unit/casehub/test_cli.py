"""`casehub stats`, `quarantine list` and `quarantine replay` against a real store."""

from __future__ import annotations

import json
import os

import pytest

from casehub.cli import main
from casehub.crypto import KeyRing
from casehub.pipeline import Pipeline
from casehub.store import connect, migrate
from connectors.hotline import MAPPER
from tests.samples import work_order


@pytest.fixture
def store(tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    ring = KeyRing.generate()
    monkeypatch.setenv("CASEHUB_DB_URL", url)
    monkeypatch.setenv("CASEHUB_KEYRING", ring.to_json())
    migrate(connect(url))
    Pipeline(connect(url), MAPPER, ring).ingest(
        [work_order(), work_order(GDBH="WH20261120000002", LDHM="12345", LXDH="", SSQX="火星区")]
    )
    return url


def test_stats_json_is_one_object_with_the_promised_keys(store, capsys) -> None:
    assert main(["stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["raw"] == 2
    assert stats["cases"]["by_channel"] == {"hotline": 1}
    assert stats["cases"]["by_status"] == {"dispatched": 1}
    assert stats["quarantined"]["total"] == 1
    assert stats["quarantined"]["by_reason"] == {"invalid_phone": 1, "unknown_district": 1}
    assert set(stats["cursors"]) == {"hotline"}
    assert stats["reconciled"] is True


def test_quarantine_list_shows_reasons_without_personal_data(store, capsys) -> None:
    assert main(["quarantine", "list", "--json", "--reason", "invalid_phone"]) == 0
    out = capsys.readouterr().out
    entries = json.loads(out)
    assert [e["source_id"] for e in entries] == ["WH20261120000002"]
    assert {r["field"] for r in entries[0]["reasons"]} == {"LDHM", "SSQX"}
    assert "12345" not in out and "火星区" not in out and "张明" not in out


def test_replay_reports_what_still_fails(store, capsys) -> None:
    assert main(["quarantine", "replay", "--channel", "hotline"]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts == {"hotline": {"replayed": 1, "resolved": 0, "superseded": 0, "still_quarantined": 1}}


def test_replay_of_every_channel_covers_those_cases_come_in_from(store, capsys) -> None:
    assert main(["quarantine", "replay"]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert list(counts) == ["hotline", "message_board", "urban_mgmt", "neighborhood_app"]
    assert counts["hotline"]["still_quarantined"] == 1


def test_configuration_errors_are_reported_not_raised(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("CASEHUB_DB_URL", f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.delenv("CASEHUB_KEYRING", raising=False)
    monkeypatch.delenv("CASEHUB_KEYRING_FILE", raising=False)
    assert main(["quarantine", "replay"]) == 2
    assert "no key ring" in capsys.readouterr().err


def test_replay_with_another_key_ring_is_one_line_and_exit_2(store, capsys, monkeypatch) -> None:
    monkeypatch.setenv("CASEHUB_KEYRING", KeyRing.generate().to_json())
    monkeypatch.setenv("COLUMNS", "60")
    assert main(["quarantine", "replay"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith("casehub: key ring does not match this store: key 'k1'")


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["quarantine", "list", "--channel", "nosuch"], "no channel 'nosuch'"),
        (["quarantine", "list", "--reason", "nosuch"], "no reason code 'nosuch'"),
        (["quarantine", "replay", "--id", "99999"], "no open quarantine entry 99999"),
        (["quarantine", "replay", "--channel", "city_brain"], "no channel 'city_brain'"),
        (["outbox", "list", "--partner", "city_brain"], "no outbox partner 'city_brain'"),
        (["outbox", "replay", "--event", "01a2-nope"], "no dead outbox event 01a2-nope"),
        (["district-key", "issue", "--district", "420199"], "'420199' is not a district code"),
        (["district-key", "issue", "--district", "420102", "--scopes", "root"], "scopes must be among"),
    ],
)
def test_what_does_not_exist_is_one_line_naming_it_and_exit_2(store, capsys, argv, named) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert named in captured.err and len(captured.err.strip().splitlines()) == 1


def test_the_outbox_lists_what_each_partner_was_told_without_bodies(store, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["outbox", "list", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [(e["partner"], e["target"], e["kind"], e["state"], e["attempts"]) for e in entries] == [
        ("urban_mgmt", None, "transfer", "pending", 0)  # 占道经营 is urban management's
    ]
    assert main(["outbox", "list", "--partner", "urban_mgmt", "--state", "dead", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["outbox", "list"]) == 0
    table = capsys.readouterr().out
    assert (
        "urban_mgmt" in table and "transfer" in table and "张明" not in table and "13800138000" not in table
    )
    assert main(["outbox", "replay"]) == 0
    assert json.loads(capsys.readouterr().out) == {"replayed": 0}


def test_a_district_key_is_shown_once_and_only_its_hash_is_kept(store, capsys) -> None:
    from sqlalchemy import select

    from casehub import credentials
    from casehub.store.models import DistrictCredential

    assert main(["district-key", "issue", "--district", "420106"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["api_key"].startswith("cdk_") and shown["scopes"] == ["dispatches:read", "cases:write"]
    caller = credentials.verify_api_key(connect(store), shown["api_key"])
    assert caller is not None and caller.district_code == "420106"
    with connect(store).connect() as conn:
        kept = conn.execute(select(DistrictCredential.secret_hash, DistrictCredential.sealed_secret)).one()
    secret = shown["api_key"].split("_", 2)[2]
    assert kept.sealed_secret is None and secret not in kept.secret_hash
    assert main(["district-key", "issue", "--district", "420106", "--kind", "soap"]) == 0
    soap = json.loads(capsys.readouterr().out)
    assert soap["username"].startswith("district-420106-") and soap["password"]


def test_a_known_reason_with_no_entries_is_an_empty_list(store, capsys) -> None:
    assert main(["quarantine", "list", "--json", "--reason", "future_time"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_reasons_name_their_field_once(store, capsys) -> None:
    assert main(["quarantine", "list"]) == 0
    out = capsys.readouterr().out
    assert "invalid_phone" in out and "LDHM: LDHM" not in out


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("postgresql+psycopg://casehub@127.0.0.1:1/db", "store at 127.0.0.1:1/db cannot be reached"),
        ("not a url", "CASEHUB_DB_URL is not a database URL"),
    ],
)
def test_a_store_that_cannot_be_used_is_one_line_and_exit_2(capsys, monkeypatch, url, named) -> None:
    monkeypatch.setenv("CASEHUB_DB_URL", url)
    assert main(["stats"]) == 2
    err = capsys.readouterr().err
    assert named in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_reader_that_goes_away_ends_the_listing_quietly(store) -> None:
    import subprocess
    import sys

    bad = [work_order(GDBH=f"WH2026112000{n:04d}", SSQX="火星区") for n in range(400)]
    Pipeline(connect(store), MAPPER, KeyRing.from_json(os.environ["CASEHUB_KEYRING"])).ingest(bad)
    env = {**os.environ, "CASEHUB_DB_URL": store}
    with subprocess.Popen(
        [sys.executable, "-m", "casehub.cli", "quarantine", "list", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.read(1)  # far less than the listing, which is more than a pipe holds
        process.stdout.close()
        err = process.stderr.read().decode()
        assert process.wait(timeout=60) == 0
    assert "BrokenPipe" not in err and "Traceback" not in err
