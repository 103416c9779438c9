"""Key management over the store: where every sealed value lives, sealing them again under the
ring's active key, indexing the cases again under its active blind-index key, what each key
still holds, and retiring a key nothing uses any more. (`casehub.store.keys` checks a ring
against the store; this module changes what the store holds.)

    SEALED                          every sealed column: table, key-id column, binding
    rotate(engine, ring)            re-seal every value not under the active key
    reindex(engine, ring)           re-index every case not under the active blind-index key
    status(engine, ring)            per key: in the ring, active, known to the store, values held
    retire(engine, ring, key_id)    mark a key that holds nothing retired; the ring without it

A rotation walks each table in primary-key order, one batch per transaction: it reads values
not under the active key, opens and seals each again with its own binding, and writes it back
only where the row still holds what was read — a writer that changed the row meanwhile sealed
it under its ring's active key itself. Nothing records progress: a walk killed part-way leaves
every value under its old key or the new one, and the next walk takes up what is left.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Select, Table, bindparam, func, select, text, update

from casehub import inbox
from casehub.crypto import KeyRing, associated_data
from casehub.errors import ConfigurationError
from casehub.store.db import store_errors
from casehub.store.keys import check_keyring
from casehub.store.models import (
    Case,
    DistrictCredential,
    InboundWebhook,
    KeyFingerprint,
    OutboxEvent,
    RawRecord,
)

BATCH = 1_000
"""Rows per transaction: large enough to amortise a round trip, small enough that a walk never
holds a table's lock for long beside the DAGs."""
SHOWN_FINGERPRINT = 16
"""Hex digits of a key's fingerprint an operator is shown: enough to tell two keys apart."""


@dataclass(frozen=True)
class SealedColumns:
    """Sealed columns of one table that share a key-id column, and how each value is bound.

    `binding(row, column)` is the associated data the table's writer sealed the value with; it
    reads `row_id` and the columns in `binds`.
    """

    table: Table
    row_id: str
    key_column: str
    columns: tuple[str, ...]
    binding: Callable[[Mapping[str, Any], str], bytes]
    binds: tuple[str, ...] = ()

    def names(self) -> list[str]:
        return [f"{self.table.name}.{column}" for column in self.columns]


def _table(model: type[Any]) -> Table:
    table: Table = model.__table__
    return table


SEALED = (
    SealedColumns(
        _table(RawRecord),
        "raw_id",
        "key_id",
        ("payload",),
        lambda row, column: associated_data("raw_records", column, row["raw_id"]),
    ),
    SealedColumns(
        _table(Case),
        "case_id",
        "pii_key_id",
        ("reporter_name", "reporter_phone", "reporter_id_number"),
        lambda row, column: associated_data("cases", column, row["case_id"]),
    ),
    SealedColumns(
        _table(OutboxEvent),
        "id",
        "key_id",
        ("data",),
        lambda row, column: associated_data("outbox", column, row["event_id"]),
        binds=("event_id",),
    ),
    SealedColumns(
        _table(InboundWebhook),
        "id",
        "key_id",
        ("payload",),
        lambda row, _: inbox.binding(row["partner"], row["webhook_id"]),
        binds=("partner", "webhook_id"),
    ),
    SealedColumns(
        _table(DistrictCredential),
        "key_id",
        "seal_key_id",
        ("sealed_secret",),
        lambda row, _: associated_data("district_credentials", "password", row["key_id"]),
    ),
)
"""Every sealed value in the store, each bound as its writer binds it: the pipeline (raw
records, cases), `casehub.outbox`, `casehub.inbox`, `casehub.credentials`."""
INDEXED = ("cases.reporter_phone_index", "cases.reporter_fingerprint")
"""The blind-index digests, both under the case's `reporter_index_key_id`."""


def reporter_fingerprint(
    ring: KeyRing, name: str | None, phone: str | None, id_number: str | None, key_id: str | None = None
) -> str:
    """The digest that tells whether a version changed its reporter (`casehub.changes.diff`)
    without keeping who they are, under the active blind-index key or `key_id`."""
    return ring.blind_index("\x1f".join(("reporter", name or "", phone or "", id_number or "")), key_id)


@dataclass
class Walk:
    """What one rotation or re-index did: values (or cases) written per column group, rows a
    writer changed meanwhile (left to it), and how long it took."""

    key_id: str
    done: dict[str, int] = field(default_factory=dict)
    changed_meanwhile: int = 0
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.done.values())

    def summary(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "done": self.done,
            "total": self.total,
            "changed_meanwhile": self.changed_meanwhile,
            "seconds": round(self.seconds, 3),
        }


