"""The `casehub` command.

casehub demo                      every partner's DAG against the simulators, then a report
casehub simulate [partner …]      serve the partner simulators (python -m simulators)
casehub serve                     run the gateway (health, stats, masked case reads, webhooks)
casehub migrate                   bring the store's schema to the newest revision
casehub airflow-setup             Airflow's pools, and the partners' connections, from the manifest
casehub stack up | down | status  the production stack (CeleryExecutor) as local processes
casehub stats [--json]            what the store holds; `reconciled` when nothing is lost
casehub quarantine list           quarantined records and their reasons (no personal data)
casehub quarantine show ID        one entry: reasons, replay history, the raw record masked
casehub quarantine replay         run open quarantined records through the pipeline again
casehub outbox list | replay      what partners were told; send dead events again
casehub district-key issue        a district platform's API key or SOAP credential, shown once
casehub district-key list | revoke  the districts' credentials (never a secret); revoke at once
casehub open311-key issue | list | revoke  an Open311 client's API key, shown once; the keys; revoke
casehub backfill --channel C --since D --until D  a channel's history in windows, N processes
casehub dedup --input F --output G  duplicate detection over a JSON Lines file of cases
casehub cluster show | split      a cluster's cases; split cases off a wrong cluster
casehub hotspots [--day D]        compute a day's top and rising terms per district; show them
casehub keys generate | add       a new key ring; the ring with a new key made active
casehub keys status               each key: fingerprint, in the ring, in the store, values it holds
casehub keys rotate [--blind-index]  seal every value (index every case) again under the active key
casehub keys retire ID            retire a key nothing is under any more; the ring without it
casehub provisions list           what each recipient was given, batch by batch (the provision log)
casehub report monthly|weekly [--period 2026-11|2026-W47] [--district CODE]
                                  write a period's efficiency reports, as report_monthly|weekly does

A usage or configuration error (an unknown channel, reason code or id, a store that cannot be
reached, no key ring) is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.columns import Columns
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, select
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from casehub.errors import CasehubError, ConfigurationError, StoreError, describe

if TYPE_CHECKING:
    from casehub.crypto import KeyRing

PROGRESS_SECONDS = 5.0
"""How often a long command (`casehub keys rotate`) says how far it is."""


class _Console(Console):
    """stdout for people: a reader that goes away (`| head`) ends the command quietly, as for
    JSON (rich's own answer is exit status 1)."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError


def _demo(args: argparse.Namespace) -> int:
    from casehub.demo import DemoOptions, run

    stats = run(DemoOptions(seed=args.seed, defect_rate=args.defect_rate))
    return 0 if stats["reconciled"] else 1


def _up(args: argparse.Namespace) -> int:
    from casehub.demo import DemoOptions, up

    return up(DemoOptions(seed=args.seed, defect_rate=args.defect_rate))


def _stack(args: argparse.Namespace) -> int:
    from casehub.stack import Stack, StackConfig, status_table

    stack = Stack(StackConfig.from_env())
    if args.action == "down":
        stopped = stack.down()
        print(f"stopped: {', '.join(stopped)}" if stopped else "nothing of this stack was running")
        return 0
    if args.action == "up":
        seconds = stack.up()
        print(f"the stack is up and healthy in {seconds:.0f} s:")
        for what, where in stack.where():
            print(f"  {what:<20} {where}")
        print("stop it with `make stack-down` (casehub stack down)")
        return 0
    rows = status_table(stack)
    for name, pid, state in rows:
        print(f"  {name:<14} {pid:>8}  {state}")
    return 0 if all(state == "healthy" for _, _, state in rows) else 1


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


def _store() -> Engine:
    """The configured store's engine; a URL that names no usable database is a one-line error."""
    from casehub.store import connect

    try:
        return connect()
    except ArgumentError:
        raise ConfigurationError(
            f"CASEHUB_DB_URL {_shown_url()!r} is not a database URL "
            "(e.g. postgresql+psycopg://user@host:5432/casehub)"
        ) from None
    except ImportError as exc:
        raise ConfigurationError(
            f"CASEHUB_DB_URL {_shown_url()!r} needs the database driver {exc.name!r}, which is not installed"
        ) from None


def _migrate(_: argparse.Namespace) -> int:
    from casehub.store import migrate

    migrate(_store())
    _Console().print(f"store migrated: {_store_place()}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    from casehub.stats import collect

    stats = collect(_store())
    if args.json:
        print(json.dumps(stats, ensure_ascii=False, indent=2))
    else:
        _print_stats(stats, _Console())
    return 0 if stats["reconciled"] else 1


_HEADLINE = ("raw", "raw_by_outcome", "reconciled", "checks")


def _print_stats(stats: dict[str, Any], console: Console) -> None:
    """The store's counts as tables: the reconciliation first, then each section's tables.

    Every key of `casehub.stats.collect` is shown, those added later too: a mapping of counts
    becomes a two-column table, a mapping of such mappings one table with a column per count,
    anything else a line.
    """
    outcome = stats.get("raw_by_outcome", {})
    mark = "[green]reconciled[/]" if stats.get("reconciled") else "[red]NOT reconciled[/]"
    console.print(
        f"[bold]raw records[/] {stats.get('raw', 0)} = accepted {outcome.get('accepted', 0)} + "
        f"quarantined {outcome.get('quarantined', 0)} + superseded {outcome.get('superseded', 0)}: {mark}",
        soft_wrap=True,
    )
    if not stats.get("reconciled"):
        failed = [name for name, held in stats.get("checks", {}).items() if not held]
        console.print(f"[red]failing checks: {', '.join(failed)}[/]", soft_wrap=True)
    for key, value in stats.items():
        if key in _HEADLINE:
            continue
        console.print()
        for part in _section(_title(key), value):
            console.print(part, soft_wrap=True)


def _title(key: str) -> str:
    return key.replace("_", " ")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _is_flat(value: Any) -> bool:
    return isinstance(value, dict) and all(not isinstance(v, dict | list) for v in value.values())


def _table(title: str, header: Sequence[str] | None) -> Table:
    table = Table(title=title, title_justify="left", show_header=header is not None, show_edge=False)
    table.min_width = cell_len(title)
    for n, column in enumerate(header or ("", "")):
        table.add_column(column, justify="left" if n == 0 else "right")
    return table


def _is_matrix(value: Any) -> bool:
    """A mapping of mappings of counts (per partner: pending, delivered, dead)."""
    return isinstance(value, dict) and bool(value) and all(v and _is_flat(v) for v in value.values())


def _is_rows(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(_is_flat(v) for v in value)


def _matrix(title: str, rows: dict[str, dict[str, Any]] | list[dict[str, Any]]) -> Table:
    keyed = isinstance(rows, dict)
    items = list(rows.values()) if isinstance(rows, dict) else rows
    columns = list(dict.fromkeys(str(column) for row in items for column in row))
    table = _table(title, ["" if keyed else _title(columns[0]), *(_title(c) for c in columns[not keyed :])])
    for name, row in zip(rows if isinstance(rows, dict) else [None] * len(rows), items, strict=True):
        cells = [_cell(row.get(column, 0 if keyed else None)) for column in columns]
        table.add_row(*([str(name), *cells] if keyed else cells))
    return table


def _section(title: str, value: Any) -> list[Any]:
    """What a person sees of one part of the stats: a line with its title and single values,
    then its tables side by side, then its deeper parts in the same way."""
    if not isinstance(value, dict | list) or not value:
        return [f"[bold]{title}[/]: {_cell(value) if value not in ({}, [], None) else 'none'}"]
    if _is_matrix(value) or _is_rows(value):
        return [f"[bold]{title}[/]", _matrix("", value)]
    if isinstance(value, list):
        return [f"[bold]{title}[/]: {_cell(value)}"]
    scalars = {k: v for k, v in value.items() if not isinstance(v, dict | list)}
    counts = " · ".join(
        f"{_title(str(k))} {_cell(v) if v is not None else 'none'}" for k, v in scalars.items()
    )
    parts: list[Any] = [f"[bold]{title}[/]" + (f": {counts}" if counts else "")]
    tables: list[Table] = []
    deeper: list[Any] = []
    for name, inner in value.items():
        if not isinstance(inner, dict | list):
            continue
        label = _title(str(name))
        if isinstance(inner, dict) and inner and _is_flat(inner):
            table = _table(label, None)
            for key, count in inner.items():
                table.add_row(str(key), _cell(count))
            tables.append(table)
        elif _is_matrix(inner) or _is_rows(inner):
            tables.append(_matrix(label, inner))
        else:
            deeper += _section(f"{title} · {label}", inner)
    if tables:
        parts.append(Columns(tables, padding=(0, 4)))
    return parts + deeper


def _incoming_channel(code: str | None) -> None:
    """A `--channel` must name a partner cases come in from: a typo is an error, not an empty list."""
    from casehub.partners import load_partners

    known = [p.code for p in load_partners() if p.inbound]
    if code is not None and code not in known:
        raise ConfigurationError(f"no channel {code!r}; the channels are {', '.join(known)}")


def _reason_detail(reason: dict[str, str]) -> str:
    """`code (field: message)`, the field named once."""
    return f"{reason.get('code')} ({describe(reason.get('field', ''), reason.get('message', ''))})"


def _without_field(reason: dict[str, str]) -> str:
    """The message beside its field's own column: `not a valid phone number`, not `LDHM: …`."""
    message, field = reason.get("message", ""), reason.get("field", "")
    return message[len(field) + 1 :].lstrip() if field and message.startswith(f"{field}:") else message


def _registered_reasons() -> set[str]:
    """Every reason code a quarantined record can carry: the registry's, and the rule ids of the
    data-quality suites in `expectations/` (`meta.rule`); the schema's `schema_<keyword>` are
    recognised by their prefix."""
    from casehub.quality import rules_by_id
    from casehub.reasons import Code

    return {str(code) for code in Code} | set(rules_by_id())


def _known_reason(engine: Engine, code: str) -> None:
    """A `--reason` must be a code the hub knows or one some entry carries: a typo is an error."""
    from casehub.store import Quarantine

    if code.startswith("schema_") or code in _registered_reasons():
        return
    with engine.connect() as conn:
        for reasons in conn.scalars(select(Quarantine.reasons)):
            if any(reason.get("code") == code for reason in reasons or []):
                return
    raise ConfigurationError(
        f"no reason code {code!r}: not in casehub/reasons.py, not a rule id of expectations/, "
        "and no entry carries it"
    )


def _quarantine_list(args: argparse.Namespace) -> int:
    from casehub.store import Quarantine

    _incoming_channel(args.channel)
    engine = _store()
    if args.reason:
        _known_reason(engine, args.reason)
    query = select(Quarantine).where(Quarantine.state == args.state).order_by(Quarantine.id)
    if args.channel:
        query = query.where(Quarantine.channel == args.channel)
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    if args.reason:
        rows = [r for r in rows if any(reason["code"] == args.reason for reason in r["reasons"])]
    rows = rows[: args.limit]
    if args.json:
        print(json.dumps([_entry(r) for r in rows], ensure_ascii=False, indent=2))
        return 0
    table = Table(show_edge=False)
    for column in ("id", "channel", "source id", "source updated at", "quarantined at", "reasons"):
        table.add_column(column)
    for r in rows:
        reasons = "; ".join(_reason_detail(x) for x in r["reasons"])
        table.add_row(
            str(r["id"]),
            r["channel"],
            r["source_id"],
            _time(r["source_updated_at"]),
            _time(r["quarantined_at"]),
            reasons,
        )
    _Console().print(table)
    return 0


def _time(moment: Any) -> str:
    return "" if moment is None else str(moment.isoformat(timespec="seconds"))


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


def _quarantine_show(args: argparse.Namespace) -> int:
    from casehub.store import Quarantine, RawRecord

    with _store().connect() as conn:
        row = (
            conn.execute(
                select(Quarantine, RawRecord.key_id, RawRecord.payload)
                .join(RawRecord, RawRecord.raw_id == Quarantine.raw_id)
                .where(Quarantine.id == args.id)
            )
            .mappings()
            .first()
        )
    if row is None:
        raise ConfigurationError(f"no quarantine entry {args.id} (see casehub quarantine list)")
    entry = dict(row)
    shown = {**_entry(entry), "history": list(entry["history"] or [])}
    raw, unavailable = _masked_raw(entry)
    shown["raw"] = raw
    if unavailable is not None:
        shown["raw_unavailable"] = unavailable
    if args.json:
        print(json.dumps(shown, ensure_ascii=False, indent=2))
        return 0
    _print_entry(shown, _Console())
    return 0


def _masked_raw(entry: dict[str, Any]) -> tuple[Any, str | None]:
    """The entry's raw record opened with the key ring and masked, or why it cannot be shown."""
    from casehub.crypto import associated_data, load_keyring
    from casehub.partners import load_connector, load_partners
    from casehub.pipeline import decode_body
    from casehub.raw_view import masked_record

    try:
        ring = load_keyring()
        body = ring.open(
            entry["key_id"], entry["payload"], associated_data("raw_records", "payload", entry["raw_id"])
        )
    except ConfigurationError as exc:
        return None, str(exc)
    raw, unreadable = decode_body(body)
    if unreadable is not None:
        return None, f"{unreadable.message} ({len(body)} bytes)"
    mapper = next(
        (
            load_connector(p).MAPPER
            for p in load_partners()
            if p.code == entry["channel"] and p.inbound
        ),
        None,
    )
    personal = getattr(mapper, "personal_fields", None)
    plain = () if mapper is None else (mapper.id_field, mapper.updated_field)
    return masked_record(raw, personal, plain=plain), None


def _print_entry(shown: dict[str, Any], console: Console) -> None:
    from casehub.raw_view import flattened

    head = Table(show_header=False, show_edge=False, box=None)
    head.add_column(style="bold")
    head.add_column()
    for label, key in (
        ("entry", "id"),
        ("channel", "channel"),
        ("source id", "source_id"),
        ("source updated at", "source_updated_at"),
        ("quarantined at", "quarantined_at"),
        ("state", "state"),
        ("attempts", "attempts"),
    ):
        head.add_row(label, _cell(shown[key]))
    console.print(head)
    reasons = Table(title="reasons", title_justify="left", show_edge=False)
    for column in ("code", "field", "message"):
        reasons.add_column(column)
    for reason in shown["reasons"]:
        reasons.add_row(reason.get("code", ""), reason.get("field", ""), _without_field(reason))
    console.print(reasons)
    if shown["history"]:
        history = Table(title="history", title_justify="left", show_edge=False)
        for column in ("at", "action", "outcome", "reasons"):
            history.add_column(column)
        for step in shown["history"]:
            history.add_row(
                _cell(step.get("at")),
                _cell(step.get("action")),
                _cell(step.get("outcome")),
                ", ".join(step.get("reasons") or []),
            )
        console.print(history)
    else:
        console.print("history: not replayed yet")
    if shown["raw"] is None:
        console.print(f"raw record not shown: {shown.get('raw_unavailable')}", soft_wrap=True)
        return
    raw = Table(title="raw record (personal values masked)", title_justify="left", show_edge=False)
    raw.add_column("field")
    raw.add_column("value")
    for path, value in flattened(shown["raw"]):
        raw.add_row(path, _cell(value))
    console.print(raw)


def _quarantine_replay(args: argparse.Namespace) -> int:
    from casehub.crypto import load_keyring
    from casehub.partners import load_connector, load_partners
    from casehub.pipeline import Pipeline
    from casehub.store import Quarantine

    _incoming_channel(args.channel)
    engine = _store()
    if args.id:
        query = select(Quarantine.id).where(Quarantine.id.in_(args.id), Quarantine.state == "open")
        if args.channel:
            query = query.where(Quarantine.channel == args.channel)
        with engine.connect() as conn:
            found = set(conn.scalars(query))
        missing = sorted(set(args.id) - found)
        if missing:
            where = f" of channel {args.channel}" if args.channel else ""
            raise ConfigurationError(
                f"no open quarantine entry {missing[0]}{where} (see casehub quarantine list)"
            )
    keyring = load_keyring()
    totals: dict[str, dict[str, int]] = {}
    for spec in load_partners():
        if (args.channel and spec.code != args.channel) or not spec.inbound:
            continue  # a partner the hub only delivers to sends no records to replay
        pipeline = Pipeline(engine, load_connector(spec).MAPPER, keyring)
        totals[spec.code] = pipeline.replay(args.id or None)
    print(json.dumps(totals, indent=2))
    return 0


def _outbox_partner(code: str | None) -> None:
    """A `--partner` must name a partner that hears from the outbox."""
    from casehub.partners import notified

    known = [p.code for p in notified()]
    if code is not None and code not in known:
        raise ConfigurationError(f"no outbox partner {code!r}; they are {', '.join(known)}")


def _outbox_list(args: argparse.Namespace) -> int:
    from casehub import outbox

    _outbox_partner(args.partner)
    rows = outbox.entries(_store(), partner=args.partner, state=args.state, limit=args.limit)
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
    _Console().print(table)
    return 0


def _outbox_replay(args: argparse.Namespace) -> int:
    from casehub import outbox

    _outbox_partner(args.partner)
    engine = _store()
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

    scopes = tuple(part.strip() for part in args.scopes.split(",") if part.strip())
    kind = "soap" if args.kind == "soap" else "api_key"
    issued = credentials.issue(_store(), load_keyring(), args.district, kind=kind, scopes=scopes)
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


def _district_key_list(args: argparse.Namespace) -> int:
    from casehub import credentials

    rows = credentials.listing(_store(), district=args.district)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2, default=_time))
        return 0
    table = Table(show_edge=False)
    for column in ("key id", "district", "kind", "scopes", "issued", "revoked"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["key_id"],
            row["district"],
            row["kind"],
            ",".join(row["scopes"]),
            _time(row["created_at"]),
            _time(row["revoked_at"]) if row["revoked_at"] else "",
        )
    _Console().print(table)
    return 0


def _district_key_revoke(args: argparse.Namespace) -> int:
    """Revoke by key id, or every live credential of a district (of a kind): refused at once."""
    from casehub import credentials

    engine = _store()
    if bool(args.key_id) == bool(args.district):
        raise ConfigurationError("district-key revoke takes key ids or --district, not both or neither")
    if args.kind and not args.district:
        raise ConfigurationError("district-key revoke: --kind goes with --district")
    if args.district:
        kind = None if args.kind is None else ("soap" if args.kind == "soap" else "api_key")
        revoked = credentials.revoke_all(engine, args.district, kind=kind)
    else:
        live = {row["key_id"] for row in credentials.listing(engine) if row["revoked_at"] is None}
        missing = [key_id for key_id in args.key_id if key_id not in live]
        if missing:
            raise ConfigurationError(
                f"no live district credential {missing[0]!r} (see casehub district-key list)"
            )
        revoked = [key_id for key_id in args.key_id if credentials.revoke(engine, key_id)]
    print(json.dumps({"revoked": revoked}))
    return 0


def _open311_key(args: argparse.Namespace) -> int:
    from casehub.open311 import keys

    scopes = tuple(part.strip() for part in args.scopes.split(",") if part.strip())
    issued = keys.issue(_store(), args.client, scopes=scopes)
    shown = {"client": issued.client, "key_id": issued.key_id, "scopes": list(scopes)}
    shown["api_key"] = issued.api_key
    print(json.dumps(shown, ensure_ascii=False, indent=2))
    Console(stderr=True).print("shown once: the store keeps only its hash")
    return 0


def _open311_key_list(args: argparse.Namespace) -> int:
    from casehub.open311 import keys

    rows = keys.listing(_store())
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2, default=_time))
        return 0
    table = Table(show_edge=False)
    for column in ("key id", "client", "scopes", "issued", "revoked"):
        table.add_column(column)
    for row in rows:
        revoked = _time(row["revoked_at"]) if row["revoked_at"] else ""
        scopes = ",".join(row["scopes"])
        table.add_row(row["key_id"], row["client"], scopes, _time(row["created_at"]), revoked)
    _Console().print(table)
    return 0


