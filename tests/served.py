"""`casehub serve` in its own process, for tests that kill it: its port read from uvicorn's own
start-up line, never guessed."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

START_TIMEOUT_SECONDS = 30.0
CASEHUB = Path(sys.executable).with_name("casehub")


def gateway_env(db_url: str, home: Path, keyring_json: str, **secrets: str) -> dict[str, str]:
    """The environment of a gateway on `db_url`: this one's, less every CASEHUB_ setting, plus
    the store, a key ring file under `home` and the webhook secret variables given."""
    home.mkdir(parents=True, exist_ok=True)
    ring_file = home / "keyring.json"
    ring_file.write_text(keyring_json, encoding="utf-8")
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("CASEHUB_")},
        "CASEHUB_DB_URL": db_url,
        "CASEHUB_KEYRING_FILE": str(ring_file),
        "CASEHUB_HOME": str(home / "casehub"),
        **secrets,
    }


class ServedGateway:
    """`casehub serve` in its own process; its port read from uvicorn's own start-up line."""

    LISTENING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")

    def __init__(self, env: dict[str, str], manifest_path: Path | None = None) -> None:
        command = [str(CASEHUB), "serve", "--host", "127.0.0.1", "--port", "0"]
        if manifest_path is not None:
            command += ["--partners", str(manifest_path)]
        self.process = subprocess.Popen(
            command,
            env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        assert self.process.stderr is not None
        self.reader = threading.Thread(target=self._read, args=(self.process.stderr,), daemon=True)
        self.reader.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.put(line)

    def url(self) -> str:
        deadline = datetime.now(UTC) + timedelta(seconds=START_TIMEOUT_SECONDS)
        seen: list[str] = []
        while datetime.now(UTC) < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                assert self.process.poll() is None, "casehub serve exited:\n" + "".join(seen)
                continue
            seen.append(line)
            if match := self.LISTENING.search(line):
                return f"http://127.0.0.1:{match.group(1)}"
        raise AssertionError("casehub serve did not start:\n" + "".join(seen))

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(START_TIMEOUT_SECONDS)
        self.reader.join(START_TIMEOUT_SECONDS)
        assert self.process.stderr is not None
        self.process.stderr.close()
