"""Set-wise writes: many rows in one statement (SQLite) or one COPY (PostgreSQL).

On PostgreSQL a page's rows go in with `COPY … FROM STDIN`, the fastest path the server has;
an upsert copies into a temporary stage and merges with one `INSERT … SELECT … ON CONFLICT`.
SQLite gets one `executemany`, which its driver runs in C without a round trip per row.
Both run inside the caller's transaction.

Before either, every text value is checked against its column — its length, and no NUL, which
PostgreSQL refuses — so SQLite stores exactly what PostgreSQL would, and a value PostgreSQL would
refuse never reaches the server, whose error (and log line) would quote it. The check is made
a column at a time, with the length and NUL tests run over all of a column's texts at once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import JSON, Column, Connection, String, Table, insert
from sqlalchemy.dialects import sqlite

from casehub.store.db import StoreRejected


def check_text(table: Table, columns: list[Column[Any]], rows: Sequence[Mapping[str, Any]]) -> None:
    """Refuse a row whose text does not fit its column, naming the column, never the value."""
    limits = [(c.name, c.type.length) for c in columns if isinstance(c.type, String)]  # Text too
    for name, length in limits:
        texts = [value for row in rows if isinstance(value := row.get(name), str)]
        if not texts:
            continue
        if length is not None and max(map(len, texts)) > length:
            raise StoreRejected(f"{table.name}.{name}: longer than the column's {length} characters")
        if "\x00" in "".join(texts):
            raise StoreRejected(f"{table.name}.{name}: holds a NUL character")


def _copy(
    conn: Connection, table_name: str, columns: list[Column[Any]], rows: Sequence[Mapping[str, Any]]
) -> None:
    """COPY rows in; psycopg adapts each value by its Python type, JSON columns go as text
    (orjson's: UTF-8 kept, keys that are not strings written as strings, as the stdlib does)."""
    names = ", ".join(f'"{c.name}"' for c in columns)
    keys = [c.name for c in columns]
    json_at = [n for n, c in enumerate(columns) if isinstance(c.type, JSON)]
    dumps, option = orjson.dumps, orjson.OPT_NON_STR_KEYS
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f'COPY "{table_name}" ({names}) FROM STDIN') as copy:
            for row in rows:
                values = [row.get(k) for k in keys]
                for n in json_at:
                    if (value := values[n]) is not None:
                        values[n] = _json(value, dumps, option)
                copy.write_row(values)
    finally:
        cursor.close()


def _json(value: object, dumps: Any, option: int) -> str:
    """A JSON value's text: orjson's, or the stdlib's for what orjson refuses (an integer beyond
    64 bits, which a partner's JSON can carry), so a value the store took before still lands."""
    try:
        return str(dumps(value, option=option).decode())
    except TypeError:
        return json.dumps(value, ensure_ascii=False)


def _columns(table: Table, rows: Sequence[Mapping[str, Any]]) -> list[Column[Any]]:
    present = set(rows[0])
    return [c for c in table.columns if c.name in present]


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert every row; all rows carry the same keys."""
    if not rows:
        return
    check_text(table, _columns(table, rows), rows)
    if conn.dialect.name == "postgresql":
        _copy(conn, table.name, _columns(table, rows), rows)
    else:
        conn.execute(insert(table), list(rows))


def upsert_newer(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], *, key: str, order: str
) -> None:
    """Insert rows, or update the stored row with the same `key` when the new `order` is later.

    The database re-checks the order, so a row can never move a stored one back in time, even
    if two writers race.
    """
    if not rows:
        return
    columns = _columns(table, rows)
    check_text(table, columns, rows)
    updates = ", ".join(f'"{c.name}" = excluded."{c.name}"' for c in columns if c.name != key)
    names = ", ".join(f'"{c.name}"' for c in columns)
    if conn.dialect.name == "postgresql":
        stage = f"stage_{table.name}"
        conn.exec_driver_sql(f'CREATE TEMPORARY TABLE "{stage}" (LIKE "{table.name}") ON COMMIT DROP')
        _copy(conn, stage, columns, rows)
        # Every name here comes from our own table metadata, never from input.
        conn.exec_driver_sql(
            f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM "{stage}" '  # noqa: S608
            f'ON CONFLICT ("{key}") DO UPDATE SET {updates} '
            f'WHERE "{table.name}"."{order}" < excluded."{order}"'
        )
        conn.exec_driver_sql(f'DROP TABLE "{stage}"')
        return
    stmt = sqlite.insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c[key]],
        set_={c.name: stmt.excluded[c.name] for c in columns if c.name != key},
        where=table.c[order] < stmt.excluded[order],
    )
    conn.execute(stmt, list(rows))
