"""The district platforms' own parts: who has which habit, what each does with a case, the ids
it sends, and its credentials file — what a person running the demo would see go wrong."""

from __future__ import annotations

import json
import logging
import re
import socket
import stat
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from simulators import district

TODAY = date(2025, 3, 10)
CASES = [f"6f1c1c1e-8d7e-5a7b-9e1a-{n:012d}" for n in range(2000)]
OPERATION_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
SECRET = "cdk_0123abcd_very-secret-value"


def tardy_courses(seed: int, shares: district.Shares | None = None, attempt: int = 1) -> list[str]:
    return [
        district.plan(
            "420111",
            district.TARDY,
            case,
            {},
            attempt,
            seed=seed,
            shares=shares or district.Shares(),
            today=TODAY,
        ).course
        for case in CASES
    ]


def test_the_default_assignment_is_the_documented_one() -> None:
    habits = district.assign_habits()
    assert len(habits) == 13 and set(habits) == set(district.DISTRICTS)
    assert {code for code, habit in habits.items() if habit == "soap"} == {"420106", "420107", "420116"}
    assert {code for code, habit in habits.items() if habit == "tardy"} == {"420111", "420114"}
    assert district.DISTRICTS["420112"] == "东西湖区"


def test_habits_can_be_overridden_and_nonsense_is_refused() -> None:
    habits = district.assign_habits({"420106": "prompt", "420102": "tardy"})
    assert habits["420106"] == "prompt" and habits["420102"] == "tardy" and habits["420111"] == "tardy"
    with pytest.raises(ValueError, match="420199"):
        district.assign_habits({"420199": "prompt"})
    with pytest.raises(ValueError, match="sleepy"):
        district.assign_habits({"420102": "sleepy"})


def test_the_command_line_takes_habit_overrides() -> None:
    from simulators.__main__ import parser

    args = parser().parse_args(["district", "--once", "--habit", "420106=prompt", "--habit", "420113=tardy"])
    assert dict(args.habit) == {"420106": "prompt", "420113": "tardy"}
    with pytest.raises(SystemExit):
        parser().parse_args(["district", "--habit", "420106=fast"])


def test_operation_ids_are_stable_and_tell_every_part_apart() -> None:
    case = CASES[0]
    first = district.operation_id("420102", case, "accept", 1)
    assert first == district.operation_id("420102", case, "accept", 1)
    others = {
        district.operation_id("420103", case, "accept", 1),
        district.operation_id("420102", CASES[1], "accept", 1),
        district.operation_id("420102", case, "complete", 1),
        district.operation_id("420102", case, "accept", 2),
    }
    assert first not in others and len(others) == 4
    for operation in (first, *others, district.operation_id("420117", "x" * 500 + "/é ?", "postpone", 99)):
        assert OPERATION_ID.fullmatch(operation), operation


def test_a_prompt_district_accepts_progresses_and_completes_at_once() -> None:
    case = {"assigned_unit": "420102-cgzf", "unit_name": "江岸区城管执法局"}
    course = district.plan(
        "420102", district.PROMPT, CASES[0], case, 1, seed=42, shares=district.Shares(), today=TODAY
    )
    assert [step.action for step in course.steps] == ["accept", "progress", "complete"]
    assert all(step.due == district.NOW for step in course.steps)
    assert "江岸区城管执法局" in course.steps[2].fields["result"]
    assert course == district.plan(
        "420102", district.SOAP, CASES[0], case, 1, seed=42, shares=district.Shares(), today=TODAY
    )


def test_the_tardy_plan_is_reproducible_by_seed_and_keeps_its_shares() -> None:
    shares = district.Shares(returned=0.3, suggested=0.5, missed=0.1, postponed=0.2)
    courses = tardy_courses(7, shares)
    assert courses == tardy_courses(7, shares)
    assert courses != tardy_courses(8, shares)
    counts = Counter(courses)
    for course, share in (("return", 0.3), ("miss", 0.1), ("postpone", 0.2), ("late", 0.4)):
        assert abs(counts[course] / len(CASES) - share) < 0.04, (course, counts)


def test_a_tardy_district_returns_with_a_reason_and_sometimes_a_neighbour() -> None:
    returns = [
        district.plan("420114", district.TARDY, case, {}, 1, seed=42, shares=district.Shares(), today=TODAY)
        for case in CASES[:400]
    ]
    fields = [course.steps[0].fields for course in returns if course.course == "return"]
    suggested = [each for each in fields if "suggested_district" in each]
    assert fields and all(each["reason_code"] and each["reason"] for each in fields)
    assert 0.3 < len(suggested) / len(fields) < 0.7
    assert {each["suggested_district"] for each in suggested} <= set(district.NEIGHBOURS["420114"])
    assert all(district.DISTRICTS[each["suggested_district"]] in each["reason"] for each in suggested)