def _open311_key_revoke(args: argparse.Namespace) -> int:
    from casehub.open311 import keys

    engine = _store()
    live = {row["key_id"] for row in keys.listing(engine) if row["revoked_at"] is None}
    missing = [key_id for key_id in args.key_id if key_id not in live]
    if missing:
        raise ConfigurationError(f"no live Open311 key {missing[0]!r} (see casehub open311-key list)")
    print(json.dumps({"revoked": [key_id for key_id in args.key_id if keys.revoke(engine, key_id)]}))
    return 0


def _backfill(args: argparse.Namespace) -> int:
    """A channel's history in windows by N processes (`casehub.backfill_runner`), or where each
    window of it has got to (`--status`); 1 when a window failed (named on stderr)."""
    from datetime import UTC, datetime, timedelta

    from casehub import backfill, backfill_runner
    from casehub.partners import partner, pulled

    known = [p.code for p in pulled()]
    if args.channel not in known:
        raise ConfigurationError(f"no pulled channel {args.channel!r}; the channels are {', '.join(known)}")
    spec = partner(args.channel)
    engine = _store()
    if args.status:
        rows = [state.as_dict() for state in backfill.states(engine, spec.code)]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if args.since is None or args.until is None:
        raise ConfigurationError("backfill: --since and --until are required (ISO date-times with an offset)")
    times = []
    for name in ("since", "until"):
        try:
            times.append(datetime.fromisoformat(getattr(args, name)))
        except ValueError:
            raise ConfigurationError(f"backfill: --{name} is not an ISO date-time") from None
    windows = backfill.plan(times[0], times[1], timedelta(hours=args.window_hours))
    from casehub.crypto import load_keyring
    from casehub.jobs import require_current_schema
    from casehub.store.keys import prove_keyring

    backfill_runner.endpoint_fields(spec)  # the partner's connection, before anything is read
    require_current_schema(engine)
    prove_keyring(engine, load_keyring(), datetime.now(UTC))
    outcome = backfill_runner.run(spec, windows, workers=args.workers, again=args.again)
    print(json.dumps(outcome.as_dict(), ensure_ascii=False))
    for window, error in outcome.failures:
        print(f"window {window} failed: {error}", file=sys.stderr)
    return 1 if outcome.failures else 0


