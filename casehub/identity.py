"""Deterministic case ids, so that re-ingesting a record gives the case it already has.

The id is a UUID v5 (RFC 9562, name-based, SHA-1) of `"<channel>:<source_id>"` under a
namespace of our own. The namespace is fixed for the life of the hub: changing it would give
every known case a second id.
"""

from __future__ import annotations

import hashlib
import uuid

NAMESPACE = uuid.UUID("dfd3355c-ec68-4946-ad2e-cfe5bede0fbf")
"""casehub's UUID namespace for case ids; never change it."""
_NAMESPACE_BYTES = NAMESPACE.bytes


def case_id(channel: str, source_id: str) -> str:
    """The unified `case_id` of record `source_id` of `channel`."""
    if not channel or not source_id:
        raise ValueError("case id needs a channel and a source id")
    # uuid.uuid5, spelled out: its UUID object cost four times the hash on the ingest path.
    name = _NAMESPACE_BYTES + f"{channel}:{source_id}".encode()
    digest = bytearray(hashlib.sha1(name, usedforsecurity=False).digest()[:16])
    digest[6] = digest[6] & 0x0F | 0x50  # version 5
    digest[8] = digest[8] & 0x3F | 0x80  # the RFC variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
