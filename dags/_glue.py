"""What turns a partner of the manifest into Airflow tasks.

Kept apart from the DAG file so that parsing stays cheap: this module imports only the light
parts of casehub at parse time; connectors, the store and Great Expectations load inside tasks.

The retry policy is derived from casehub's exception tree (`casehub/errors.py`): a transient
partner failure is retried with exponential back-off; a permanent one, a configuration error or
a data-quality breach fails the try at once, since asking again cannot help.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

from airflow.sdk import DAG, Asset, BaseHook, ExceptionRetryPolicy, RetryAction, RetryRule, task
from airflow.sdk.exceptions import AirflowNotFoundException

from casehub.partners import Partner

log = logging.getLogger(__name__)

CASES = Asset(name="casehub_cases", uri="x-casehub://store/cases")
"""The unified cases in the hub's store; ingest DAGs update it, push and report DAGs follow it."""
PROVISIONS = Asset(name="casehub_provisions", uri="x-casehub://store/provision_log")
"""What the hub has provided to its recipients; push DAGs update it."""

OWNER = "casehub-data"

RETRY_POLICY = ExceptionRetryPolicy(
    rules=[
        RetryRule(
            exception="casehub.errors.TransientError",
            action=RetryAction.RETRY,
            reason="partner or store unavailable for now (timeout, 5xx, 429, lost connection): retry",
        ),
        RetryRule(
            exception=[
                "casehub.errors.PermanentPartnerError",
                "casehub.errors.ConfigurationError",
                "casehub.errors.DataQualityError",
                "casehub.errors.StoreError",
            ],
            action=RetryAction.FAIL,
            reason="retrying cannot help: credentials, contract, configuration, data quality, refused write",
        ),
    ],
)

DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    "retries": 4,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=15),
    "retry_policy": RETRY_POLICY,
    "execution_timeout": timedelta(minutes=60),
}


def _endpoint(spec: Partner, *, timeout: float, page_size: int) -> Any:
    """An endpoint from the partner's Airflow connection (host = base URL, login, password);
    extra may set `timeout` for one call, `page_size` and `max_reply_bytes`."""
    from connectors.kit import MAX_REPLY_BYTES, Endpoint

    connection = BaseHook.get_connection(spec.connection)
    extra = connection.extra_dejson or {}
    return Endpoint(
        url=str(connection.host),
        login=connection.login or "",
        secret=connection.password or "",
        timeout=float(extra.get("timeout", timeout)),
        page_size=int(extra.get("page_size", page_size)),
        max_reply_bytes=int(extra.get("max_reply_bytes", MAX_REPLY_BYTES)),
    )


def _destination(spec: Partner, *, timeout: float) -> Any:
    """A destination from the partner's Airflow connection (host = base URL, login = the hub's
    key id or account there, password = its secret or signing key); extra may set `timeout` for
    one call and `max_reply_bytes`."""
    from connectors.kit.sink import MAX_RECEIPT_BYTES, Destination

    connection = BaseHook.get_connection(spec.connection)
    extra = connection.extra_dejson or {}
    return Destination(
        url=str(connection.host),
        login=connection.login or "",
        secret=connection.password or "",
        timeout=float(extra.get("timeout", timeout)),
        max_reply_bytes=int(extra.get("max_reply_bytes", MAX_RECEIPT_BYTES)),
    )


def endpoint_for(spec: Partner) -> Any:
    """Where the hub pulls the partner from; the timeout bounds the whole call (the pull table's)."""
    pull = spec.pulled()
    return _endpoint(spec, timeout=pull.timeout_seconds, page_size=pull.page_size)


READ_BACK_PAGE_SIZE = 200
"""Entries a page of a delivered partner's read-back asks for, unless the connection's extra says."""


def read_back_endpoint_for(spec: Partner) -> Any:
    """Where the hub reads back what a partner it delivers to did with the cases: the connection
    its pushes go to (login = the hub's key id, password = the shared secret)."""
    return _endpoint(spec, timeout=spec.delivered().timeout_seconds, page_size=READ_BACK_PAGE_SIZE)


