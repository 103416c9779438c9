"""The key ring checked against the store before anything is written.

A store remembers the fingerprint of every key that wrote it (`key_fingerprints`), never the
key. A ring whose key has the same id but other bytes — a copy from another environment, a
regenerated demo ring — is refused with one line naming the key id: had it been accepted, new
values would be sealed beside old ones that no single ring opens, and blind-index look-ups would
silently stop matching.

A store written before fingerprints were kept is checked the slow way once: one ciphertext per
key id must open, and one phone number's blind index must come out as stored; then the ring's
fingerprints are recorded.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select

from casehub.crypto import INDEX_KEY_ID, KeyRing, associated_data
from casehub.errors import ConfigurationError
from casehub.store.models import Case, KeyFingerprint, RawRecord


def check_keyring(conn: Connection, ring: KeyRing, now: datetime) -> None:
    """Raise `ConfigurationError` unless `ring` is the ring (or a rotation of it) that wrote the store.

    Keys the store has not seen are registered, so a rotation's new key is accepted; a key the
    store knows must match its fingerprint. Runs inside the caller's transaction, first.
    """
    stored = select(KeyFingerprint.key_id, KeyFingerprint.purpose, KeyFingerprint.fingerprint)
    known = {(row.key_id, row.purpose): row.fingerprint for row in conn.execute(stored)}
    mine = ring.fingerprints()
    for (key_id, purpose), fingerprint in mine.items():
        recorded = known.get((key_id, purpose))
        if recorded is not None and recorded != fingerprint:
            what = "the blind-index key" if purpose == "index" else f"key {key_id!r}"
            raise ConfigurationError(
                f"key ring does not match this store: {what} is not the one the store was written with"
            )
    new = [identity for identity in mine if identity not in known]
    if not new:
        return
    if not known:
        _check_unfingerprinted(conn, ring)
    conn.execute(
        insert(KeyFingerprint),
        [
            {"key_id": key, "purpose": purpose, "fingerprint": mine[(key, purpose)], "registered_at": now}
            for key, purpose in new
        ],
    )


def _check_unfingerprinted(conn: Connection, ring: KeyRing) -> None:
    """A store that holds data but no fingerprints: prove the ring on the data itself."""
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
        select(Case.case_id, Case.pii_key_id, Case.reporter_phone, Case.reporter_phone_index)
        .where(Case.reporter_phone.is_not(None), Case.pii_key_id.in_(list(ring.keys)))
        .limit(1)
    ).first()
    if case is None:
        return
    phone = ring.open_text(
        case.pii_key_id, case.reporter_phone, associated_data("cases", "reporter_phone", case.case_id)
    )
    if ring.blind_index(phone) != case.reporter_phone_index:
        raise ConfigurationError(
            f"key ring does not match this store: the blind-index key ({INDEX_KEY_ID}) is not the one"
            " the store was written with"
        )
