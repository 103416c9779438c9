"""The connector kit: what every partner connector is built from.

A pulled partner's connector is a source declaring its operation or path, how it asks for a
page and its auth (`SoapSource`, `RestSource`, both `PagedSource`s), and a mapper — a pure
function of one raw record — whose `key` is the partner's one parser of id and update time.
The kit owns paging and the re-walk when records move (`paging`), retries (`retry`), bounded
exchanges and the meaning of HTTP failures (`transport`), and the defects a mapper collects
(`problems`).
"""

from __future__ import annotations

from connectors.kit.problems import MAX_ID_LENGTH, Problems
from connectors.kit.retry import RetryPolicy, with_retries
from connectors.kit.source import MAX_REPLY_BYTES, Endpoint, PagedSource

__all__ = [
    "MAX_ID_LENGTH",
    "MAX_REPLY_BYTES",
    "Endpoint",
    "PagedSource",
    "Problems",
    "RetryPolicy",
    "with_retries",
]