def destination_for(spec: Partner) -> Any:
    """Where the recipient's batches go (password = the signing secret; the connection's extra
    may also set `settle_seconds` in place of the manifest's, read by `push_channel`)."""
    return _destination(spec, timeout=spec.delivered().timeout_seconds)


def event_destination_for(spec: Partner) -> Any:
    """Where the outbox sends a partner's events; the timeout bounds one attempt."""
    return _destination(spec, timeout=spec.notified().timeout_seconds)


def keyring() -> Any:
    """The key ring, found as everywhere else (`casehub.crypto.load_keyring`); its Airflow
    connection `casehub_keyring` is read through Airflow's own lookup, so a secrets backend or
    the metadata database may hold it too."""
    from casehub.crypto import KEYRING_CONNECTION, load_keyring

    def airflow_connection() -> str | None:
        try:
            connection = BaseHook.get_connection(KEYRING_CONNECTION)
        except AirflowNotFoundException:
            return None
        return connection.password or json.dumps(connection.extra_dejson or {})

    return load_keyring(connection=airflow_connection)


def run_until(context: dict[str, Any]) -> datetime:
    """The end of what this run covers: its data interval, or when a manual run was asked for."""
    end = context.get("data_interval_end") or getattr(context.get("dag_run"), "run_after", None)
    # Airflow hands pendulum datetimes, which misbehave in arithmetic with datetime.UTC: the core
    # gets a plain aware datetime.
    return datetime.fromtimestamp(end.timestamp(), tz=UTC) if end else datetime.now(UTC)


def _log_page(code: str, page: Any) -> None:
    """One line per page, which `casehub demo` reads to show progress."""
    log.info(
        "%s page: %d received, %d already landed, %d accepted, %d quarantined, %d superseded",
        code,
        page.received,
        page.duplicates,
        page.accepted,
        page.quarantined,
        page.superseded,
    )


def ingest_channel(spec: Partner, context: dict[str, Any]) -> dict[str, Any]:
    import casehub
    from casehub.store import connect

    connector = casehub.load_connector(spec)
    source = connector.build_source(endpoint_for(spec))

    try:
        summary = casehub.ingest(
            spec,
            source,
            connector.MAPPER,
            engine=connect(),
            keyring=keyring(),
            until=run_until(context),
            run_id=str(context.get("run_id")),
            on_page=partial(_log_page, spec.code),
        )
    finally:
        source.close()
    log.info("%s run: %s", spec.code, json.dumps({k: v for k, v in summary.items() if k != "warnings"}))
    return summary


def backfill_plan(context: dict[str, Any]) -> list[dict[str, str]]:
    """The run's windows (`casehub.backfill.plan`) from its params `since`, `until` and
    `window_hours`, as one mapped task's inputs."""
    from casehub.backfill import label, plan
    from casehub.errors import ConfigurationError

    params = context["params"]
    try:
        since, until = (datetime.fromisoformat(str(params[name])) for name in ("since", "until"))
    except (KeyError, ValueError):
        raise ConfigurationError("backfill: since and until are ISO date-times with an offset") from None
    width = timedelta(hours=float(params.get("window_hours") or 24))
    windows = plan(since, until, width)
    log.info("backfill: %d windows of %s from %s to %s", len(windows), width, since, until)
    return [{"start": w.start.isoformat(), "end": w.end.isoformat(), "label": label(w)} for w in windows]


def backfill_channel(spec: Partner, window: dict[str, str], context: dict[str, Any]) -> dict[str, Any]:
    """One window of the channel's history, resumed where a killed try left it."""
    import casehub
    from casehub.jobs import backfill_window
    from casehub.ports import Window
    from casehub.store import connect

    connector = casehub.load_connector(spec)
    source = connector.build_source(endpoint_for(spec))
    span = Window(datetime.fromisoformat(window["start"]), datetime.fromisoformat(window["end"]))
    try:
        summary = backfill_window(
            spec,
            source,
            connector.MAPPER,
            engine=connect(),
            keyring=keyring(),
            window=span,
            again=bool(context["params"].get("again")),
            run_id=str(context.get("run_id")),
            on_page=partial(_log_page, spec.code),
        )
    finally:
        source.close()
    return {k: v for k, v in summary.items() if k != "warnings"}


