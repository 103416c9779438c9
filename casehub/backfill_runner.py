"""`casehub backfill`: a channel's windows read by N worker processes, with a progress bar.

The same window job the `backfill_<channel>` DAGs map (`casehub.jobs.backfill_window`), run by a
pool of processes of this machine: each process opens its own store connection and partner
session and takes the next window; the bar counts windows and the records they accepted.

The partner is found where its DAGs find it, in its Airflow connection: here read from
`AIRFLOW_CONN_<CONNECTION>` in Airflow's JSON form (`{"conn_type": "http", "host": "<base URL>",
"login": …, "password": …, "extra": {…}}`).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from casehub.errors import ConfigurationError
from casehub.partners import Partner
from casehub.ports import Window

_events: Any = None
"""In a worker: the queue its page counts go to (set by `_start`)."""


@dataclass(frozen=True)
class Outcome:
    """How a backfill went: every window's summary, and those that failed with why."""

    summaries: list[dict[str, Any]]
    failures: list[tuple[str, str]]

    def as_dict(self) -> dict[str, Any]:
        counted = ("pages", "received", "duplicates", "accepted", "quarantined", "superseded")
        totals = {name: sum(int(s.get(name) or 0) for s in self.summaries) for name in counted}
        return {
            "windows": len(self.summaries) + len(self.failures),
            "finished": len(self.summaries),
            "skipped": sum(1 for s in self.summaries if s.get("skipped")),
            "failed": [{"window": label, "error": error} for label, error in self.failures],
            **totals,
        }


def endpoint_fields(spec: Partner, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The partner's connection from `AIRFLOW_CONN_<CONNECTION>` (JSON form), or a one-line error."""
    variable = f"AIRFLOW_CONN_{spec.connection.upper()}"
    value = (os.environ if env is None else env).get(variable)
    if not value:
        raise ConfigurationError(f"backfill: {variable} is not set (the partner's connection, JSON form)")
    try:
        fields = json.loads(value)
    except ValueError:
        raise ConfigurationError(f"backfill: {variable} is not a connection in JSON form") from None
    if not isinstance(fields, dict) or not isinstance(fields.get("host"), str) or not fields["host"]:
        raise ConfigurationError(f"backfill: {variable} names no host (the partner's base URL)")
    extra = fields.get("extra") or {}
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except ValueError:
            raise ConfigurationError(f"backfill: {variable}'s extra is not JSON") from None
    return {
        "url": fields["host"],
        "login": str(fields.get("login") or ""),
        "secret": str(fields.get("password") or ""),
        "timeout": float(extra.get("timeout", spec.pulled().timeout_seconds)),
        "page_size": int(extra.get("page_size", spec.pulled().page_size)),
    }


def _start(events: Any) -> None:
    global _events  # one queue per worker process, set once as it starts
    _events = events


def _window(code: str, endpoint: dict[str, Any], start: str, end: str, again: bool) -> dict[str, Any]:
    """In a worker: one window, its page counts sent to the parent as they commit."""
    from casehub.crypto import load_keyring
    from casehub.jobs import backfill_window
    from casehub.partners import load_connector, partner
    from casehub.store import connect
    from connectors.kit import Endpoint

    spec = partner(code)
    connector = load_connector(spec)
    source = connector.build_source(Endpoint(**endpoint))
    window = Window(datetime.fromisoformat(start), datetime.fromisoformat(end))
    engine = connect()

    def sent(page: Any) -> None:
        if _events is not None:
            _events.put((start, page.accepted, page.received))

    try:
        return backfill_window(
            spec,
            source,
            connector.MAPPER,
            engine=engine,
            keyring=load_keyring(),
            window=window,
            again=again,
            on_page=sent,
        )
    finally:
        source.close()
        engine.dispose()


def run(spec: Partner, windows: Sequence[Window], *, workers: int, again: bool = False) -> Outcome:
    """Every window of `windows` read by `workers` processes, a bar on stderr meanwhile."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from casehub.backfill import label

    if workers < 1:
        raise ConfigurationError("backfill: --workers must be at least 1")
    endpoint = endpoint_fields(spec)
    context = multiprocessing.get_context("spawn")
    events = context.Queue()
    summaries: list[dict[str, Any]] = []
    failures: list[tuple[str, str]] = []
    accepted = 0
    columns = (
        TextColumn("[bold]{task.fields[channel]}[/] backfill"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("windows · {task.fields[accepted]} accepted"),
        TimeElapsedColumn(),
    )
    with (
        Progress(*columns, console=Console(stderr=True), transient=False) as progress,
        ProcessPoolExecutor(
            max_workers=min(workers, len(windows)), mp_context=context, initializer=_start, initargs=(events,)
        ) as pool,
    ):
        bar = progress.add_task("windows", total=len(windows), channel=spec.code, accepted=0)
        futures: dict[Future[dict[str, Any]], Window] = {
            pool.submit(_window, spec.code, endpoint, w.start.isoformat(), w.end.isoformat(), again): w
            for w in windows
        }
        pending = set(futures)
        while pending:
            try:
                _, page_accepted, _ = events.get(timeout=0.2)
                accepted += page_accepted
                progress.update(bar, accepted=accepted)
            except queue.Empty:
                pass
            for future in [f for f in pending if f.done()]:
                pending.discard(future)
                window = futures[future]
                try:
                    summaries.append(future.result())
                except Exception as error:  # noqa: BLE001 - every window's failure is reported, the others go on
                    failures.append((label(window), f"{type(error).__name__}: {error}"))
                progress.advance(bar)
        while True:
            try:
                accepted += events.get_nowait()[1]
            except queue.Empty:
                break
        progress.update(bar, accepted=accepted)
    return Outcome(summaries, failures)