def _dedup(args: argparse.Namespace) -> int:
    """The intake's duplicate detection over a file (`casehub.dedup.files`): every line is
    read and checked before anything is written, so a bad line leaves no partial output."""
    from casehub.dedup import files

    try:
        source = sys.stdin.buffer if str(args.input) == "-" else args.input.open("rb")
    except OSError as exc:
        raise ConfigurationError(f"--input {args.input}: {exc.strerror or 'cannot be read'}") from None
    try:
        reports = files.read(source, files.Run.fresh())
    except files.BadLine as exc:
        raise ConfigurationError(f"{args.input}: {exc}") from None
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    decisions = files.cluster(reports)
    if str(args.output) == "-":
        sys.stdout.buffer.writelines(files.lines(decisions))
    else:
        try:
            with args.output.open("wb") as target:
                target.writelines(files.lines(decisions))
        except OSError as exc:
            why = exc.strerror or "cannot be written"
            raise ConfigurationError(f"--output {args.output}: {why}") from None
    found = sum(1 for d in decisions if d.duplicate_of)
    clusters = len({d.cluster_id for d in decisions})
    Console(stderr=True).print(
        f"{len(decisions)} cases: {clusters} clusters, {found} probable duplicates", highlight=False
    )
    return 0


def _cluster_show(args: argparse.Namespace) -> int:
    from casehub.dedup import store as duplicates

    with _store().connect() as conn:
        cluster = duplicates.cluster_of(conn, args.id)
        if cluster is None:
            raise ConfigurationError(f"no case or cluster {args.id}")
        rows = duplicates.members(conn, cluster)
    shown = [
        {
            "case_id": r["case_id"],
            "parent": r["duplicate_of"] is None,
            "channel": r["channel"],
            "source_id": r["source_id"],
            "status": r["status"],
            "category": r["category"],
            "community_code": r["community_code"],
            "reported_at": _time(r["reported_at"]),
            "title": r["title"],
            "score": r["duplicate_score"],
            "signals": r["duplicate_signals"] or [],
        }
        for r in rows
    ]
    if args.json:
        print(json.dumps({"cluster_id": cluster, "cases": shown}, ensure_ascii=False, indent=2))
        return 0
    table = Table(title=f"cluster {cluster}", title_justify="left", show_edge=False)
    for column in ("case id", "", "channel", "status", "reported at", "score", "signals", "title"):
        table.add_column(column)
    for row in shown:
        table.add_row(
            row["case_id"],
            "parent" if row["parent"] else "child",
            row["channel"],
            row["status"],
            row["reported_at"],
            _cell(row["score"]),
            ", ".join(row["signals"]),
            row["title"],
        )
    _Console().print(table)
    return 0


