"""Reading the store for people and tools: statistics, the open quarantine, one case with its
reporter masked. Every route needs the gateway's bearer token.

A case's free text — title, content, address, handling result — is where residents write their
phone and ID numbers, so those leave masked too (`casehub.masking.mask_free_text`); the address
keeps its house number, which a tool reading a case may need to place it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy import select

from casehub.gateway.auth import require_token
from casehub.gateway.context import Context, context_of
from casehub.gateway.problems import Problem, documented
from casehub.masking import mask_free_text, mask_name, mask_phone

if TYPE_CHECKING:
    from sqlalchemy import RowMapping

log = logging.getLogger("casehub.gateway")

HIDDEN_COLUMNS = ("pii_key_id", "reporter_phone_index", "reporter_fingerprint")
FREE_TEXT_COLUMNS = ("title", "content", "address", "result")
QUARANTINE_COLUMNS = (
    "id", "channel", "source_id", "source_updated_at", "quarantined_at", "attempts", "reasons",
)

router = APIRouter(
    tags=["read"],
    dependencies=[Depends(require_token)],
    responses=documented(
        {
            401: "no or a wrong `Authorization: Bearer` token",
            503: "the gateway has no token configured, or the store did not answer",
        }
    ),
)


@router.get(
    "/stats",
    summary="Store statistics",
    description="What `casehub stats --json` prints: raw records by outcome, cases by channel and "
    "status, quarantine by reason, cursors, and `reconciled` — true while nothing is lost.",
)
def stats(request: Request) -> dict[str, Any]:
    from casehub.stats import collect

    return collect(context_of(request).store())


@router.get(
    "/quarantine",
    summary="Open quarantine entries",
    description="Open entries and their machine-readable reasons, oldest first: what "
    "`casehub quarantine list` shows. Reasons name the field and the rule, never the value.",
)
def quarantine(
    request: Request,
    channel: Annotated[str | None, Query(description="only this channel's entries")] = None,
    limit: Annotated[int, Query(description="at most this many (1–1000)")] = 200,
) -> list[dict[str, Any]]:
    from casehub.store.models import Quarantine

    query = select(Quarantine).where(Quarantine.state == "open").order_by(Quarantine.id)
    if channel:
        query = query.where(Quarantine.channel == channel)
    with context_of(request).store().connect() as conn:
        rows = conn.execute(query.limit(max(1, min(limit, 1000)))).mappings().all()
    return [{name: row[name] for name in QUARANTINE_COLUMNS} for row in rows]


@router.get(
    "/cases/{case_id}",
    summary="One case, reporter masked",
    description="The stored case as the unified schema has it. The reporter's name and phone are "
    "decrypted in memory and leave masked (张*, +86138****8000); without a key ring they are null. "
    "The resident ID number is never shown. Phone and ID numbers in the title, content, address and "
    "result are masked the same way (138****8000, 420102***********0).",
    responses=documented({404: "no case with this id"}),
)
def case(
    request: Request, case_id: Annotated[str, Path(description="the case's id (a UUID)")]
) -> dict[str, Any]:
    from casehub.store.models import Case

    context = context_of(request)
    with context.store().connect() as conn:
        row = conn.execute(select(Case).where(Case.case_id == case_id)).mappings().one_or_none()
    if row is None:
        raise Problem(404, "case-not-found", "Case not found", "no case with this id")
    shown = {k: v for k, v in row.items() if not k.startswith("reporter_") and k not in HIDDEN_COLUMNS}
    for column in FREE_TEXT_COLUMNS:
        if isinstance(shown.get(column), str):
            shown[column] = mask_free_text(shown[column])
    return {**shown, "reporter": _reporter(context, row)}


def _reporter(context: Context, row: RowMapping) -> dict[str, str | None]:
    """Name and phone, masked; null without a key ring (the ID number is never shown)."""
    from casehub.crypto import associated_data
    from casehub.errors import ConfigurationError

    ring = context.keyring()
    if ring is None:
        return {"name": None, "phone": None}
    shown: dict[str, str | None] = {}
    for field, mask in (("name", mask_name), ("phone", mask_phone)):
        column = f"reporter_{field}"
        aad = associated_data("cases", column, row["case_id"])
        try:
            shown[field] = mask(ring.open_text(row["pii_key_id"], row[column], aad))
        except ConfigurationError as exc:
            log.warning("gateway: %s of a case stays hidden: %s", column, exc)
            shown[field] = None
    return shown
