"""`casehub report monthly|weekly`, the real command in its own process: the files the report
DAGs write, under the same stable names, and where they are; a bad period or an unknown district
is one line naming the cause and exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from casehub import reports
from casehub.crypto import KeyRing
from casehub.normalize import SHANGHAI
from casehub.partners import load_connector, partner
from casehub.pipeline import Pipeline
from casehub.reference import load_reference
from casehub.reports import Period
from tests.samples import report

CASEHUB = Path(sys.executable).parent / "casehub"
NOVEMBER = Period.parse("monthly", "2026-11")
JIANGHAN = "420103"


@pytest.fixture
def operator(engine: Engine, keyring: KeyRing, tmp_path: Path) -> dict[str, str]:
    """A store with three community app reports of 18 November in 江汉区, and the environment an
    operator runs the command in."""
    mapper = load_connector(partner("neighborhood_app")).MAPPER
    records = [
        report(
            reportId=f"R{n}",
            reportType="求助",
            status="已受理",
            createdAt="2026-11-18T07:30:00+08:00",
            updatedAt="2026-11-18T08:00:00+08:00",
        )
        for n in range(3)
    ]
    moment = datetime(2026, 11, 18, 9, 0, tzinfo=SHANGHAI).astimezone(UTC)
    assert Pipeline(engine, mapper, keyring, clock=lambda: moment).ingest(records).accepted == 3
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CASEHUB_", "AIRFLOW_CONN_"))}
    return {
        **env,
        "CASEHUB_DB_URL": engine.url.render_as_string(hide_password=False),
        "CASEHUB_HOME": str(tmp_path / "home"),
    }


def casehub(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CASEHUB), *argv], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def without_time(path: Path) -> dict[str, object]:
    document = json.loads(path.read_text(encoding="utf-8"))
    document.pop("generated_at")
    return dict(document)


def test_the_monthly_reports_land_where_the_dag_puts_them(
    engine: Engine, operator: dict[str, str], tmp_path: Path
) -> None:
    done = casehub(operator, "report", "monthly", "--period", "2026-11")
    assert done.returncode == 0, done.stderr
    folder = Path(operator["CASEHUB_HOME"]) / "reports" / "monthly" / "2026-11"
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"monthly 2026-11: 14 reports, 56 files in {folder} (")
    printed = [Path(line) for line in lines[1:]]
    scopes = ("city", *sorted(load_reference().districts))
    assert sorted(printed) == sorted(
        folder / f"{scope}.{kind}" for scope in scopes for kind in reports.FORMATS
    )
    assert all(path.is_file() for path in printed)
    assert sorted(printed) == sorted(folder.iterdir())

    # The same files as the DAG's task writes (`casehub.reports.build` under var/reports/), apart
    # from the generation time.
    dag = tmp_path / "dag"
    reports.build(engine, NOVEMBER, dag, pdf=False)
    for name in ("city", JIANGHAN):
        made = dag / "monthly" / "2026-11"
        assert (folder / f"{name}.csv").read_bytes() == (made / f"{name}.csv").read_bytes()
        assert without_time(folder / f"{name}.json") == without_time(made / f"{name}.json")
    city = json.loads((folder / "city.json").read_text(encoding="utf-8"))
    assert city["summary"]["received"] == 3
    assert folder.joinpath("city.pdf").read_bytes().startswith(b"%PDF")


def test_one_district_and_a_week(operator: dict[str, str]) -> None:
    done = casehub(operator, "report", "weekly", "--period", "2026-W47", "--district", JIANGHAN)
    assert done.returncode == 0, done.stderr
    folder = Path(operator["CASEHUB_HOME"]) / "reports" / "weekly" / "2026-W47"
    printed = [Path(line) for line in done.stdout.splitlines()[1:]]
    assert printed == [folder / f"{JIANGHAN}.{kind}" for kind in reports.FORMATS]
    assert sorted(folder.iterdir()) == sorted(printed)
    district = json.loads((folder / f"{JIANGHAN}.json").read_text(encoding="utf-8"))
    assert district["summary"]["received"] == 3 and district["period"]["first_day"] == "2026-11-16"


@pytest.mark.parametrize(
    ("argv", "cause"),
    [
        (("monthly", "--period", "2026-13"), "--period 2026-13: no such month"),
        (("monthly", "--period", "2026-W47"), "--period '2026-W47' is not a monthly period (YYYY-MM)"),
        (("weekly", "--period", "2026-W54"), "--period 2026-W54: no such ISO week"),
        (("monthly", "--period", "2026-11", "--district", "420199"), "--district '420199' is not a district"),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(
    operator: dict[str, str], argv: tuple[str, ...], cause: str
) -> None:
    done = casehub(operator, "report", *argv)
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and cause in done.stderr
    assert not (Path(operator["CASEHUB_HOME"]) / "reports").exists()