def process_channel(spec: Partner, context: dict[str, Any]) -> dict[str, Any]:
    import casehub
    from casehub.store import connect

    summary = casehub.process_webhooks(
        spec,
        casehub.load_connector(spec).MAPPER,
        engine=connect(),
        keyring=keyring(),
        run_id=str(context.get("run_id")),
        on_page=partial(_log_page, spec.code),
    )
    log.info("%s run: %s", spec.code, json.dumps({k: v for k, v in summary.items() if k != "warnings"}))
    return summary


def push_channel(spec: Partner, context: dict[str, Any]) -> dict[str, Any]:
    import casehub
    from casehub.store import connect

    connector = casehub.load_connector(spec)
    sink = connector.build_sink(destination_for(spec))
    extra = BaseHook.get_connection(spec.connection).extra_dejson or {}
    if "settle_seconds" in extra:
        # A stack where nothing commits while a push runs (the demo) may push what just landed.
        deliver = dataclasses.replace(spec.delivered(), settle_seconds=int(extra["settle_seconds"]))
        spec = dataclasses.replace(spec, deliver=deliver)
    try:
        summary = casehub.push(
            spec,
            sink,
            connector.RENDERER,
            engine=connect(),
            keyring=keyring(),
            until=run_until(context),
        )
    finally:
        sink.close()
    log.info("%s push: %s", spec.code, json.dumps(summary))
    return summary


def deliver_events(spec: Partner, context: dict[str, Any]) -> dict[str, Any]:
    import casehub
    from casehub.store import connect

    connector, destination = casehub.load_connector(spec), event_destination_for(spec)
    # A sink per lane: the events of different cases go out at once, each case's in order.
    sinks = [connector.build_event_sink(destination) for _ in range(spec.notified().lanes)]
    try:
        summary = casehub.deliver_outbox(spec, sinks, engine=connect(), keyring=keyring())
    finally:
        for sink in sinks:
            sink.close()
    log.info("%s outbox: %s", spec.code, json.dumps(summary))
    return summary


def _read_back(spec: Partner, context: dict[str, Any], what: str, endpoint: Any) -> dict[str, Any]:
    """Read back what the partner did with the cases the hub sent it — `what` is `progress` or
    `feedback`, naming the connector's `build_<what>_source` and `<what>_action` — and apply each
    entry as the partner's action (`casehub.jobs.pull_progress`)."""
    import casehub
    from casehub.jobs import pull_progress as pull
    from casehub.store import connect

    connector = casehub.load_connector(spec)
    source = getattr(connector, f"build_{what}_source")(endpoint)
    try:
        summary = pull(
            spec,
            source,
            getattr(connector, f"{what}_action"),
            engine=connect(),
            keyring=keyring(),
            until=run_until(context),
        )
    finally:
        source.close()
    log.info("%s %s: %s", spec.code, what, json.dumps(summary))
    return summary


def pull_progress(spec: Partner, context: dict[str, Any]) -> dict[str, Any]:
    """How the partner is handling the cases the hub transferred to it, applied as its actions."""
    return _read_back(spec, context, "progress", endpoint_for(spec))


def pull_feedback(spec: Partner, context: dict[str, Any]) -> dict[str, Any]:
    """The handling feedback of a partner the hub delivers to, on the cases it was sent, applied
    as its actions (history, no change of status)."""
    return _read_back(spec, context, "feedback", read_back_endpoint_for(spec))


def supervise_cases() -> dict[str, int]:
    """Deadline supervision by the rule table, at the moment the task runs: supervision is about
    now, whichever run it belongs to."""
    from casehub.jobs import supervise
    from casehub.store import connect

    summary = supervise(engine=connect(), keyring=keyring())
    log.info("supervision: %s", json.dumps(summary))
    return summary


