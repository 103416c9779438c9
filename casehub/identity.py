"""Deterministic case ids, so that re-ingesting a record gives the case it already has.

The id is a UUID v5 (RFC 9562, name-based, SHA-1) of `"<channel>:<source_id>"` under a
namespace of our own. The namespace is fixed for the life of the hub: changing it would give
every known case a second id.
"""

from __future__ import annotations

import uuid

NAMESPACE = uuid.UUID("dfd3355c-ec68-4946-ad2e-cfe5bede0fbf")
"""casehub's UUID namespace for case ids; never change it."""


def case_id(channel: str, source_id: str) -> str:
    """The unified `case_id` of record `source_id` of `channel`."""
    if not channel or not source_id:
        raise ValueError("case id needs a channel and a source id")
    return str(uuid.uuid5(NAMESPACE, f"{channel}:{source_id}"))
