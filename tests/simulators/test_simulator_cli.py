"""`python -m simulators` serves until told to stop and says where once it is ready."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import requests


def test_the_command_line_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "simulators",
        "message_board",
        "--port",
        "0",
        "--records",
        "20",
        "--var-dir",
        str(tmp_path),
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        ready = process.stdout.readline()
        match = re.fullmatch(r"message_board ready on (http://127\.0\.0\.1:\d+) \(20 records\)\n", ready)
        assert match, ready
        health = requests.get(match.group(1) + "/_admin/health", timeout=5).json()
        assert health == {"partner": "message_board", "records": 20}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
