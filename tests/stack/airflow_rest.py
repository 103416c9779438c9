"""Airflow's REST API v2 as an operator's script uses it: a JWT from `/auth/token`, then DAGs
unpaused, runs triggered and watched, task instances and their tries read."""

from __future__ import annotations

import time
from typing import Any

import requests

FINISHED = {"success", "failed"}


class RunFailed(AssertionError):
    """A DAG run ended failed; the message lists its task instances' states."""


class Airflow:
    def __init__(self, url: str, username: str, password: str) -> None:
        self.url = url.rstrip("/")
        reply = requests.post(f"{self.url}/auth/token", json={"username": username, "password": password},
                              timeout=30)
        reply.raise_for_status()
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {reply.json()['access_token']}"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        for attempt in range(20):
            try:
                reply = self.session.request(method, f"{self.url}/api/v2{path}", timeout=30, **kwargs)
            except requests.ConnectionError:
                if attempt == 19:
                    raise
                time.sleep(1)  # the API server is busy or restarting: ask again
                continue
            reply.raise_for_status()
            return reply.json()
        raise AssertionError("unreachable")

    def dag_ids(self) -> set[str]:
        return {dag["dag_id"] for dag in self.call("GET", "/dags", params={"limit": 1000})["dags"]}

    def unpause(self, dag_id: str) -> None:
        self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> tuple[str, str]:
        run = self.call("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})
        return dag_id, str(run["dag_run_id"])

    def state(self, run: tuple[str, str]) -> str:
        dag_id, run_id = run
        return str(self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def task_instances(self, run: tuple[str, str]) -> list[dict[str, Any]]:
        dag_id, run_id = run
        return list(self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"])

    def tries(self, run: tuple[str, str], task_id: str) -> list[dict[str, Any]]:
        dag_id, run_id = run
        found = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries")
        return list(found["task_instances"])

    def unfailed(self, run: tuple[str, str]) -> bool:
        """True unless the run failed, which raises with its tasks' states."""
        if self.state(run) == "failed":
            tasks = {t["task_id"]: (t["state"], t["try_number"]) for t in self.task_instances(run)}
            raise RunFailed(f"{run[0]} run {run[1]} failed: {tasks}")
        return True

    def wait(self, runs: list[tuple[str, str]], timeout: float) -> None:
        """Until every run has finished; a failed run raises with its tasks' states."""
        deadline = time.monotonic() + timeout
        waiting = list(runs)
        while waiting:
            for run in list(waiting):
                if self.unfailed(run) and self.state(run) == "success":
                    waiting.remove(run)
            if waiting and time.monotonic() > deadline:
                states = [(dag_id, self.state((dag_id, run_id))) for dag_id, run_id in waiting]
                raise AssertionError(f"not finished in {timeout:.0f} s: {states}")
            time.sleep(1)