def _cluster_split(args: argparse.Namespace) -> int:
    from casehub.dedup import store as duplicates

    outcome = duplicates.split(_store(), args.case, by=args.by)
    print(json.dumps(outcome, ensure_ascii=False, indent=2))
    return 0


def _hotspots(args: argparse.Namespace) -> int:
    """Compute `--day` as `hotspots_daily` does (its rows replaced), then show one scope's period."""
    from datetime import UTC, date, datetime

    from casehub.hotspots import CITY, day_before, shown
    from casehub.jobs import hotspots_daily
    from casehub.reference import load_reference

    try:
        day = date.fromisoformat(args.day) if args.day else day_before(datetime.now(UTC))
    except ValueError:
        raise ConfigurationError(f"--day {args.day!r}: not a day (YYYY-MM-DD)") from None
    scope = args.district or CITY
    names = {CITY: "武汉市", **{code: r.name for code, r in load_reference().districts.items()}}
    if scope not in names:
        raise ConfigurationError(f"--district {scope!r}: not one of the city's 13 district codes (420102…)")
    engine = _store()
    summary = hotspots_daily(engine, day)
    found = shown(engine, day=day, period=args.period, scope=scope)
    if args.json:
        print(json.dumps({"computed": summary, **found.as_dict()}, ensure_ascii=False, indent=2))
        return 0
    console = _Console()
    console.print(
        f"{names[scope]} {args.period} {day}: {found.scope_cases:,} cases "
        f"({found.previous_scope_cases:,} the period before)",
        highlight=False,
    )
    top = _table("top terms (热点)", ["#", "term", "cases", "before", "TF-IDF", "TextRank"])
    for t in found.top:
        top.add_row(
            str(t.rank),
            t.term,
            f"{t.cases:,}",
            f"{t.previous_cases:,}",
            f"{t.tfidf:.3f}",
            f"{t.textrank:.3f}",
        )
    rising = _table("rising terms (焦点)", ["#", "term", "cases", "before", "rise"])
    for t in found.rising:
        rising.add_row(str(t.rising_rank), t.term, f"{t.cases:,}", f"{t.previous_cases:,}", f"×{t.rise:.2f}")
    console.print(top, rising)
    return 0


