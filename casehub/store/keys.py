"""The key ring checked against the store before anything is written.

A store remembers the fingerprint of every key that wrote it (`key_fingerprints`), never the
key. A ring is refused with one line naming the key when

- a key has the same id as one the store knows but other bytes — a copy from another
  environment, a regenerated demo ring: had it been accepted, new values would be sealed beside
  old ones that no single ring opens, and blind-index look-ups would silently stop matching;
- it lacks a key the store still uses (registered, not retired): it could not open, or find,
  what that key sealed or indexed — a process left with the ring from before a rotation;
- its active key is one the store retired (`casehub keys retire`): values sealed under it
  would be sealed under a key the other rings no longer hold.

A store written before fingerprints were kept is checked the slow way once: one ciphertext per
key id must open, and one phone number's blind index must come out as stored; then the ring's
fingerprints are recorded.
"""

from __future__ import annotations

import threading
import weakref
from datetime import datetime

from sqlalchemy import Connection, Engine, and_, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from casehub.crypto import KeyRing, associated_data
from casehub.errors import ConfigurationError
from casehub.store.db import store_errors
from casehub.store.models import Case, KeyFingerprint, RawRecord


def _named(key_id: str, purpose: str) -> str:
    return f"the blind-index key {key_id!r}" if purpose == "index" else f"key {key_id!r}"


def check_keyring(conn: Connection, ring: KeyRing, now: datetime) -> None:
    """Raise `ConfigurationError` unless `ring` is the ring (or a rotation of it) that wrote the store.

    Keys the store has not seen are registered, so a rotation's new key is accepted; a key the
    store knows must match its fingerprint, and every key it still uses must be in the ring.
    Runs inside the caller's transaction, first.
    """
    stored = select(
        KeyFingerprint.key_id, KeyFingerprint.purpose, KeyFingerprint.fingerprint, KeyFingerprint.retired_at
    )
    known = {(row.key_id, row.purpose): row for row in conn.execute(stored)}
    mine = ring.fingerprints()
    for (key_id, purpose), fingerprint in mine.items():
        recorded = known.get((key_id, purpose))
        if recorded is not None and recorded.fingerprint != fingerprint:
            raise _not_this_store(key_id, purpose)
    for (key_id, purpose), row in sorted(known.items()):
        if row.retired_at is None and (key_id, purpose) not in mine:
            raise ConfigurationError(
                f"key ring lacks {_named(key_id, purpose)}, which this store still uses: give this"
                " process the ring of the last rotation (docs/security.md, Key management)"
            )
    for key_id, purpose in ((ring.active, "seal"), (ring.index_active, "index")):
        active = known.get((key_id, purpose))
        if active is not None and active.retired_at is not None:
            raise ConfigurationError(
                f"key ring makes {_named(key_id, purpose)} active, which this store retired:"
                " give this process the ring of the last rotation"
            )
    new = [identity for identity in mine if identity not in known]
    if not new:
        return
    if not known:
        _check_unfingerprinted(conn, ring)
    # Workers starting together on a new store (a backfill's windows, a DAG's mapped tasks) may
    # register the same keys at once: the first insert wins, the others wait for it and insert
    # nothing, and each then checks that what was registered is its own key.
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(
        dialect_insert(KeyFingerprint).on_conflict_do_nothing(index_elements=["key_id", "purpose"]),
        [
            {"key_id": key, "purpose": purpose, "fingerprint": mine[(key, purpose)], "registered_at": now}
            for key, purpose in new
        ],
    )
    registered = {(row.key_id, row.purpose): row.fingerprint for row in conn.execute(stored)}
    for key_id, purpose in new:
        if registered.get((key_id, purpose)) != mine[(key_id, purpose)]:
            raise _not_this_store(key_id, purpose)


def _not_this_store(key_id: str, purpose: str) -> ConfigurationError:
    return ConfigurationError(
        f"key ring does not match this store: {_named(key_id, purpose)} is not the one"
        " the store was written with"
    )


