"""The `casehub` command.

casehub demo                      every partner's DAG against the simulators, then a report
casehub simulate [partner …]      serve the partner simulators (python -m simulators)
casehub serve                     run the gateway (health, stats, masked case reads, webhooks)
casehub migrate                   bring the store's schema to the newest revision
casehub airflow-setup             Airflow's pools, and the partners' connections, from the manifest
casehub stats [--json]            what the store holds; `reconciled` when nothing is lost
casehub quarantine list           quarantined records and their reasons (no personal data)
casehub quarantine replay         run open quarantined records through the pipeline again
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from casehub.errors import CasehubError


def _demo(args: argparse.Namespace) -> int:
    from casehub.demo import DemoOptions, run

    stats = run(DemoOptions(seed=args.seed, defect_rate=args.defect_rate))
    return 0 if stats["reconciled"] else 1


def _up(args: argparse.Namespace) -> int:
    from casehub.demo import DemoOptions, up

    return up(DemoOptions(seed=args.seed, defect_rate=args.defect_rate))


def _airflow_setup(args: argparse.Namespace) -> int:
    from casehub.demo import configure_airflow

    log = args.log or Path(os.devnull)
    configure_airflow(os.environ, log, simulators_host=args.simulators_host)
    print(f"Airflow: pools{' and partner connections' if args.simulators_host else ''} set from the manifest")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    # The simulators are the partners' stand-ins, never part of the hub: run them as a program.
    command = [sys.executable, "-m", "simulators", *args.rest]
    os.execv(sys.executable, command)  # noqa: S606 - replaces this process with our own module
    return 0  # pragma: no cover - execv does not return


def _migrate(_: argparse.Namespace) -> int:
    from casehub.store import connect, migrate
    from casehub.store.db import database_url

    migrate(connect())
    url = database_url()
    Console().print(f"store migrated: {url.split('@')[-1]}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    from casehub.stats import collect
    from casehub.store import connect

    stats = collect(connect())
    if args.json:
        print(json.dumps(stats, ensure_ascii=False, indent=2))
    else:
        console = Console()
        console.print_json(json.dumps(stats, ensure_ascii=False))
        for title, key in (("cases by grade", "by_grade"), ("cases by unit kind", "by_unit_kind")):
            counts = " · ".join(f"{name} {count}" for name, count in stats["cases"][key].items())
            console.print(f"{title}: {counts}", soft_wrap=True)
    return 0 if stats["reconciled"] else 1


def _incoming_channel(code: str | None) -> None:
    """A `--channel` must name a partner cases come in from: a typo is an error, not an empty list."""
    from casehub.errors import ConfigurationError
    from casehub.partners import load_partners

    known = [p.code for p in load_partners() if p.pull or p.push_in]
    if code is not None and code not in known:
        raise ConfigurationError(f"no channel {code!r}; the channels are {', '.join(known)}")


def _reason_detail(reason: dict[str, str]) -> str:
    """`code (message)`; the message names its field already unless it is the schema's own."""
    message, field = reason["message"], reason["field"]
    detail = message if message.startswith(field) else f"{field}: {message}"
    return f"{reason['code']} ({detail})"


def _quarantine_list(args: argparse.Namespace) -> int:
    from casehub.errors import ConfigurationError
    from casehub.reasons import Code
    from casehub.store import Quarantine, connect

    _incoming_channel(args.channel)
    query = select(Quarantine).where(Quarantine.state == args.state).order_by(Quarantine.id)
    if args.channel:
        query = query.where(Quarantine.channel == args.channel)
    with connect().connect() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    if args.reason:
        stored = {reason["code"] for r in rows for reason in r["reasons"]}
        registered = args.reason in {str(code) for code in Code} or args.reason.startswith("schema_")
        if not registered and args.reason not in stored:
            raise ConfigurationError(f"no reason code {args.reason!r} (see casehub/reasons.py)")
        rows = [r for r in rows if any(reason["code"] == args.reason for reason in r["reasons"])]
    rows = rows[: args.limit]
    if args.json:
        print(json.dumps([_entry(r) for r in rows], ensure_ascii=False, indent=2))
        return 0
    table = Table(show_edge=False)
    for column in ("id", "channel", "source id", "quarantined at", "reasons"):
        table.add_column(column)
    for r in rows:
        reasons = "; ".join(_reason_detail(x) for x in r["reasons"])
        table.add_row(str(r["id"]), r["channel"], r["source_id"], r["quarantined_at"].isoformat(), reasons)
    Console().print(table)
    return 0


