"""The `casehub` command as its user sees it, against a real store (SQLite and PostgreSQL) with
records ingested by the real pipeline: what it prints, what it never prints, and its exit status.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from casehub.cli import _print_stats, main
from casehub.crypto import CONNECTION_VARIABLE, KeyRing, ensure_local_keyring, local_keyring_path
from casehub.errors import InvalidRecord, Reason
from casehub.pipeline import Pipeline
from casehub.reference import load_reference
from casehub.stats import collect
from casehub.store import Quarantine, connect
from connectors.hotline import MAPPER
from tests.samples import board_message, case_file, report, work_order

CASEHUB = Path(sys.executable).parent / "casehub"

NAME, PHONE, LANDLINE = "欧阳明华", "+86 139 1234 5678", "027-8555 1234"
ID_NUMBER, ADDRESS = "420102199003071232", "江汉区民族街道友谊路58号门前"
TOLD = f"我是{NAME}，电话13912345678，座机02785551234，身份证{ID_NUMBER}，住{ADDRESS}，请尽快处理。"
"""A resident who tells the hub everything about themselves, in the fields and in the text."""
PERSONAL = (NAME, "阳明华", "13912345678", "1391234", "1234 5678", "85551234", "8555 1234", ID_NUMBER)
PERSONAL += ("19900307", "友谊路58号", "58号门前")
MASKED = ("欧*", "+86139****5678", "江汉区民族街道****")

DEFECTIVE = {
    "hotline": work_order(
        GDBH="WH20261120000009",
        LDRXM=NAME,
        LDHM=PHONE,
        LXDH=LANDLINE,
        SFZHM=ID_NUMBER,
        FSDZ=ADDRESS,
        SQNR=TOLD,
        SSQX="火星区",
    ),
    "message_board": board_message(
        id=880999, nickName=NAME, phone=PHONE, address=ADDRESS, content=TOLD, areaName="火星区"
    ),
    "neighborhood_app": report(
        reporterName=NAME, reporterPhone=PHONE, address=ADDRESS, content=TOLD, communityCode="420103999999"
    ),
    "urban_mgmt": case_file(
        ReporterName=NAME, ReporterPhone=PHONE, Address=ADDRESS, Description=TOLD, GridCode="42019900100101"
    ),
}
"""One record per inbound channel that its mapper quarantines, each full of personal values."""


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _ingest(url: str, ring: KeyRing, channel: str, records: list[dict[str, Any]], **options: Any) -> None:
    from casehub.partners import load_connector, load_partners

    spec = next(p for p in load_partners() if p.code == channel)
    Pipeline(connect(url), load_connector(spec).MAPPER, ring, **options).ingest(records)


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """The working directory (`var/`) of this test alone, and no key ring in the environment."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("CASEHUB_HOME", str(path))
    for name in ("CASEHUB_KEYRING", "CASEHUB_KEYRING_FILE", CONNECTION_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    return path


@pytest.fixture
def store(engine, home, monkeypatch, keyring) -> str:
    """A store on each backend holding one accepted work order and one quarantined for two reasons."""
    url = _url(engine)
    monkeypatch.setenv("CASEHUB_DB_URL", url)
    monkeypatch.setenv("CASEHUB_KEYRING", keyring.to_json())
    monkeypatch.setenv("COLUMNS", "200")
    Pipeline(connect(url), MAPPER, keyring).ingest(
        [work_order(), work_order(GDBH="WH20261120000002", LDHM="12345", LXDH="", SSQX="火星区")]
    )
    return url


def _entry_id(url: str, source_id: str) -> int:
    with connect(url).connect() as conn:
        return int(conn.scalar(select(Quarantine.id).where(Quarantine.source_id == source_id)))


def _run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CASEHUB), *argv],
        capture_output=True,
        text=True,
        env=env or dict(os.environ),
        timeout=120,
        check=False,
    )


# stats


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
    assert stats == collect(connect(store))  # exactly what the store's stats are, nothing restated