def test_a_case_that_comes_back_is_not_returned_again() -> None:
    assert "return" not in tardy_courses(42, district.Shares(returned=0.9, missed=0.0, postponed=0.0), 2)


def test_misses_wait_for_the_urge_and_late_ones_for_the_deadline() -> None:
    plans = {
        course.course: course
        for course in (
            district.plan(
                "420111", district.TARDY, case, {}, 1, seed=42, shares=district.Shares(), today=TODAY
            )
            for case in CASES[:100]
        )
    }
    assert [(s.action, s.due) for s in plans["miss"].steps] == [
        ("accept", "now"),
        ("progress", "when_urged"),
        ("complete", "when_urged"),
    ]
    assert [(s.action, s.due) for s in plans["postpone"].steps] == [
        ("accept", "now"),
        ("postpone", "now"),
        ("progress", "after_deadline"),
        ("complete", "after_deadline"),
    ]
    assert 1 <= plans["postpone"].steps[1].fields["days"] <= 15
    assert [(s.action, s.due) for s in plans["late"].steps] == [
        ("accept", "now"),
        ("progress", "after_deadline"),
        ("complete", "after_deadline"),
    ]


def test_shares_that_cannot_be_are_refused() -> None:
    with pytest.raises(ValueError, match="more than 1"):
        district.Shares(returned=0.5, missed=0.4, postponed=0.3)
    with pytest.raises(ValueError, match="between 0 and 1"):
        district.Shares(suggested=1.5)


def test_action_times_carry_beijing_time_and_sub_seconds() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+08:00", district.now_at())


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_the_credentials_file_is_read_per_district(tmp_path: Path) -> None:
    path = write(
        tmp_path / "credentials.json",
        json.dumps(
            {
                "420102": {"api_key": SECRET},
                "420106": {"soap_username": "district-420106-ab12", "soap_password": "pw"},
            }
        ),
    )
    credentials = district.load_credentials(path)
    assert credentials["420102"].api_key == SECRET and credentials["420102"].usable_for("prompt")
    assert not credentials["420102"].usable_for("soap")
    assert credentials["420106"].usable_for("soap") and not credentials["420106"].usable_for("tardy")
    assert SECRET not in repr(credentials) and "pw" not in repr(credentials["420106"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, "not found"),
        ('{"420102": {"api_key": "' + SECRET + '"', "not JSON (line 1"),
        ("[1, 2]", "expected a JSON object of district codes"),
        ('{"朝阳区": {"api_key": "' + SECRET + '"}}', "is not one of the 13 district codes"),
        ('{"420102": "' + SECRET + '"}', "district 420102: expected an object"),
        ('{"420102": {"api_key": 12345}}', "district 420102: api_key must be a string"),
    ],
)
def test_a_bad_credentials_file_is_one_clear_line(tmp_path: Path, text: str | None, expected: str) -> None:
    path = tmp_path / "credentials.json"
    if text is not None:
        write(path, text)
    with pytest.raises(district.CredentialsError) as refused:
        district.load_credentials(path)
    message = str(refused.value)
    assert expected in message and str(path) in message
    assert "\n" not in message and SECRET not in message


def test_the_command_line_says_what_is_wrong_with_the_credentials_and_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path / "credentials.json", '{"420102": {"api_key": "' + SECRET + '",}}')
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "simulators",
            "district",
            "--once",
            "--credentials",
            str(path),
            "--var-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "not JSON" in done.stderr and SECRET not in done.stderr
    assert not (tmp_path / "simulators").exists()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_districts_without_credentials_are_skipped_with_one_line_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    credentials = {"420102": {"api_key": SECRET}, "420106": {"api_key": SECRET}}
    with caplog.at_level(logging.WARNING, logger="simulators.district"):
        summary = district.run_once(
            f"http://127.0.0.1:{free_port()}", credentials, var_dir=tmp_path, retries=1, backoff=0
        )
    assert set(summary.skipped) == set(district.DISTRICTS) - {"420102"}
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 12
    assert any("420106 武昌区: no SOAP username and password" in line for line in skipped)


def test_an_unreachable_hub_defers_the_pass_and_nothing_is_lost(tmp_path: Path) -> None:
    target = f"http://127.0.0.1:{free_port()}"
    summary = district.run_once(
        target, {"420102": {"api_key": SECRET}}, var_dir=tmp_path, retries=2, backoff=0.01
    )
    assert summary.counts["420102"]["deferred"] == 1 and summary.total("accept") == 0
    folder = tmp_path / "simulators" / "district" / "420102"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert not (folder / "received.jsonl").exists()