def _entry(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "channel": row["channel"],
        "source_id": row["source_id"],
        "source_updated_at": row["source_updated_at"].isoformat() if row["source_updated_at"] else None,
        "quarantined_at": row["quarantined_at"].isoformat(),
        "state": row["state"],
        "attempts": row["attempts"],
        "reasons": row["reasons"],
    }


def _quarantine_replay(args: argparse.Namespace) -> int:
    from casehub.crypto import load_keyring
    from casehub.errors import ConfigurationError
    from casehub.partners import load_connector, load_partners
    from casehub.pipeline import Pipeline
    from casehub.store import Quarantine, connect

    _incoming_channel(args.channel)
    if args.id:
        with connect().connect() as conn:
            query = select(Quarantine.id).where(Quarantine.id.in_(args.id), Quarantine.state == "open")
            found = set(conn.scalars(query))
        missing = sorted(set(args.id) - found)
        if missing:
            raise ConfigurationError(f"no open quarantine entry {missing[0]} (see casehub quarantine list)")
    keyring = load_keyring()
    totals: dict[str, dict[str, int]] = {}
    for spec in load_partners():
        if (args.channel and spec.code != args.channel) or not (spec.pull or spec.push_in):
            continue  # a partner the hub only delivers to sends no records to replay
        pipeline = Pipeline(connect(), load_connector(spec).MAPPER, keyring)
        totals[spec.code] = pipeline.replay(args.id or None)
    print(json.dumps(totals, indent=2))
    return 0


def _outbox_partner(code: str | None) -> None:
    """A `--partner` must name a partner that hears from the outbox."""
    from casehub.errors import ConfigurationError
    from casehub.partners import notified

    known = [p.code for p in notified()]
    if code is not None and code not in known:
        raise ConfigurationError(f"no outbox partner {code!r}; they are {', '.join(known)}")


def _outbox_list(args: argparse.Namespace) -> int:
    from casehub import outbox
    from casehub.store import connect

    _outbox_partner(args.partner)
    rows = outbox.entries(connect(), partner=args.partner, state=args.state, limit=args.limit)
    if args.json:
        print(json.dumps([row.as_dict() for row in rows], ensure_ascii=False, indent=2))
        return 0
    table = Table(show_edge=False)
    for column in (
        "event id",
        "partner",
        "kind",
        "case id",
        "state",
        "attempts",
        "next attempt",
        "last error",
    ):
        table.add_column(column)
    for row in rows:
        error = (
            "" if row.last_error is None else f"{row.last_error.get('code')}: {row.last_error.get('message')}"
        )
        partner = row.partner if row.target is None else f"{row.partner}:{row.target}"
        next_at = row.next_attempt_at.isoformat(timespec="seconds") if row.state == "pending" else ""
        table.add_row(
            row.event_id, partner, row.kind, row.case_id, row.state, str(row.attempts), next_at, error
        )
    Console().print(table)
    return 0


def _outbox_replay(args: argparse.Namespace) -> int:
    from casehub import outbox
    from casehub.errors import ConfigurationError
    from casehub.store import connect

    _outbox_partner(args.partner)
    engine = connect()
    if args.event:
        dead = {row.event_id for row in outbox.entries(engine, state=outbox.DEAD, limit=1_000_000)}
        missing = sorted(set(args.event) - dead)
        if missing:
            raise ConfigurationError(
                f"no dead outbox event {missing[0]} (see casehub outbox list --state dead)"
            )
    replayed = outbox.replay(engine, partner=args.partner, event_ids=args.event or None)
    print(json.dumps({"replayed": replayed}))
    return 0