def hold_active(conn: Connection, ring: KeyRing) -> None:
    """Inside a transaction that seals or indexes, before it does: refuse (`ConfigurationError`)
    when the store has retired the ring's active key since this process proved its ring — a
    long-running process (the gateway, a long DAG task) left with the ring of before a rotation.

    The keys' rows are read FOR SHARE on PostgreSQL, so a retirement (`casehub.keys.retire`,
    which marks the key first and counts what it holds after) waits for this transaction, and
    then either sees what it wrote and is refused, or is seen by it. SQLite has one writer at a
    time, which gives the same order.
    """
    wanted = or_(
        and_(KeyFingerprint.key_id == ring.active, KeyFingerprint.purpose == "seal"),
        and_(KeyFingerprint.key_id == ring.index_active, KeyFingerprint.purpose == "index"),
    )
    query = (
        select(KeyFingerprint.key_id, KeyFingerprint.purpose, KeyFingerprint.retired_at)
        .where(wanted)
        .with_for_update(read=True)
    )
    for row in conn.execute(query):
        if row.retired_at is not None:
            raise ConfigurationError(
                f"key ring makes {_named(row.key_id, row.purpose)} active, which this store retired:"
                " give this process the ring of the last rotation"
            )


_proven: weakref.WeakKeyDictionary[Engine, set[frozenset[tuple[tuple[str, str], str]]]] = (
    weakref.WeakKeyDictionary()
)
_proving = threading.Lock()


def prove_keyring(engine: Engine, ring: KeyRing, now: datetime) -> None:
    """`check_keyring` in its own transaction, once per engine and ring in this process.

    For the entry points that write with a ring — the jobs, the gateway's intake, the CLI — so a
    wrong one is refused before their first write. A fingerprint, once registered, never
    changes, so one proof holds for the process's life (a process given a new ring restarts);
    the lock keeps a burst of first callers from registering the same keys at once. A key the
    store retires later is caught by `hold_active`, in the transaction that would seal under it.
    """
    identity = frozenset(ring.fingerprints().items())
    if identity in _proven.get(engine, ()):
        return
    with _proving:
        if identity in _proven.get(engine, ()):
            return
        with store_errors(), engine.begin() as conn:
            check_keyring(conn, ring, now)
        _proven.setdefault(engine, set()).add(identity)


def _check_unfingerprinted(conn: Connection, ring: KeyRing) -> None:
    """A store that holds data but no fingerprints: prove the ring on the data itself."""
    for column, purpose, held in (
        (RawRecord.key_id, "seal", ring.keys),
        (Case.pii_key_id, "seal", ring.keys),
        (Case.reporter_index_key_id, "index", ring.index_keys),
    ):
        other = conn.scalar(select(column).where(column.not_in(list(held))).limit(1))
        if other is not None:
            raise ConfigurationError(f"key ring lacks {_named(other, purpose)}, which this store still uses")
    for key_id in ring.keys:
        row = conn.execute(
            select(RawRecord.raw_id, RawRecord.payload).where(RawRecord.key_id == key_id).limit(1)
        ).first()
        if row is not None:
            try:
                ring.open(key_id, row.payload, associated_data("raw_records", "payload", row.raw_id))
            except ConfigurationError:
                raise ConfigurationError(
                    f"key ring does not match this store: key {key_id!r} does not open what it sealed"
                ) from None
    case = conn.execute(
        select(
            Case.case_id,
            Case.pii_key_id,
            Case.reporter_phone,
            Case.reporter_phone_index,
            Case.reporter_index_key_id,
        )
        .where(
            Case.reporter_phone.is_not(None),
            Case.pii_key_id.in_(list(ring.keys)),
            Case.reporter_index_key_id.in_(list(ring.index_keys)),
        )
        .limit(1)
    ).first()
    if case is None:
        return
    phone = ring.open_text(
        case.pii_key_id, case.reporter_phone, associated_data("cases", "reporter_phone", case.case_id)
    )
    if ring.blind_index(phone, case.reporter_index_key_id) != case.reporter_phone_index:
        raise ConfigurationError(
            f"key ring does not match this store: the blind-index key {case.reporter_index_key_id!r}"
            " is not the one the store was written with"
        )