Progress = Callable[[str, int], None]
"""Called after each committed batch with the table and the values done in it so far."""


def rotate(
    engine: Engine,
    ring: KeyRing,
    *,
    batch_size: int = BATCH,
    pause: float = 0.0,
    on_batch: Progress | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Walk:
    """Seal every value not under `ring.active` again under it (module docstring).

    The ring is checked against the store first, and must hold every key a value is under.
    `pause` seconds between batches leave the store to the DAGs on a busy day.
    """
    _check(engine, ring, clock())
    walk = Walk(key_id=ring.active)
    began = time.perf_counter()
    for spec in SEALED:
        walk.done[spec.table.name] = _reseal(engine, ring, spec, walk, batch_size, pause, on_batch)
    walk.seconds = time.perf_counter() - began
    return walk


def _reseal(
    engine: Engine,
    ring: KeyRing,
    spec: SealedColumns,
    walk: Walk,
    batch_size: int,
    pause: float,
    on_batch: Progress | None,
) -> int:
    table = spec.table
    row_id, key = table.c[spec.row_id], table.c[spec.key_column]
    read = select(row_id, key, *(table.c[name] for name in (*spec.columns, *spec.binds))).where(
        key.is_not(None), key != ring.active
    )
    write = _Write(
        table, spec.row_id, (spec.key_column, *spec.columns), spec.columns, {spec.key_column: ring.active}
    )

    def again(row: Mapping[Any, Any]) -> tuple[dict[str, Any], int]:
        values = {"w_row": row[spec.row_id], f"w_was_{spec.key_column}": row[spec.key_column]}
        count = 0
        for name in spec.columns:
            token = row[name]
            values[f"w_was_{name}"] = token
            if token is None:
                values[f"w_new_{name}"] = None
                continue
            aad = spec.binding(row, name)
            values[f"w_new_{name}"] = ring.seal(ring.open(row[spec.key_column], token, aad), aad)
            count += 1
        return values, count

    return _walk(engine, read, write, again, walk, batch_size, pause, on_batch)


def reindex(
    engine: Engine,
    ring: KeyRing,
    *,
    batch_size: int = BATCH,
    pause: float = 0.0,
    on_batch: Progress | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Walk:
    """Index every case not under `ring.index_active` again under it: the phone's blind index
    and the reporter's fingerprint, from the values opened in memory.

    Until it ends, look-ups ask for a phone under every index key of the ring
    (`KeyRing.blind_indexes`); once no case is under the old key, it can be retired.
    """
    _check(engine, ring, clock())
    walk = Walk(key_id=ring.index_active)
    began = time.perf_counter()
    table = _table(Case)
    c = table.c
    read = select(
        c.case_id,
        c.pii_key_id,
        c.reporter_name,
        c.reporter_phone,
        c.reporter_id_number,
        c.reporter_phone_index,
        c.reporter_fingerprint,
        c.reporter_index_key_id,
    ).where(c.reporter_index_key_id != ring.index_active)
    indexed = ("reporter_phone_index", "reporter_fingerprint")
    write = _Write(
        table,
        "case_id",
        ("reporter_index_key_id", *indexed),
        indexed,
        {"reporter_index_key_id": ring.index_active},
    )

    def again(row: Mapping[Any, Any]) -> tuple[dict[str, Any], int]:
        opened = [
            ring.open_text(row["pii_key_id"], row[name], associated_data("cases", name, row["case_id"]))
            for name in ("reporter_name", "reporter_phone", "reporter_id_number")
        ]
        values = {"w_row": row["case_id"], **{f"w_was_{name}": row[name] for name in write.guarded}}
        values["w_new_reporter_phone_index"] = ring.blind_index(opened[1])
        values["w_new_reporter_fingerprint"] = reporter_fingerprint(ring, *opened)
        return values, 1

    walk.done["cases"] = _walk(engine, read, write, again, walk, batch_size, pause, on_batch)
    walk.seconds = time.perf_counter() - began
    return walk


@dataclass(frozen=True)
class _Write:
    """How a batch is written back: each row by its `row_id`, only where its `guarded` columns
    still hold what was read (parameters `w_was_<column>`); the `fresh` columns take
    `w_new_<column>`, the `fixed` ones a constant (the active key's id)."""

    table: Table
    row_id: str
    guarded: tuple[str, ...]
    fresh: tuple[str, ...]
    fixed: Mapping[str, str]

    def rows(self, conn: Connection, parameters: list[dict[str, Any]]) -> set[Any]:
        """Write the batch; the ids of the rows written (a row whose guard no longer held is
        left as a writer left it)."""
        if conn.dialect.name == "postgresql":
            return self._set_wise(conn, parameters)
        t = self.table
        statement = (
            update(t)
            .where(
                t.c[self.row_id] == bindparam("w_row"),
                *(t.c[name].is_not_distinct_from(bindparam(f"w_was_{name}")) for name in self.guarded),
            )
            .values({**self.fixed, **{name: bindparam(f"w_new_{name}") for name in self.fresh}})
        )
        ids = [values["w_row"] for values in parameters]
        if conn.execute(statement, parameters).rowcount == len(parameters):
            return set(ids)
        # Fewer rows written than read: tell this walk's own from a writer's by what they hold.
        shown = [t.c[name] for name in (self.row_id, *self.fresh, *self.fixed)]
        stored = {row[0]: row for row in conn.execute(select(*shown).where(t.c[self.row_id].in_(ids)))}
        wanted = {
            values["w_row"]: (*(values[f"w_new_{n}"] for n in self.fresh), *self.fixed.values())
            for values in parameters
        }
        return {row_id for row_id, row in stored.items() if tuple(row[1:]) == wanted[row_id]}

    def _set_wise(self, conn: Connection, parameters: list[dict[str, Any]]) -> set[Any]:
        """One `UPDATE … FROM unnest(…)` for the whole batch on PostgreSQL, returning the ids
        written: a round trip a batch, not a row. Every name in it is our own table metadata."""
        t = self.table
        given = ["w_row", *(f"w_was_{n}" for n in self.guarded), *(f"w_new_{n}" for n in self.fresh)]
        columns = [self.row_id, *self.guarded, *self.fresh]
        arrays = ", ".join(
            f"CAST(:{name} AS {t.c[column].type.compile(dialect=conn.dialect)}[])"
            for name, column in zip(given, columns, strict=True)
        )
        assignments = [f'"{name}" = :fixed_{name}' for name in self.fixed]
        assignments += [f'"{name}" = v."w_new_{name}"' for name in self.fresh]
        guards = [f'"{t.name}"."{self.row_id}" = v.w_row']
        guards += [f'"{t.name}"."{name}" IS NOT DISTINCT FROM v."w_was_{name}"' for name in self.guarded]
        statement = text(
            f'UPDATE "{t.name}" SET {", ".join(assignments)} '  # noqa: S608 - names from our metadata
            f"FROM unnest({arrays}) AS v({', '.join(given)}) "
            f'WHERE {" AND ".join(guards)} RETURNING "{t.name}"."{self.row_id}"'
        )
        bound: dict[str, Any] = {name: [values[name] for values in parameters] for name in given}
        bound.update({f"fixed_{name}": value for name, value in self.fixed.items()})
        return set(conn.scalars(statement, bound))


def _walk(
    engine: Engine,
    read: Select[Any],
    write: _Write,
    again: Callable[[Mapping[Any, Any]], tuple[dict[str, Any], int]],
    walk: Walk,
    batch_size: int,
    pause: float,
    on_batch: Progress | None,
) -> int:
    """`read`'s rows in id order, a batch per transaction, each row turned by `again` into its
    write's parameters and the number of values it writes; returns the values written. A row a
    writer changed between the batch's read and its write is counted as changed meanwhile."""
    row_id = write.table.c[write.row_id]
    after: Any = None
    done = 0
    while True:
        with store_errors(), engine.begin() as conn:
            query = read if after is None else read.where(row_id > after)
            rows = conn.execute(query.order_by(row_id).limit(batch_size)).mappings().all()
            if not rows:
                return done
            turned = [again(row) for row in rows]
            written = write.rows(conn, [values for values, _ in turned])
        walk.changed_meanwhile += len(rows) - len(written)
        done += sum(count for values, count in turned if values["w_row"] in written)
        after = rows[-1][write.row_id]
        if on_batch:
            on_batch(write.table.name, done)
        if pause:
            time.sleep(pause)


def _check(engine: Engine, ring: KeyRing, now: datetime) -> None:
    with store_errors(), engine.begin() as conn:
        check_keyring(conn, ring, now)


def held(engine: Engine) -> dict[str, dict[str, int]]:
    """Key id → sealed or indexed column → how many values it holds there."""
    with store_errors(), engine.connect() as conn:
        return _held(conn)


def _held(conn: Connection) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for spec in SEALED:
        key = spec.table.c[spec.key_column]
        counts = [func.count(spec.table.c[name]) for name in spec.columns]
        for key_id, *values in conn.execute(select(key, *counts).where(key.is_not(None)).group_by(key)):
            for column, count in zip(spec.names(), values, strict=True):
                if count:
                    found.setdefault(key_id, {})[column] = int(count)
    c = _table(Case).c
    query = select(c.reporter_index_key_id, func.count(c.reporter_phone_index), func.count()).group_by(
        c.reporter_index_key_id
    )
    for key_id, phones, cases in conn.execute(query):
        found.setdefault(key_id, {}).update(
            {name: int(n) for name, n in zip(INDEXED, (phones, cases), strict=True) if n}
        )
    return found


def status(engine: Engine, ring: KeyRing | None) -> dict[str, Any]:
    """Every key the ring or the store knows, by id: its purpose, fingerprint (a prefix, never
    the key), whether the ring holds it and makes it active, whether the store knows it and has
    retired it, and the values it holds; then what a rotation and a re-index would still do."""
    with store_errors(), engine.connect() as conn:
        stored = {(r.key_id, r.purpose): r for r in conn.execute(select(KeyFingerprint))}
    values = held(engine)
    mine = ring.fingerprints() if ring is not None else {}
    keys = []
    for key_id, purpose in sorted({*stored, *mine}, key=lambda k: (k[1] != "seal", k[0])):
        row = stored.get((key_id, purpose))
        ours = mine.get((key_id, purpose))
        theirs = row.fingerprint if row is not None else None
        keys.append(
            {
                "key_id": key_id,
                "purpose": purpose,
                "fingerprint": (ours or theirs or "")[:SHOWN_FINGERPRINT],
                "in_ring": ours is not None,
                "active": ring is not None and key_id in (ring.active, ring.index_active),
                "in_store": row is not None,
                "matches_store": None if ours is None or theirs is None else ours == theirs,
                "registered_at": _iso(row.registered_at) if row is not None else None,
                "retired_at": _iso(row.retired_at) if row is not None else None,
                "values": values.get(key_id, {}) if purpose == "seal" else _indexed(values.get(key_id, {})),
            }
        )
    for key_id in sorted(set(values) - {k for k, _ in (*stored, *mine)}):
        keys.append(
            {
                "key_id": key_id,
                "purpose": "unknown",
                "fingerprint": "",
                "in_ring": False,
                "active": False,
                "in_store": False,
                "matches_store": None,
                "registered_at": None,
                "retired_at": None,
                "values": values[key_id],
            }
        )
    shown: dict[str, Any] = {"keys": keys}
    if ring is not None:
        shown["active"] = ring.active
        shown["index_active"] = ring.index_active
        shown["to_rotate"] = sum(
            n
            for key_id, columns in values.items()
            if key_id != ring.active
            for column, n in columns.items()
            if column not in INDEXED
        )
        shown["to_reindex"] = sum(
            columns.get(INDEXED[1], 0) for key_id, columns in values.items() if key_id != ring.index_active
        )
    return shown


def _indexed(columns: Mapping[str, int]) -> dict[str, int]:
    return {name: n for name, n in columns.items() if name in INDEXED}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


def retire(
    engine: Engine, ring: KeyRing, key_id: str, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> KeyRing:
    """Mark `key_id` retired in the store once it holds nothing there; returns the ring without it.

    Refused for an active key, an id neither the ring nor the store knows, and a key that still
    seals or indexes anything (`casehub keys rotate` first). A retired key may be left out of
    every ring; no ring may make it active again.
    """
    now = clock()
    with store_errors(), engine.begin() as conn:
        check_keyring(conn, ring, now)
        purposes = set(conn.scalars(select(KeyFingerprint.purpose).where(KeyFingerprint.key_id == key_id)))
    if key_id in (ring.active, ring.index_active):
        raise ConfigurationError(
            f"key {key_id!r} is the ring's active key: add a new key (casehub keys add) and rotate first"
        )
    if not purposes:
        raise ConfigurationError(f"no key {key_id!r} in the key ring or the store (see casehub keys status)")
    # Marked first, counted after, in one transaction: a writer still sealing under the key holds
    # its row (`store.keys.hold_active`), so the mark waits for it and the count sees its values;
    # a writer after the mark is refused.
    with store_errors(), engine.begin() as conn:
        conn.execute(
            update(KeyFingerprint)
            .where(KeyFingerprint.key_id == key_id, KeyFingerprint.retired_at.is_(None))
            .values(retired_at=now)
        )
        left = _held(conn).get(key_id, {})
        if left:
            what = ", ".join(f"{column} {n}" for column, n in sorted(left.items()))
            command = "casehub keys rotate --blind-index" if "index" in purposes else "casehub keys rotate"
            raise ConfigurationError(f"key {key_id!r} still holds values ({what}): run {command} first")
    return ring.without(key_id) if key_id in ring.keys or key_id in ring.index_keys else ring