def _district_key(args: argparse.Namespace) -> int:
    from casehub import credentials
    from casehub.crypto import load_keyring
    from casehub.store import connect

    scopes = tuple(part.strip() for part in args.scopes.split(",") if part.strip())
    kind = "soap" if args.kind == "soap" else "api_key"
    issued = credentials.issue(connect(), load_keyring(), args.district, kind=kind, scopes=scopes)
    shown = {
        "district": issued.district_code,
        "kind": issued.kind,
        "key_id": issued.key_id,
        "scopes": list(scopes),
    }
    if kind == "soap":
        shown.update(username=issued.key_id, password=issued.secret)
    else:
        shown["api_key"] = issued.api_key
    print(json.dumps(shown, ensure_ascii=False, indent=2))
    Console(stderr=True).print("shown once: the store keeps only its hash (API key) or sealed (SOAP)")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from casehub.gateway import serve

    serve(args.host, args.port, partners_file=args.partners)
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="casehub",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = root.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the ingest DAGs against the simulators")
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--defect-rate", type=float, default=0.05)
    demo.set_defaults(func=_demo)

    local = commands.add_parser("up", help="the simulators and a local Airflow UI, until Ctrl-C")
    local.add_argument("--seed", type=int, default=42)
    local.add_argument("--defect-rate", type=float, default=0.05)
    local.set_defaults(func=_up)

    simulate = commands.add_parser("simulate", help="serve the partner simulators", add_help=False)
    simulate.add_argument("rest", nargs=argparse.REMAINDER)
    simulate.set_defaults(func=_simulate)

    serve = commands.add_parser("serve", help="run the gateway (REST API of the hub, webhook intake)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000, help="0 picks a free port (logged)")
    serve.add_argument("--partners", type=Path, help="the partner manifest (connectors/partners.toml)")
    serve.set_defaults(func=_serve)

    commands.add_parser("migrate", help="bring the store to the newest schema").set_defaults(func=_migrate)

    setup = commands.add_parser("airflow-setup", help="Airflow's pools (and connections) from the manifest")
    setup.add_argument(
        "--simulators-host",
        help="also point the connections of the partners the hub calls at the simulators on this host",
    )
    setup.add_argument("--log", type=Path, help="where the airflow commands' output goes (default: none)")
    setup.set_defaults(func=_airflow_setup)

    stats = commands.add_parser("stats", help="what the store holds")
    stats.add_argument("--json", action="store_true", help="one JSON object on stdout")
    stats.set_defaults(func=_stats)

    quarantine = commands.add_parser("quarantine", help="work the quarantine").add_subparsers(
        dest="action", required=True
    )
    listing = quarantine.add_parser("list", help="quarantined records and their reasons")
    listing.add_argument("--channel")
    listing.add_argument("--reason", help="only entries with this reason code")
    listing.add_argument("--state", default="open", choices=["open", "resolved", "superseded"])
    listing.add_argument("--limit", type=int, default=200)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_quarantine_list)
    replay = quarantine.add_parser("replay", help="run open quarantined records through the pipeline again")
    replay.add_argument("--channel")
    replay.add_argument("--id", type=int, action="append", help="a quarantine entry id (repeatable)")
    replay.set_defaults(func=_quarantine_replay)

    box = commands.add_parser("outbox", help="what partners are told, and what failed").add_subparsers(
        dest="action", required=True
    )
    events = box.add_parser("list", help="outbox events, newest first (no bodies, no personal data)")
    events.add_argument("--partner")
    events.add_argument("--state", choices=["pending", "delivered", "dead"])
    events.add_argument("--limit", type=int, default=200)
    events.add_argument("--json", action="store_true")
    events.set_defaults(func=_outbox_list)
    again = box.add_parser("replay", help="send dead events again, with the same event ids")
    again.add_argument("--partner")
    again.add_argument("--event", action="append", help="a dead event's id (repeatable)")
    again.set_defaults(func=_outbox_replay)

    key = commands.add_parser("district-key", help="issue a district platform's credential").add_subparsers(
        dest="action", required=True
    )
    issue = key.add_parser("issue", help="a REST API key or a SOAP password, shown once")
    issue.add_argument("--district", required=True, help="the district's code, 4201xx")
    issue.add_argument("--kind", choices=["api-key", "soap"], default="api-key")
    issue.add_argument("--scopes", default="dispatches:read,cases:write")
    issue.set_defaults(func=_district_key)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["simulate"]:
        # Everything after `simulate`, options included, belongs to the simulators' own parser.
        return _simulate(argparse.Namespace(rest=words[1:]))
    args = parser().parse_args(words)
    try:
        return int(args.func(args))
    except CasehubError as exc:
        return _fail(str(exc))
    except ArgumentError:
        return _fail(
            "CASEHUB_DB_URL is not a database URL (e.g. postgresql+psycopg://user@host:5432/casehub)"
        )
    except OperationalError as exc:
        return _fail(f"the store {_store_place()} cannot be reached ({type(exc.orig).__name__})")
    except DBAPIError as exc:
        return _fail(f"the store {_store_place()} refused the request ({type(exc.orig).__name__})")
    except BrokenPipeError:
        # The reader (`| head`) has gone: end quietly, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _fail(message: str) -> int:
    """One line on stderr, exit 2: a usage or configuration error, its cause named."""
    Console(stderr=True).print(f"[red]casehub: {message}[/]", soft_wrap=True)
    return 2


def _store_place() -> str:
    """Where the configured store is, without its password: `host:port/database` or the file."""
    from sqlalchemy.engine import make_url

    from casehub.store.db import database_url

    url = make_url(database_url())
    if url.get_backend_name() == "sqlite":
        return f"file {url.database}"
    return f"at {url.host or 'localhost'}:{url.port or 'default port'}/{url.database or ''}"


if __name__ == "__main__":
    sys.exit(main())
