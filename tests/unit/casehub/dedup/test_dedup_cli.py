"""`casehub dedup --input … --output …` as a user runs it: a real process on a small file, and
hostile files answered with one line naming the line and field, exit 2, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CASEHUB = Path(sys.executable).parent / "casehub"
PHONE = "13871230001"
CASES = [
    {
        "case_id": "call-1",
        "channel": "hotline",
        "title": "市民来电反映中山路社区东门外井盖破损",
        "content": "来电人称车站街道中山路社区东门外人行道上有一个井盖碎裂下陷，晚上看不清，要求尽快更换。",
        "category_minor": "010014",
        "district_code": "420102",
        "address": "江岸区车站路中山路社区东门外人行道",
        "reported_at": "2025-03-04T09:02:00+08:00",
        "reporter_phone": PHONE,
    },
    {
        "case_id": "app-1",
        "channel": "neighborhood_app",
        "title": "东门井盖碎了",
        "content": "小区东门出去人行道上那个井盖碎了一大块，晚上黑漆漆的太危险了，赶紧来修一下吧",
        "category_minor": "010014",
        "district_code": "420102",
        "community_code": "420102003002",
        "lng": 114.2982,
        "lat": 30.5922,
        "reported_at": "2025-03-04T09:40:00+08:00",
        "reporter_phone": "+86 139 0715 0002",
    },
    {
        "case_id": "app-2",
        "channel": "neighborhood_app",
        "title": "东门路灯不亮",
        "content": "东门外那排路灯全黑了，晚上回家摸黑走",
        "category_minor": "020015",
        "district_code": "420102",
        "community_code": "420102003002",
        "reported_at": "2025-03-04T20:15:00+08:00",
    },
    {"case_id": "bare"},
]


def _run(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CASEHUB), "dedup", *argv], capture_output=True, text=True, input=stdin, timeout=60, check=False
    )


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_a_small_file_gets_one_cluster_line_per_case(tmp_path: Path) -> None:
    source = _write(tmp_path / "cases.jsonl", [json.dumps(c, ensure_ascii=False) for c in CASES])
    target = tmp_path / "clusters.jsonl"
    done = _run("--input", str(source), "--output", str(target))
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert [set(r) for r in rows] == [{"case_id", "cluster_id", "duplicate_of", "score"}] * 4
    by_id = {r["case_id"]: r for r in rows}
    assert [r["case_id"] for r in rows] == ["call-1", "app-1", "app-2", "bare"]
    assert by_id["app-1"] == {"case_id": "app-1", "cluster_id": "call-1", "duplicate_of": "call-1",
                              "score": by_id["app-1"]["score"]}
    assert 0.5 <= by_id["app-1"]["score"] <= 1
    parent = {"case_id": "call-1", "cluster_id": "call-1", "duplicate_of": None, "score": None}
    assert by_id["call-1"] == parent
    assert by_id["app-2"]["duplicate_of"] is None and by_id["bare"]["cluster_id"] == "bare"
    assert "4 cases: 3 clusters, 1 probable duplicates" in done.stderr
    assert PHONE not in done.stdout + done.stderr + target.read_text()


def test_standard_input_and_output_work_as_dashes() -> None:
    done = _run("--input", "-", "--output", "-", stdin="\n".join(json.dumps(c) for c in CASES[:2]))
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["cluster_id"] for line in done.stdout.splitlines()] == ["call-1", "call-1"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("not json at all", "line 2: /: is not JSON"),
        ("[1, 2]", "line 2: /: must be a JSON object, not an array"),
        ('{"title": "无编号"}', "line 2: case_id: is required"),
        ('{"case_id": ""}', "line 2: case_id: is required"),
        ('{"case_id": "x", "title": 5}', "line 2: title: must be a string or null, not a number"),
        ('{"case_id": "x", "lng": "东经"}', "line 2: lng: is not a number"),
        ('{"case_id": "x", "lat": [30]}', "line 2: lat: must be a number or null, not an array"),
        ('{"case_id": "x", "reported_at": "昨天"}', "line 2: reported_at: is not an ISO 8601 date-time"),
        ('{"case_id": "x", "reported_at": "2025-03-04T09:02:00"}', "line 2: reported_at: has no UTC offset"),
        ('{"case_id": "x", "reporter_phone": {"n": 1}}', "line 2: reporter_phone: must be a string or null"),
        ('{"case_id": "call-1"}', "line 2: case_id: appears on an earlier line"),
    ],
)
def test_a_bad_line_is_one_line_naming_line_and_field_and_writes_nothing(
    tmp_path: Path, line: str, expected: str
) -> None:
    source = _write(tmp_path / "cases.jsonl", [json.dumps(CASES[0], ensure_ascii=False), line])
    target = tmp_path / "clusters.jsonl"
    done = _run("--input", str(source), "--output", str(target))
    assert done.returncode == 2
    assert expected in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr and PHONE not in done.stderr
    assert not target.exists()


def test_nulls_empty_strings_and_huge_texts_are_sane(tmp_path: Path) -> None:
    odd = [
        {name: None for name in CASES[0]} | {"case_id": "nulls"},
        {name: "" for name in CASES[0]} | {"case_id": "empty"},
        {**CASES[0], "case_id": "huge", "content": "井盖破损" * 60_000},
        {**CASES[0], "case_id": 7, "reporter_phone": "not a phone"},
        {**CASES[0], "case_id": "nan", "lng": "NaN"},
    ]
    source = _write(tmp_path / "cases.jsonl", [json.dumps(c, ensure_ascii=False) for c in odd[:3]])
    done = _run("--input", str(source), "--output", "-")
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["case_id"] for line in done.stdout.splitlines()] == ["nulls", "empty", "huge"]
    source = _write(tmp_path / "more.jsonl", [json.dumps(c, ensure_ascii=False) for c in odd[3:4]])
    done = _run("--input", str(source), "--output", "-")
    assert done.returncode == 0 and json.loads(done.stdout)["case_id"] == "7"
    source = _write(tmp_path / "nan.jsonl", [json.dumps(odd[4])])
    done = _run("--input", str(source), "--output", "-")
    assert done.returncode == 2 and "line 1: lng: is not a finite number" in done.stderr


def test_a_missing_input_or_a_usage_error_is_exit_2(tmp_path: Path) -> None:
    done = _run("--input", str(tmp_path / "none.jsonl"), "--output", "-")
    assert done.returncode == 2 and "none.jsonl" in done.stderr and "Traceback" not in done.stderr
    assert _run("--input", str(tmp_path / "x")).returncode == 2