def test_stats_without_json_are_tables_a_person_reads(store, capsys) -> None:
    assert main(["stats"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "raw records 2 = accepted 1 + quarantined 1 + superseded 0: reconciled"
    assert "{" not in out and '"' not in out  # no JSON
    for title in (
        "cases: total 1",
        "by channel",
        "by status",
        "by grade",
        "by unit kind",
        "quarantined: total 1",
    ):
        assert title in out
    for name, count in (("hotline", 1), ("dispatched", 1), ("invalid_phone", 1), ("unknown_district", 1)):
        assert re.search(rf"\b{name}\s+│\s+{count}\b", out), name
    assert re.search(r"\bA\s+│\s+1\b", out) and re.search(r"\bD\s+│\s+0\b", out)  # grades, zeros too
    assert re.search(r"\bdistrict_department\s+│\s+1\b", out)
    outbox = lines.index("outbox")
    header = lines[outbox + 1].split("┃")
    assert [cell.strip() for cell in header[1:]] == ["pending", "delivered", "dead"]
    urban = next(line for line in lines[outbox:] if "urban_mgmt" in line)
    assert [cell.strip() for cell in urban.split("│")] == ["urban_mgmt", "1", "0", "0"]
    assert "inbox: none" in out and "provisions: none" in out
    assert re.search(r"^quality\b", out, re.MULTILINE) and re.search(r"\bcritical\s+│\s+\d+", out)


def test_stats_show_a_section_they_do_not_know_yet(store) -> None:
    """Keys added to `casehub stats --json` later are shown too."""
    from io import StringIO

    from rich.console import Console

    stats = collect(connect(store))
    stats["freshness"] = {
        "pass_rate": 0.97,
        "by_rule": {
            "hotline_fresh": {"evaluated": 120, "failed": 4},
            "message_board_fresh": {"evaluated": 120, "failed": 0},
        },
        "worst": [{"rule": "hotline_fresh", "channel": "hotline"}],
    }
    buffer = StringIO()
    _print_stats(stats, Console(file=buffer, width=200))
    out = buffer.getvalue()
    assert "freshness: pass rate 0.97" in out
    assert re.search(r"hotline_fresh\s+│\s+120\s+│\s+4\b", out) and re.search(
        r"message_board_fresh\s+│\s+120\s+│\s+0\b", out
    )
    assert "worst" in out and "hotline" in out


# quarantine list


def test_quarantine_list_shows_reasons_without_personal_data(store, capsys) -> None:
    assert main(["quarantine", "list", "--json", "--reason", "invalid_phone"]) == 0
    out = capsys.readouterr().out
    entries = json.loads(out)
    assert [e["source_id"] for e in entries] == ["WH20261120000002"]
    assert {r["field"] for r in entries[0]["reasons"]} == {"LDHM", "SSQX"}
    assert entries[0]["source_updated_at"] == "2026-11-20T01:00:00+00:00"
    assert "12345" not in out and "火星区" not in out and "张明" not in out


def test_a_known_reason_with_no_entries_is_an_empty_list(store, capsys) -> None:
    assert main(["quarantine", "list", "--json", "--reason", "future_time"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["quarantine", "list", "--json", "--reason", "schema_maxLength"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_a_data_quality_rule_id_is_a_reason_to_filter_by(store, keyring, capsys) -> None:
    """A critical rule of the case suite quarantines with its rule id as the reason."""
    _ingest(store, keyring, "hotline", [work_order(GDBH="WH20261120000003", LDSJ="2026-11-20 09:30:00")])
    entry = _entry_id(store, "WH20261120000003")
    assert main(["quarantine", "list", "--json", "--reason", "dq_updated_before_reported"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["id"] == entry and [r["code"] for r in listed["reasons"]] == ["dq_updated_before_reported"]
    assert (
        main(["quarantine", "list", "--json", "--reason", "dq_closed_in_future"]) == 0
    )  # a rule, none broke it
    assert json.loads(capsys.readouterr().out) == []
    assert main(["quarantine", "list", "--reason", "dq_no_such_rule"]) == 2
    err = capsys.readouterr().err
    assert "no reason code 'dq_no_such_rule'" in err and len(err.strip().splitlines()) == 1


def test_a_code_no_longer_registered_still_finds_the_entries_that_carry_it(store, capsys) -> None:
    """A rule retired from the suites leaves its entries; they can still be listed by it."""
    entry = _entry_id(store, "WH20261120000002")
    retired = {"code": "dq_retired_rule", "field": "district_code", "message": "no longer a rule"}
    with connect(store).begin() as conn:
        reasons = conn.scalar(select(Quarantine.reasons).where(Quarantine.id == entry))
        conn.execute(update(Quarantine).where(Quarantine.id == entry).values(reasons=[*reasons, retired]))
    assert main(["quarantine", "list", "--json", "--reason", "dq_retired_rule"]) == 0
    assert [e["id"] for e in json.loads(capsys.readouterr().out)] == [entry]


def test_reasons_name_their_field_once(store, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    assert main(["quarantine", "list"]) == 0
    out = capsys.readouterr().out
    assert "invalid_phone (LDHM: not a valid phone number)" in out
    assert "LDHM: LDHM" not in out and "SSQX: SSQX" not in out
    assert main(["quarantine", "show", str(_entry_id(store, "WH20261120000002"))]) == 0
    out = capsys.readouterr().out
    assert "LDHM: LDHM" not in out and "│ LDHM  │ LDHM" not in out
    assert any("invalid_phone" in line and "not a valid phone number" in line for line in out.splitlines())


def test_an_invalid_records_message_names_each_field_once() -> None:
    error = InvalidRecord(
        [
            Reason("invalid_phone", "LXDH", "LXDH: not a valid phone number"),
            Reason("schema_required", "/title", "is required"),
        ]
    )
    assert str(error) == "LXDH: not a valid phone number; /title: is required"


# quarantine show


@pytest.mark.parametrize("channel", sorted(DEFECTIVE))
def test_show_one_entry_masked_for_each_channel(store, keyring, capsys, channel) -> None:
    _ingest(store, keyring, channel, [DEFECTIVE[channel]])
    with connect(store).connect() as conn:
        entry = conn.scalar(
            select(Quarantine.id).where(Quarantine.channel == channel).order_by(Quarantine.id.desc())
        )
    assert main(["quarantine", "show", str(entry)]) == 0
    out = capsys.readouterr().out
    assert main(["quarantine", "show", str(entry), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    for text in (out, json.dumps(shown, ensure_ascii=False)):
        leaked = [value for value in PERSONAL if value in text]
        assert leaked == [], f"{channel}: {leaked} shown in clear"
        for masked in MASKED:
            assert masked in text, (channel, masked)
    assert set(shown) == {
        "id",
        "channel",
        "source_id",
        "source_updated_at",
        "quarantined_at",
        "state",
        "attempts",
        "reasons",
        "history",
        "raw",
    }
    assert shown["id"] == entry and shown["channel"] == channel and shown["state"] == "open"
    assert shown["source_updated_at"] is not None and shown["attempts"] == 1 and shown["history"] == []
    assert all(set(reason) == {"code", "field", "message"} for reason in shown["reasons"])
    lines = out.splitlines()
    assert any(line.split()[:2] == ["channel", channel] for line in lines)
    assert any(line.startswith(" source updated at") and shown["source_updated_at"] for line in lines)
    assert "history: not replayed yet" in out and "raw record (personal values masked)" in out
    for reason in shown["reasons"]:
        assert reason["code"] in out


def test_show_keeps_what_is_not_personal_readable(store, keyring, capsys) -> None:
    _ingest(store, keyring, "hotline", [DEFECTIVE["hotline"]])
    assert main(["quarantine", "show", str(_entry_id(store, "WH20261120000009")), "--json"]) == 0
    raw = json.loads(capsys.readouterr().out)["raw"]
    assert raw["GDBH"] == "WH20261120000009" and raw["GXSJ"] == "2026-11-20 09:00:00"
    assert raw["SSQX"] == "火星区" and raw["YWLBDM"] == "HL0101"  # what the officer has to fix
    assert raw["LDRXM"] == "欧*" and raw["LDHM"] == "+86139****5678" and raw["LXDH"] == "+8627****1234"
    assert raw["SFZHM"] == "420102***********2" and raw["FSDZ"] == "江汉区民族街道****"
    assert raw["SQNR"].startswith("我是欧*，电话+86139****5678，座机+8627****1234，身份证420102*") and raw[
        "SQNR"
    ].endswith("请尽快处理。")


def test_show_without_a_key_ring_shows_the_entry_and_says_why_not_the_record(
    store, monkeypatch, capsys
) -> None:
    monkeypatch.delenv("CASEHUB_KEYRING")
    entry = _entry_id(store, "WH20261120000002")
    assert main(["quarantine", "show", str(entry), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["raw"] is None and shown["raw_unavailable"].startswith(
        "no key ring: looked in CASEHUB_KEYRING"
    )
    assert [r["code"] for r in shown["reasons"]] == ["unknown_district", "invalid_phone"]


# quarantine replay


def test_replay_reports_what_still_fails_and_keeps_it_in_the_history(store, capsys) -> None:
    assert main(["quarantine", "replay", "--channel", "hotline"]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts == {"hotline": {"replayed": 1, "resolved": 0, "superseded": 0, "still_quarantined": 1}}
    assert main(["quarantine", "show", str(_entry_id(store, "WH20261120000002")), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["attempts"] == 2 and shown["state"] == "open"
    assert [(s["action"], s["outcome"], s["reasons"]) for s in shown["history"]] == [
        ("replay", "still_quarantined", ["invalid_phone", "unknown_district"])
    ]


def test_replay_after_a_crosswalk_fix_resolves_the_entry_and_show_tells_it(store, keyring, capsys) -> None:
    """Landed while the hotline's status crosswalk lacked 04 (已办结); the fix is the crosswalk as
    it is in schemas/reference/ now, which the command reads."""
    reference = load_reference()
    crosswalks = dict(reference.crosswalks)
    crosswalks[("hotline", "status")] = MappingProxyType(
        {code: status for code, status in crosswalks[("hotline", "status")].items() if code != "04"}
    )
    before = dataclasses.replace(reference, crosswalks=MappingProxyType(crosswalks))
    order = work_order(GDBH="WH20261120000004", GDZT="04", GXSJ="2026-11-20 10:00:00")
    _ingest(store, keyring, "hotline", [order], reference=before)
    entry = _entry_id(store, "WH20261120000004")
    assert main(["quarantine", "list", "--json", "--reason", "unknown_status"]) == 0
    assert [e["id"] for e in json.loads(capsys.readouterr().out)] == [entry]

    assert main(["quarantine", "replay", "--id", str(entry)]) == 0
    assert json.loads(capsys.readouterr().out)["hotline"] == {
        "replayed": 1,
        "resolved": 1,
        "superseded": 0,
        "still_quarantined": 0,
    }
    assert main(["quarantine", "show", str(entry)]) == 0
    out = capsys.readouterr().out
    assert any(line.split()[:2] == ["state", "resolved"] for line in out.splitlines())
    step = next(line for line in out.splitlines() if " replay " in f" {line} ")
    assert "resolved" in step
    assert main(["quarantine", "list", "--json", "--state", "resolved"]) == 0
    assert [e["id"] for e in json.loads(capsys.readouterr().out)] == [entry]
    assert main(["stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["cases"]["by_status"] == {"completed": 1, "dispatched": 1} and stats["reconciled"]


def test_replay_of_every_channel_covers_those_cases_come_in_from(store, capsys) -> None:
    assert main(["quarantine", "replay"]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert list(counts) == ["hotline", "message_board", "urban_mgmt", "neighborhood_app", "open311"]
    assert counts["hotline"]["still_quarantined"] == 1


def test_replay_with_another_key_ring_is_one_line_and_exit_2(store, capsys, monkeypatch) -> None:
    monkeypatch.setenv("CASEHUB_KEYRING", KeyRing.generate().to_json())
    monkeypatch.setenv("COLUMNS", "60")
    assert main(["quarantine", "replay"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith("casehub: key ring does not match this store: key 'k1'")


# the key ring, found the same way by every command


def test_after_the_demo_the_commands_find_its_key_ring(engine, home) -> None:
    """`make demo` leaves var/keyring.json and sets nothing in the user's shell."""
    ring = KeyRing.from_json(ensure_local_keyring(local_keyring_path()).read_text())
    url = _url(engine)
    _ingest(url, ring, "hotline", [DEFECTIVE["hotline"]])
    env = {k: v for k, v in os.environ.items() if k not in ("CASEHUB_KEYRING", "CASEHUB_KEYRING_FILE")}
    env.update(CASEHUB_DB_URL=url, CASEHUB_HOME=str(home))
    replayed = _run("quarantine", "replay", env=env)
    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replayed.stdout)["hotline"]["still_quarantined"] == 1
    shown = _run("quarantine", "show", str(_entry_id(url, "WH20261120000009")), "--json", env=env)
    assert shown.returncode == 0 and json.loads(shown.stdout)["raw"]["LDRXM"] == "欧*"


def test_the_airflow_connection_in_the_environment_holds_the_key_ring(
    store, keyring, monkeypatch, capsys
) -> None:
    from urllib.parse import quote

    monkeypatch.delenv("CASEHUB_KEYRING")
    monkeypatch.setenv(CONNECTION_VARIABLE, "generic://:" + quote(keyring.to_json(), safe="") + "@")
    assert main(["quarantine", "replay"]) == 0
    assert json.loads(capsys.readouterr().out)["hotline"]["replayed"] == 1


def test_no_key_ring_anywhere_names_every_place_looked_in(store, home, monkeypatch, capsys) -> None:
    monkeypatch.delenv("CASEHUB_KEYRING")
    assert main(["quarantine", "replay"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    for place in ("CASEHUB_KEYRING,", "CASEHUB_KEYRING_FILE", "casehub_keyring", CONNECTION_VARIABLE):
        assert place in err
    assert str(home / "keyring.json") in err.replace("\n", "")


# what a user gets wrong


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["quarantine", "list", "--channel", "nosuch"], "no channel 'nosuch'"),
        (["quarantine", "list", "--reason", "nosuch"], "no reason code 'nosuch'"),
        (["quarantine", "show", "99999"], "no quarantine entry 99999"),
        (["quarantine", "replay", "--id", "99999"], "no open quarantine entry 99999"),
        (["quarantine", "replay", "--channel", "city_brain"], "no channel 'city_brain'"),
        (["quarantine", "replay", "--channel", "nosuch"], "no channel 'nosuch'"),
        (["outbox", "list", "--partner", "city_brain"], "no outbox partner 'city_brain'"),
        (["outbox", "replay", "--event", "01a2-nope"], "no dead outbox event 01a2-nope"),
        (["district-key", "issue", "--district", "420199"], "'420199' is not a district code"),
        (["district-key", "issue", "--district", "420102", "--scopes", "root"], "scopes must be among"),
        (["district-key", "list", "--district", "420199"], "'420199' is not a district code"),
        (["district-key", "revoke", "nosuch"], "no live district credential 'nosuch'"),
        (["district-key", "revoke"], "takes key ids or --district"),
        (["district-key", "revoke", "--district", "420199"], "'420199' is not a district code"),
        (["district-key", "revoke", "some-id", "--kind", "soap"], "--kind goes with --district"),
    ],
)
def test_what_does_not_exist_is_one_line_naming_it_and_exit_2(store, capsys, argv, named) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert named in captured.err and len(captured.err.strip().splitlines()) == 1


def test_an_entry_of_another_channel_is_not_replayed_under_this_one(store, capsys) -> None:
    entry = _entry_id(store, "WH20261120000002")
    assert main(["quarantine", "replay", "--channel", "message_board", "--id", str(entry)]) == 2
    assert f"no open quarantine entry {entry} of channel message_board" in capsys.readouterr().err


STORE_COMMANDS = [
    ["stats"],
    ["stats", "--json"],
    ["migrate"],
    ["quarantine", "list"],
    ["quarantine", "list", "--reason", "invalid_phone"],
    ["quarantine", "show", "1"],
    ["quarantine", "replay"],
    ["outbox", "list"],
    ["outbox", "replay"],
    ["district-key", "issue", "--district", "420102"],
    ["district-key", "list"],
]


@pytest.mark.parametrize("argv", STORE_COMMANDS, ids=" ".join)
@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("postgresql+psycopg://nobody:secret@127.0.0.1:1/x", "the store at 127.0.0.1:1/x cannot be reached"),
        ("nonsense://", "CASEHUB_DB_URL 'nonsense://' is not a database URL"),
        ("not a url", "CASEHUB_DB_URL 'not a url' is not a database URL"),
        ("mysql://nobody:secret@127.0.0.1:1/x", "needs the database driver 'MySQLdb'"),
    ],
    ids=["unreachable", "no-such-dialect", "not-a-url", "no-driver"],
)
def test_a_store_that_cannot_be_used_is_one_line_and_exit_2(
    home, capsys, monkeypatch, keyring, url, named, argv
) -> None:
    monkeypatch.setenv("CASEHUB_DB_URL", url)
    monkeypatch.setenv("CASEHUB_KEYRING", keyring.to_json())
    monkeypatch.setenv("COLUMNS", "300")
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and named in captured.err
    assert len(captured.err.strip().splitlines()) == 1 and "secret" not in captured.err


def test_a_store_nobody_migrated_says_so(home, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("CASEHUB_DB_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    for argv in (["stats"], ["quarantine", "list"], ["outbox", "list"], ["quarantine", "show", "1"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"the store file {tmp_path / 'empty.db'} has no casehub schema yet: run casehub migrate" in err


def test_an_unreachable_store_from_the_shell_is_one_line_without_a_traceback(home) -> None:
    env = {**os.environ, "CASEHUB_DB_URL": "postgresql+psycopg://nobody@127.0.0.1:1/x"}
    done = _run("quarantine", "list", env=env)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == "casehub: the store at 127.0.0.1:1/x cannot be reached (OperationalError)"


# the reader goes away


@pytest.fixture
def sqlite_store(sqlite_engine, home, monkeypatch, keyring) -> str:
    url = _url(sqlite_engine)
    monkeypatch.setenv("CASEHUB_DB_URL", url)
    monkeypatch.setenv("CASEHUB_KEYRING", keyring.to_json())
    bad = [work_order(GDBH=f"WH2026112000{n:04d}", SSQX="火星区") for n in range(300)]
    Pipeline(connect(url), MAPPER, keyring).ingest([work_order(), *bad])
    return url


@pytest.mark.parametrize(
    "argv",
    [
        ["stats"],
        ["stats", "--json"],
        ["quarantine", "list"],
        ["quarantine", "list", "--json"],
        ["quarantine", "show", "1"],
        ["quarantine", "show", "1", "--json"],
        ["quarantine", "replay", "--id", "1"],
        ["outbox", "list"],
        ["outbox", "list", "--json"],
        ["migrate"],
        ["--help"],
        ["quarantine", "--help"],
    ],
    ids=" ".join,
)
def test_a_reader_that_goes_away_ends_the_command_quietly(sqlite_store, argv) -> None:
    """`casehub … | head -1`: the pipe is closed before the command writes its first byte."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        with subprocess.Popen(
            [str(CASEHUB), *argv], stdout=writer, stderr=subprocess.PIPE, env=dict(os.environ)
        ) as process:
            assert process.stderr is not None
            err = process.stderr.read().decode()
            assert process.wait(timeout=120) == 0, err
    finally:
        os.close(writer)
    assert err == ""


def test_a_reader_that_goes_away_mid_listing_ends_it_quietly(sqlite_store) -> None:
    with subprocess.Popen(
        [str(CASEHUB), "quarantine", "list", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.read(1)  # far less than the listing, which is more than a pipe holds
        process.stdout.close()
        err = process.stderr.read().decode()
        assert process.wait(timeout=60) == 0
    assert "BrokenPipe" not in err and "Traceback" not in err


# outbox and district keys


def test_the_outbox_lists_what_each_partner_was_told_without_bodies(store, capsys) -> None:
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


def test_revoked_district_credentials_are_refused_and_listed_without_secrets(store, keyring, capsys) -> None:
    from casehub import credentials

    engine = connect(store)
    issued = {}
    for name, argv in {
        "rest": ["--district", "420106"],
        "soap": ["--district", "420106", "--kind", "soap"],
        "other": ["--district", "420102"],
    }.items():
        assert main(["district-key", "issue", *argv]) == 0
        issued[name] = json.loads(capsys.readouterr().out)
    assert main(["district-key", "revoke", "--district", "420106", "--kind", "soap"]) == 0
    assert json.loads(capsys.readouterr().out) == {"revoked": [issued["soap"]["key_id"]]}
    assert credentials.soap_password(engine, keyring, issued["soap"]["username"]) is None
    assert credentials.verify_api_key(engine, issued["rest"]["api_key"]) is not None

    assert main(["district-key", "revoke", issued["rest"]["key_id"]]) == 0
    assert json.loads(capsys.readouterr().out) == {"revoked": [issued["rest"]["key_id"]]}
    assert credentials.verify_api_key(engine, issued["rest"]["api_key"]) is None
    assert credentials.verify_api_key(engine, issued["other"]["api_key"]) is not None
    assert main(["district-key", "revoke", issued["rest"]["key_id"]]) == 2  # already revoked
    capsys.readouterr()

    assert main(["district-key", "list", "--district", "420106", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(row["key_id"], row["kind"], row["revoked_at"] is not None) for row in listed] == [
        (issued["rest"]["key_id"], "api_key", True),
        (issued["soap"]["key_id"], "soap", True),
    ]
    assert main(["district-key", "list"]) == 0
    table = capsys.readouterr().out
    assert issued["other"]["key_id"] in table
    for shown in issued.values():
        secret = shown.get("api_key") or shown["password"]
        assert secret not in table and secret.split("_")[-1] not in table
