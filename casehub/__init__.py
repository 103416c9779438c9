"""casehub — the data-exchange hub of the 民呼我应 (people call, we respond) case network.

The public surface below is what DAGs, connectors and tools may use; everything else is
internal. Names load on first use, so a DAG file that imports `casehub` at parse time pays for
nothing it does not touch. A test keeps `__all__` true.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "CasehubError": "casehub.errors",
    "ConfigurationError": "casehub.errors",
    "ContractError": "casehub.errors",
    "StoreError": "casehub.errors",
    "StoreUnavailable": "casehub.errors",
    "TransientError": "casehub.errors",
    "DataQualityError": "casehub.errors",
    "InvalidRecord": "casehub.errors",
    "PartnerError": "casehub.errors",
    "PermanentPartnerError": "casehub.errors",
    "Reason": "casehub.errors",
    "TransientPartnerError": "casehub.errors",
    "Code": "casehub.reasons",
    "Partner": "casehub.partners",
    "partner": "casehub.partners",
    "load_partners": "casehub.partners",
    "load_connector": "casehub.partners",
    "KeyRing": "casehub.crypto",
    "load_keyring": "casehub.crypto",
    "ingest": "casehub.jobs",
    "process_webhooks": "casehub.jobs",
    "deliver_outbox": "casehub.jobs",
    "push": "casehub.pushes",
    "reconcile": "casehub.jobs",
    "PageResult": "casehub.pipeline",
    "Pipeline": "casehub.pipeline",
    "RunResult": "casehub.pipeline",
    "Mapper": "casehub.ports",
    "OutboundBatch": "casehub.ports",
    "Receipt": "casehub.ports",
    "Renderer": "casehub.ports",
    "Sink": "casehub.ports",
    "EventSink": "casehub.ports",
    "EventReceipt": "casehub.ports",
    "OutboundEvent": "casehub.ports",
    "PageRecord": "casehub.ports",
    "UnreadableRecord": "casehub.ports",
    "RawRecord": "casehub.ports",
    "Source": "casehub.ports",
    "SourceKey": "casehub.ports",
    "Window": "casehub.ports",
    "Reference": "casehub.reference",
    "load_reference": "casehub.reference",
    "collect_stats": "casehub.stats",
    "connect": "casehub.store",
    "migrate": "casehub.store",
}

__all__ = [
    "CasehubError",
    "Code",
    "ConfigurationError",
    "ContractError",
    "DataQualityError",
    "EventReceipt",
    "EventSink",
    "InvalidRecord",
    "KeyRing",
    "Mapper",
    "OutboundBatch",
    "OutboundEvent",
    "PageRecord",
    "PageResult",
    "Partner",
    "PartnerError",
    "PermanentPartnerError",
    "Pipeline",
    "RawRecord",
    "Reason",
    "Receipt",
    "Reference",
    "Renderer",
    "RunResult",
    "Sink",
    "Source",
    "SourceKey",
    "StoreError",
    "StoreUnavailable",
    "TransientError",
    "TransientPartnerError",
    "UnreadableRecord",
    "Window",
    "collect_stats",
    "connect",
    "deliver_outbox",
    "ingest",
    "load_connector",
    "load_keyring",
    "load_partners",
    "load_reference",
    "migrate",
    "partner",
    "process_webhooks",
    "push",
    "reconcile",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'casehub' has no attribute {name!r}")
    attribute = "collect" if name == "collect_stats" else name
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from casehub.crypto import KeyRing, load_keyring
    from casehub.errors import (
        CasehubError,
        ConfigurationError,
        ContractError,
        DataQualityError,
        InvalidRecord,
        PartnerError,
        PermanentPartnerError,
        Reason,
        StoreError,
        StoreUnavailable,
        TransientError,
        TransientPartnerError,
    )
    from casehub.jobs import deliver_outbox, ingest, process_webhooks, reconcile
    from casehub.partners import Partner, load_connector, load_partners, partner
    from casehub.pipeline import PageResult, Pipeline, RunResult
    from casehub.ports import (
        EventReceipt,
        EventSink,
        Mapper,
        OutboundBatch,
        OutboundEvent,
        PageRecord,
        RawRecord,
        Receipt,
        Renderer,
        Sink,
        Source,
        SourceKey,
        UnreadableRecord,
        Window,
    )
    from casehub.pushes import push
    from casehub.reasons import Code
    from casehub.reference import Reference, load_reference
    from casehub.stats import collect as collect_stats
    from casehub.store import connect, migrate
