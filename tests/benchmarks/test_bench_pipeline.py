"""`make bench`, the performance harness, runs end to end on PostgreSQL at a tiny size: it exits
cleanly, writes figures that keep their contract (schemas/bench/latest.schema.json), quarantines
exactly the defects it planted, finds the duplicates it planted, and its stages account for the
CPU it reports. The figures themselves are for a person to read; no timing is asserted."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from casehub.partners import load_partners

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "benchmarks" / "bench_pipeline.py"
SCHEMA = ROOT / "schemas" / "bench" / "latest.schema.json"
RECORDS = 600

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def run(
    tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str
) -> tuple[subprocess.CompletedProcess[str], Path]:
    output = tmp_path_factory.mktemp("bench") / "latest.json"
    done = subprocess.run(
        [sys.executable, str(HARNESS), "--records", str(RECORDS), "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
        env={**os.environ, "CASEHUB_BENCH_PG_ADMIN_URL": postgres_admin_url},
    )
    return done, output


@pytest.fixture(scope="module")
def figures(run: tuple[subprocess.CompletedProcess[str], Path]) -> dict[str, Any]:
    done, output = run
    assert done.returncode == 0, done.stderr[-3000:]
    loaded: dict[str, Any] = json.loads(output.read_text(encoding="utf-8"))
    return loaded


def test_the_harness_prints_both_rates_the_ratio_and_the_stages(
    run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    done, _ = run
    assert done.returncode == 0, done.stderr[-3000:]
    for line in (
        r"^pipeline\s+[\d,]+\s+[\d.]+\s+[\d,]+\s+[\d,]+$",
        r"^bare COPY \+ upsert\s+[\d,]+\s+[\d.]+\s+[\d,]+\s+[\d,]+$",
        r"^ratio pipeline / bare\s+[\d.]+$",
        r"^\s+duplicate detection\s+[\d,.]+\s+store\.at_intake$",
        r"^\s+GX suites\s+[\d,.]+\s+Pipeline\._check_quality$",
        r"^raw records \d+: landed \d+, quarantined \d+ \(planted defects \d+",
        r"^duplicates flagged \d+, of the planted \d+",
    ):
        assert any(re.match(line, row) for row in done.stdout.splitlines()), (line, done.stdout)


def test_the_figures_keep_their_contract(figures: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(figures)
    for key in ("records", "pipeline_per_s", "bare_per_s", "cpu_us_per_record", "peak_mib", "stages"):
        assert key in figures
    assert figures["records"] == RECORDS
    assert figures["ratio"] == pytest.approx(figures["pipeline_per_s"] / figures["bare_per_s"], rel=0.01)
    assert figures["machine"]["cpu_count"] >= 1 and len(figures["machine"]["load_average"]) == 3


def test_every_inbound_channel_is_in_the_mix(figures: dict[str, Any]) -> None:
    inbound = {p.code for p in load_partners() if p.inbound}
    assert set(figures["channels"]) == inbound
    assert all(n > 0 for n in figures["channels"].values())
    assert sum(figures["channels"].values()) == RECORDS
    assert figures["channels"]["hotline"] == max(figures["channels"].values()), "the hotline carries most"


def test_exactly_the_planted_defects_are_quarantined_and_the_rest_lands(figures: dict[str, Any]) -> None:
    assert figures["planted_defects"] > 0
    assert figures["quarantined"] == figures["planted_defects"]
    assert figures["landed"] + figures["quarantined"] + figures["superseded"] == RECORDS


def test_duplicate_detection_finds_most_planted_duplicates(figures: dict[str, Any]) -> None:
    planted, found = figures["planted_duplicates"], figures["planted_duplicates_found"]
    assert planted >= 0.04 * RECORDS, "about 5 % of the records are planted duplicates"
    assert found >= 0.6 * planted
    assert figures["duplicates"] >= found


def test_the_stages_account_for_the_cpu_reported(figures: dict[str, Any]) -> None:
    stages = figures["stages"]
    assert {"mapping", "GX suites", "duplicate detection", "database writes"} <= set(stages)
    assert sum(stages.values()) == pytest.approx(figures["cpu_us_per_record"], rel=0.05)
    assert stages["mapping"] > 0 and stages["duplicate detection"] > 0


def test_a_stage_the_pipeline_no_longer_has_fails_the_run_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(HARNESS.parent))
    import bench_pipeline

    renamed = ("mapping", "casehub.pipeline:Pipeline", "_map_renamed")
    monkeypatch.setattr(bench_pipeline, "STAGES", (renamed, *bench_pipeline.STAGES))
    with pytest.raises(SystemExit, match=r"Pipeline\._map_renamed is missing"):
        bench_pipeline.install(bench_pipeline.StageClock())
