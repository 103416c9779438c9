"""The hub's store: tables, engine and migrations."""

from casehub.store.db import connect, migrate
from casehub.store.models import Base, Batch, Case, CaseHistory, Quarantine, RawRecord, SyncCursor

__all__ = [
    "Base",
    "Batch",
    "Case",
    "CaseHistory",
    "Quarantine",
    "RawRecord",
    "SyncCursor",
    "connect",
    "migrate",
]