def _ring_out(ring: KeyRing, path: Path | None, *, replaces: KeyRing | None = None) -> None:
    """The ring's JSON on stdout, or into `path` (mode 0600, written whole or not at all).

    A file is never overwritten but by the ring it replaces (the ring read from it, with a key
    added or retired): another file may hold a ring nobody has a copy of.
    """
    if path is None:
        print(ring.to_json())
        return
    _writable(path, replaces)
    temporary = path.with_name(f".{path.name}.new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(ring.to_json() + "\n")
    temporary.replace(path)
    Console(stderr=True).print(f"key ring written to {path}", soft_wrap=True, highlight=False)


def _writable(path: Path | None, replaces: KeyRing | None) -> None:
    """Refuse a `--out` file that exists and is not the ring being replaced, before anything."""
    from casehub.crypto import KeyRing

    if path is None or not path.exists():
        return
    try:
        held = KeyRing.from_json(path.read_text(encoding="utf-8"))
    except (ConfigurationError, OSError, UnicodeDecodeError):
        held = None
    if replaces is None or held != replaces:
        raise ConfigurationError(f"{path} exists and is not the ring this replaces: nothing written")


def _keys_generate(args: argparse.Namespace) -> int:
    from casehub.crypto import KeyRing

    _ring_out(KeyRing.generate(), args.out)
    Console(stderr=True).print(
        "a new key ring: keep it in the secret store; without it nothing sealed can be read back",
        soft_wrap=True,
    )
    return 0


def _keys_add(args: argparse.Namespace) -> int:
    from casehub.crypto import load_keyring

    ring = load_keyring()
    grown = ring.with_new_key(index=args.blind_index)
    _ring_out(grown, args.out, replaces=ring)
    new, kind = (grown.index_active, "blind-index") if args.blind_index else (grown.active, "encryption")
    then = "casehub keys rotate --blind-index" if args.blind_index else "casehub keys rotate"
    Console(stderr=True).print(
        f"the ring with the new {kind} key {new!r} active: give it to every process, then {then}",
        soft_wrap=True,
        highlight=False,
    )
    return 0


def _keys_status(args: argparse.Namespace) -> int:
    from casehub import keys
    from casehub.crypto import load_keyring

    try:
        ring: KeyRing | None = load_keyring()
    except ConfigurationError as exc:
        ring = None
        Console(stderr=True).print(f"{exc}: the store's side only", soft_wrap=True, highlight=False)
    shown = keys.status(_store(), ring)
    if args.json:
        print(json.dumps(shown, ensure_ascii=False, indent=2))
    else:
        _print_key_status(shown, _Console())
    return 1 if any(key.get("matches_store") is False for key in shown["keys"]) else 0


def _print_key_status(shown: dict[str, Any], console: Console) -> None:
    """One row per key, then how many values each holds per sealed or indexed column, then
    what is left to do."""
    table = Table(show_edge=False)
    for column in ("key id", "purpose", "fingerprint", "ring", "store", "values"):
        table.add_column(column, justify="right" if column == "values" else "left")
    retirable = []
    for key in shown["keys"]:
        ring = ("active" if key["active"] else "yes") if key["in_ring"] else "no"
        if key["matches_store"] is False:
            ring = "[red]differs from the store's[/]"
        store = "no"
        if key["in_store"]:
            store = (
                f"retired {key['retired_at'][:10]}"
                if key["retired_at"]
                else f"since {key['registered_at'][:10]}"
            )
        total = (
            sum(key["values"].values())
            if key["purpose"] == "seal"
            else max(key["values"].values(), default=0)
        )
        table.add_row(key["key_id"], key["purpose"], key["fingerprint"], ring, store, str(total))
        if key["in_store"] and not key["retired_at"] and not key["values"] and not key["active"]:
            retirable.append(key["key_id"])
    console.print(table)
    held = [key for key in shown["keys"] if key["values"]]
    if held:
        columns = sorted({column for key in held for column in key["values"]}, key=_sealed_order)
        per_column = Table(show_edge=False)
        per_column.add_column("column")
        for key in held:
            per_column.add_column(key["key_id"], justify="right")
        for column in columns:
            per_column.add_row(column, *(str(key["values"].get(column, "")) for key in held))
        console.print(per_column)
    if "active" not in shown:
        return
    console.print(f"active: {shown['active']} (encryption), {shown['index_active']} (blind index)")
    if shown["to_rotate"]:
        console.print(f"{shown['to_rotate']} values are not under {shown['active']}: casehub keys rotate")
    if shown["to_reindex"]:
        console.print(
            f"{shown['to_reindex']} cases are not indexed under {shown['index_active']}: "
            "casehub keys rotate --blind-index"
        )
    for key_id in retirable:
        console.print(f"{key_id} holds nothing: casehub keys retire {key_id}, then keep the ring it prints")


def _sealed_order(column: str) -> int:
    from casehub import keys

    order = [name for spec in keys.SEALED for name in spec.names()] + list(keys.INDEXED)
    return order.index(column) if column in order else len(order)


def _keys_rotate(args: argparse.Namespace) -> int:
    import time

    from casehub import keys
    from casehub.crypto import load_keyring
    from casehub.jobs import require_current_schema

    if args.batch_size < 1 or args.pause < 0:
        raise ConfigurationError("--batch-size must be at least 1 and --pause not negative")
    ring = load_keyring()
    engine = _store()
    require_current_schema(engine)
    err = Console(stderr=True)
    shown = {"at": time.monotonic()}

    def progress(table: str, done: int) -> None:
        if time.monotonic() - shown["at"] >= PROGRESS_SECONDS:
            shown["at"] = time.monotonic()
            err.print(f"{table}: {done} so far", highlight=False)

    walk = (keys.reindex if args.blind_index else keys.rotate)(
        engine, ring, batch_size=args.batch_size, pause=args.pause, on_batch=progress
    )
    status = keys.status(engine, ring)
    left = status["to_reindex"] if args.blind_index else status["to_rotate"]
    print(json.dumps({**walk.summary(), "left": left}, indent=2))
    what = "cases indexed" if args.blind_index else "values sealed"
    err.print(f"{walk.total} {what} under {walk.key_id} in {walk.seconds:.1f} s", highlight=False)
    purpose = "index" if args.blind_index else "seal"
    for key in status["keys"]:
        if key["purpose"] == purpose and not key["active"] and not key["values"] and not key["retired_at"]:
            err.print(
                f"{key['key_id']} holds nothing now: casehub keys retire {key['key_id']}", highlight=False
            )
    if left:
        err.print(
            f"{left} left under older keys (written meanwhile by a process with an older ring?): run it again"
        )
    return 0


def _keys_retire(args: argparse.Namespace) -> int:
    from casehub import keys
    from casehub.crypto import load_keyring
    from casehub.jobs import require_current_schema

    ring = load_keyring()
    _writable(args.out, ring)
    engine = _store()
    require_current_schema(engine)
    kept = keys.retire(engine, ring, args.key_id)
    _ring_out(kept, args.out, replaces=ring)
    Console(stderr=True).print(
        f"{args.key_id} retired: the ring without it is what every process needs from now on",
        soft_wrap=True,
        highlight=False,
    )
    return 0


def _provisions_list(args: argparse.Namespace) -> int:
    from casehub.recipients import RECIPIENTS_DIR
    from casehub.store.models import ProvisionLog

    known = sorted(path.stem for path in RECIPIENTS_DIR.glob("*.json"))
    if args.recipient is not None and args.recipient not in known:
        raise ConfigurationError(f"no recipient {args.recipient!r}; the recipients are {', '.join(known)}")
    query = select(ProvisionLog).order_by(ProvisionLog.pushed_at.desc(), ProvisionLog.id.desc())
    if args.recipient:
        query = query.where(ProvisionLog.recipient == args.recipient)
    with _store().connect() as conn:
        rows = [dict(row) for row in conn.execute(query.limit(args.limit)).mappings()]
    entries = [
        {
            "recipient": row["recipient"],
            "purpose": row["purpose"],
            "fields": row["fields"],
            "batch_id": row["batch_id"],
            "batch_number": row["batch_number"],
            "final": row["final"],
            "records": row["record_count"],
            "window_start": row["window_start"].isoformat(),
            "window_end": row["window_end"].isoformat(),
            "pushed_at": row["pushed_at"].isoformat(),
            "receipt": row["receipt"],
        }
        for row in rows
    ]
    if args.json:
        print(json.dumps(entries, ensure_ascii=False, indent=2))
        return 0
    table = Table(show_edge=False)
    for column in ("pushed at", "recipient", "purpose", "batch", "records", "window", "fields"):
        table.add_column(column)
    for entry, row in zip(entries, rows, strict=True):
        batch = f"{entry['batch_id']} #{entry['batch_number']}{' (last)' if entry['final'] else ''}"
        window = f"{_time(row['window_start'])} – {_time(row['window_end'])}"
        table.add_row(
            _time(row["pushed_at"]),
            entry["recipient"],
            entry["purpose"],
            batch,
            str(entry["records"]),
            window,
            ", ".join(entry["fields"]),
        )
    _Console().print(table)
    return 0


def _report(args: argparse.Namespace) -> int:
    """A period's efficiency reports written where the report DAGs write them, the same files under
    the same names; the last whole period when none is named."""
    from datetime import UTC, datetime

    from casehub.jobs import require_current_schema
    from casehub.paths import reports_dir
    from casehub.reference import load_reference
    from casehub.reports import Period, build, files_of

    try:
        period = (
            Period.parse(args.kind, args.period)
            if args.period is not None
            else Period.before(args.kind, datetime.now(UTC))
        )
    except ValueError as exc:
        raise ConfigurationError(f"--period {exc}") from None
    reference = load_reference()
    if args.district is not None and args.district not in reference.districts:
        raise ConfigurationError(
            f"--district {args.district!r} is not a district code; they are {', '.join(reference.districts)}"
        )
    engine = _store()
    require_current_schema(engine)
    root = reports_dir()
    summary = build(
        engine,
        period,
        root,
        scopes=None if args.district is None else [args.district],
        reference=reference,
    )
    print(
        f"{period.kind} {period.name}: {summary['reports']} reports, {summary['files']} files in "
        f"{summary['folder']} ({summary['seconds']} s)"
    )
    for scope in summary["scopes"]:
        for path in files_of(root, period, scope).values():
            print(path)
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

    stack = commands.add_parser("stack", help="the production stack (CeleryExecutor) as local processes")
    stack.add_argument("action", choices=("up", "down", "status"))
    stack.set_defaults(func=_stack)

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
    show = quarantine.add_parser("show", help="one entry: reasons, history, its raw record masked")
    show.add_argument("id", type=int, help="the entry's id (casehub quarantine list)")
    show.add_argument("--json", action="store_true", help="one JSON object on stdout")
    show.set_defaults(func=_quarantine_show)
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
    keys_of = key.add_parser("list", help="every credential: key id, district, kind, scopes, dates")
    keys_of.add_argument("--district", help="only this district's, 4201xx")
    keys_of.add_argument("--json", action="store_true")
    keys_of.set_defaults(func=_district_key_list)
    revoking = key.add_parser("revoke", help="refuse credentials from now on: by key id, or a district's")
    revoking.add_argument("key_id", nargs="*", help="a credential's key id (the SOAP username)")
    revoking.add_argument("--district", help="every live credential of this district, 4201xx")
    revoking.add_argument("--kind", choices=["api-key", "soap"], help="with --district: only this kind")
    revoking.set_defaults(func=_district_key_revoke)

    open311_key = commands.add_parser("open311-key", help="issue an Open311 client's API key").add_subparsers(
        dest="action", required=True
    )
    issue311 = open311_key.add_parser("issue", help="an API key for an Open311 client, shown once")
    issue311.add_argument("--client", required=True, help="who it is for (an app's or a team's name)")
    issue311.add_argument("--scopes", default="open311:write,open311:update")
    issue311.set_defaults(func=_open311_key)
    list311 = open311_key.add_parser("list", help="every Open311 key: key id, client, scopes, dates")
    list311.add_argument("--json", action="store_true")
    list311.set_defaults(func=_open311_key_list)
    revoke311 = open311_key.add_parser("revoke", help="refuse Open311 keys from now on, by key id")
    revoke311.add_argument("key_id", nargs="+", help="a key's id (the part after o311_)")
    revoke311.set_defaults(func=_open311_key_revoke)

    filling = commands.add_parser("backfill", help="a span of a pulled channel's history, window by window")
    filling.add_argument("--channel", required=True, help="a pulled channel (hotline, message_board, …)")
    filling.add_argument("--since", help="start of the span, inclusive: ISO date-time with offset")
    filling.add_argument("--until", help="end of the span, exclusive: ISO date-time with offset")
    filling.add_argument("--workers", type=int, default=1, help="processes reading windows at once")
    filling.add_argument("--window-hours", type=float, default=24.0, help="hours per window (24)")
    filling.add_argument("--again", action="store_true", help="read windows that finished before once more")
    filling.add_argument("--status", action="store_true", help="where each window has got to, as JSON")
    filling.set_defaults(func=_backfill)

    dedup = commands.add_parser("dedup", help="duplicate detection over a JSON Lines file of cases")
    dedup.add_argument("--input", type=Path, required=True, help="one case a line (- for stdin)")
    dedup.add_argument("--output", type=Path, required=True, help="one cluster line a case (- for stdout)")
    dedup.set_defaults(func=_dedup)

    cluster = commands.add_parser("cluster", help="clusters of probable duplicates").add_subparsers(
        dest="action", required=True
    )
    show_cluster = cluster.add_parser("show", help="the cases of a cluster, parent first (no personal data)")
    show_cluster.add_argument("id", help="a case id or a cluster id")
    show_cluster.add_argument("--json", action="store_true")
    show_cluster.set_defaults(func=_cluster_show)
    split = cluster.add_parser("split", help="move cases out of a wrong cluster; re-clustering keeps it so")
    split.add_argument("--case", action="append", required=True, help="a case to split off (repeatable)")
    split.add_argument("--by", default=os.environ.get("USER") or "handler", help="who splits (kept)")
    split.set_defaults(func=_cluster_split)
    hot = commands.add_parser("hotspots", help="a day's top and rising terms per district (热点、焦点)")
    hot.add_argument("--day", help="the day (YYYY-MM-DD, Asia/Shanghai); default the day before today")
    hot.add_argument("--district", help="the district code to show (default 420100, the whole city)")
    hot.add_argument(
        "--period", choices=("day", "week"), default="day", help="the day, or the week ending on it"
    )
    hot.add_argument("--json", action="store_true", help="one JSON object on stdout")
    hot.set_defaults(func=_hotspots)
    ring = commands.add_parser("keys", help="the key ring: generate, add a key, status, rotate, retire")
    ring_commands = ring.add_subparsers(dest="action", required=True)
    generating = ring_commands.add_parser("generate", help="a new key ring, its JSON on stdout")
    generating.add_argument("--out", type=Path, help="write it into this file (mode 0600), never over one")
    generating.set_defaults(func=_keys_generate)
    adding = ring_commands.add_parser("add", help="the key ring with a new key, made active")
    adding.add_argument("--blind-index", action="store_true", help="a blind-index key, not an encryption key")
    adding.add_argument(
        "--out", type=Path, help="write it into this file; only the ring it replaces is overwritten"
    )
    adding.set_defaults(func=_keys_add)
    checking = ring_commands.add_parser(
        "status", help="each key: fingerprint, ring, store, the values it holds"
    )
    checking.add_argument("--json", action="store_true", help="one JSON object on stdout")
    checking.set_defaults(func=_keys_status)
    rotating = ring_commands.add_parser(
        "rotate", help="seal every value again under the active key (resumable)"
    )
    rotating.add_argument(
        "--blind-index", action="store_true", help="index every case again under the active blind-index key"
    )
    rotating.add_argument("--batch-size", type=int, default=1000, help="rows per transaction (1000)")
    rotating.add_argument("--pause", type=float, default=0.0, help="seconds between batches (0)")
    rotating.set_defaults(func=_keys_rotate)
    retiring = ring_commands.add_parser("retire", help="retire a key that holds nothing; the ring without it")
    retiring.add_argument("key_id", help="the key's id (casehub keys status)")
    retiring.add_argument("--out", type=Path, help="write the ring into this file, as for add")
    retiring.set_defaults(func=_keys_retire)

    provisions = commands.add_parser("provisions", help="what each recipient was given").add_subparsers(
        dest="action", required=True
    )
    provided = provisions.add_parser("list", help="provision-log entries, newest first (no personal data)")
    provided.add_argument("--recipient", help="only this recipient's (schemas/recipients/)")
    provided.add_argument("--limit", type=int, default=200)
    provided.add_argument("--json", action="store_true", help="one JSON array on stdout")
    provided.set_defaults(func=_provisions_list)

    reporting = commands.add_parser("report", help="write a period's efficiency reports (效能通报)")
    reporting.add_argument("kind", choices=("monthly", "weekly"))
    reporting.add_argument(
        "--period", help="2026-11 (monthly) or 2026-W47 (weekly); default: the last whole one"
    )
    reporting.add_argument("--district", help="only this district's report (its code, 4201xx)")
    reporting.set_defaults(func=_report)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["simulate"]:
        # Everything after `simulate`, options included, belongs to the simulators' own parser.
        return _simulate(argparse.Namespace(rest=words[1:]))
    try:
        args = parser().parse_args(words)
        status = int(args.func(args))
        sys.stdout.flush()  # a reader gone (`| head`) shows here, not in Python's exit
    except BrokenPipeError:
        # The reader has gone: end quietly, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except StoreError as exc:
        return _fail(_store_message(exc, str(exc)))
    except CasehubError as exc:
        return _fail(str(exc))
    except ArgumentError:
        return _fail(f"CASEHUB_DB_URL {_shown_url()!r} is not a database URL")
    except (OperationalError, DBAPIError) as exc:
        from casehub.store.db import store_error

        return _fail(_store_message(exc, str(store_error(exc))))
    return status


def _missing_schema(exc: BaseException | None) -> bool:
    """Whether a database error, or the driver's error beneath it, is a table that does not exist:
    a store nobody migrated (the driver's text is read here, never printed)."""
    while exc is not None:
        original = getattr(exc, "orig", None) or exc
        if getattr(original, "sqlstate", None) == "42P01" or "no such table" in str(original):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _store_message(exc: BaseException, message: str) -> str:
    """A store error's message with the store named: `the store at host:port/db cannot be reached`."""
    if _missing_schema(exc):
        return f"the store {_store_place()} has no casehub schema yet: run casehub migrate"
    prefix = "the store "
    rest = message[len(prefix) :] if message.startswith(prefix) else message
    return f"{prefix}{_store_place()} {rest}"


def _fail(message: str) -> int:
    """One line on stderr, exit 2: a usage or configuration error, its cause named."""
    Console(stderr=True).print(f"[red]casehub: {message}[/]", soft_wrap=True, markup=True, highlight=False)
    return 2


def _shown_url() -> str:
    """CASEHUB_DB_URL as it may be printed: its password hidden."""
    from casehub.store.db import database_url

    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", database_url())


def _store_place() -> str:
    """Where the configured store is, without its password: `at host:port/database` or the file."""
    from sqlalchemy.engine import make_url

    from casehub.store.db import database_url

    url = make_url(database_url())
    if url.get_backend_name() == "sqlite":
        return f"file {url.database}" if url.database else "in memory"
    return f"at {url.host or 'localhost'}:{url.port or 'default port'}/{url.database or ''}"


if __name__ == "__main__":
    sys.exit(main())