def partner_dag(
    spec: Partner,
    *,
    dag_id: str,
    description: str,
    doc_md: str,
    schedule: str,
    kind: str,
    work: Callable[[Partner, dict[str, Any]], dict[str, Any]],
) -> DAG:
    """A partner's DAG: task `kind` runs `work` in the partner's pool. Bringing cases in, it
    updates the cases asset, then `reconcile` checks the store still accounts for every raw
    record; pushing out, it updates the provisions asset, followed by `feedback` (which updates
    the cases asset) when the manifest has the partner's feedback read back."""
    bringing_in = kind != "deliver"
    with DAG(
        dag_id=dag_id,
        description=description,
        doc_md=doc_md,
        schedule=schedule,
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["casehub", kind, spec.code],
    ) as dag:

        @task(task_id=TASK_OF[kind], pool=spec.pool, outlets=[CASES if bringing_in else PROVISIONS])
        def exchange(**context: Any) -> dict[str, Any]:
            return work(spec, context)

        if bringing_in:

            @task(task_id="reconcile", retries=0)
            def reconcile() -> dict[str, Any]:
                return reconcile_store(spec)

            steps = [exchange()]
            if kind == "ingest" and spec.outbox is not None and "transfer" in spec.outbox.kinds:
                # What the hub transferred to this partner comes back as its progress.
                @task(task_id="progress", pool=spec.pool, outlets=[CASES])
                def progress(**context: Any) -> dict[str, Any]:
                    return pull_progress(spec, context)

                steps.append(progress())
            steps[-1] >> reconcile()
            if len(steps) > 1:
                steps[0] >> steps[1]
        else:
            pushed = exchange()
            if spec.delivered().feedback:
                # What the partner did with the cases it was sent comes back as their history.
                @task(task_id="feedback", pool=spec.pool, outlets=[CASES])
                def feedback(**context: Any) -> dict[str, Any]:
                    return pull_feedback(spec, context)

                pushed >> feedback()
    return dag


TASK_OF = {"ingest": "ingest", "webhooks": "process", "open311": "process", "deliver": "push"}
"""The task that exchanges a partner's cases, by the kind of DAG (its tag)."""


def reconcile_store(spec: Partner) -> dict[str, Any]:
    import casehub
    from casehub.store import connect

    return casehub.reconcile(connect(), spec)


def recluster_cases(context: dict[str, Any]) -> dict[str, Any]:
    """Re-cluster the cases reported in the run's `days` param before its data interval end
    (every case when `days` is empty)."""
    from casehub.jobs import recluster
    from casehub.store import connect

    days = (context.get("params") or {}).get("days")
    since = None if days in (None, "") else run_until(context) - timedelta(days=int(days))
    summary = recluster(connect(), since=since)
    log.info("dedup_recluster: %s", json.dumps(summary))
    return summary


def validate_quality(context: dict[str, Any]) -> dict[str, Any]:
    """The day the run's `day` param names, else the previous day (Asia/Shanghai) of the run's
    data interval end, for every inbound channel."""
    from casehub.jobs import quality_daily
    from casehub.quality.daily import previous_day
    from casehub.store import connect

    asked = (context.get("params") or {}).get("day")
    day = date.fromisoformat(str(asked)) if asked else previous_day(run_until(context))
    summary = quality_daily(connect(), keyring(), day)
    log.info("quality_daily: %s", json.dumps(summary))
    return summary


def compute_hotspots(context: dict[str, Any]) -> dict[str, Any]:
    """The top and rising terms of the day the run's `day` param names, else of the day
    (Asia/Shanghai) before the run's data interval end (`casehub.hotspots`)."""
    from casehub.hotspots import day_before
    from casehub.jobs import hotspots_daily
    from casehub.store import connect

    asked = (context.get("params") or {}).get("day")
    day = date.fromisoformat(str(asked)) if asked else day_before(run_until(context))
    summary = hotspots_daily(connect(), day)
    log.info("hotspots_daily: %s", json.dumps(summary, ensure_ascii=False))
    return summary


def build_reports(kind: str, context: dict[str, Any]) -> dict[str, Any]:
    """The efficiency reports of the period the run's `period` param names, else of the last
    whole period before the run (`casehub.reports`), written under `var/reports/`."""
    from casehub.jobs import require_current_schema
    from casehub.paths import reports_dir
    from casehub.reports import Period, build
    from casehub.store import connect

    asked = (context.get("params") or {}).get("period")
    period = Period.parse(kind, str(asked)) if asked else Period.before(kind, run_until(context))
    engine = connect()
    require_current_schema(engine)
    summary = build(engine, period, reports_dir())
    log.info("report_%s: %s", kind, json.dumps(summary))
    return summary
