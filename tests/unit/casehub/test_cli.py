"""`casehub stats`, `quarantine list` and `quarantine replay` against a real store."""

from __future__ import annotations

import json

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
