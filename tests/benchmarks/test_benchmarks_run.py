"""`make bench` keeps working: each benchmark runs end to end at a small size and prints its
table. The figures themselves are for a person to read, not asserted here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("script", "arguments", "row"),
    [
        ("bench_ingest.py", ["--records", "300"], r"^sqlite\s+300\s+[\d,]+\s+[\d,]+"),
        ("bench_webhooks.py", ["--deliveries", "60"], r"^sqlite\s+POST webhook\s+60\s+[\d,]+"),
        ("bench_quality.py", ["--cases", "200"], r"^sqlite\s+200\s+[\d.]+\s+[\d.]+"),
        ("bench_keys.py", ["--cases", "300"], r"^sqlite\s+300\s+\d+\s+[\d.]+\s+[\d,]+\s+[\d.]+\s+[\d,]+"),
        (
            "bench_dedup.py",
            ["--cases", "3000", "--probes", "20"],
            r"(?s)^sqlite\s+intake dedup \(live\)\s+3000\s+[\d.]+\s+[\d.]+"
            r".*^sqlite\s+intake dedup \(anywhere\)\s+3000\s+[\d.]+\s+[\d.]+"
            r".*^sqlite\s+re-cluster\s+3000\s+[\d.]+",
        ),
        (
            "bench_backfill.py",
            ["--records", "3000", "--workers", "1", "2", "--windows", "3"],
            r"(?s)^sqlite\s+1\s+3000\s+[\d.]+.*^sqlite\s+2\s+3000\s+[\d.]+.*peak resident memory",
        ),
        (
            "bench_backfill.py",
            [
                "--records",
                "3000",
                "--workers",
                "1",
                "--windows",
                "1",
                "--batch",
                "500",
                "--kill-after",
                "1000",
            ],
            r"(?s)^sqlite\s+1\s+3000 killed at \d+.*resumed from 2026.*^\s+every record landed exactly once$",
        ),
        (
            "bench_reports.py",
            ["--cases", "300", "--open", "500"],
            r"(?s)^sqlite\s+reports \(month\)\s+300\s+[\d.]+\s+[\d.]+"
            r".*^sqlite\s+supervise rerun\s+\d+\s+[\d.]+",
        ),
        (
            "bench_outbox.py",
            ["--events", "60", "--records", "300"],
            r"(?s)^sqlite\s+outbox deliver\s+60\s+[\d,]+.*^sqlite\s+300\s+\d+\s+[\d,]+",
        ),
    ],
)
def test_a_benchmark_runs_and_prints_its_figures(script: str, arguments: list[str], row: str) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *arguments, "--backends", "sqlite"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(row, done.stdout, re.MULTILINE), done.stdout
