"""The public records of the Open311 door: service requests and their updates, cut to the allow-list.

Open311 reads are public, so a record holds only what `schemas/open311/request.schema.json` and
`update.schema.json` allow, and nothing personal: no reporter field at all; the free text
(description, status notes, an update's description) with every phone and ID number masked
(`casehub.masking.mask_free_text`) and the case's own reporter name and exact address, where the
text repeats them, replaced by their masks; the address cut to its street
(`casehub.masking.street_level`, as the recipients' allow-lists do); the point rounded to
`COORDINATE_DECIMALS` places (about 100 m). Opening the reporter's name needs the key ring.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from casehub.crypto import KeyRing, associated_data
from casehub.masking import mask_free_text, mask_name, street_level
from casehub.open311.contracts import public_status, service, statuses
from casehub.store.db import store_errors
from casehub.store.models import Case, CaseHistory, Open311Update

COORDINATE_DECIMALS = 3
_NUMBERED_PLACE = re.compile(r"[0-9０-９]+\s*(?:号|栋|幢|单元|室|楼|层)")
"""A door, building or room number left in free text: cut whatever the case's address was."""


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class Masker:
    """Masks one case's free text: numbers, and its reporter's name and address where repeated."""

    names: tuple[str, ...]
    address: str | None

    def __call__(self, text: str | None) -> str | None:
        if text is None:
            return None
        masked = mask_free_text(text)
        for name in self.names:
            masked = masked.replace(name, mask_name(name) or "*")
        if self.address:
            masked = masked.replace(self.address, street_level(self.address) or "")
        return _NUMBERED_PLACE.sub("*", masked)


def _masker(keyring: KeyRing, row: Any) -> Masker:
    names: tuple[str, ...] = ()
    if row.reporter_name is not None:
        name = keyring.open(
            row.pii_key_id, row.reporter_name, associated_data("cases", "reporter_name", row.case_id)
        ).decode()
        names = tuple(sorted({name, name.replace(" ", "")}, key=len, reverse=True))
    return Masker(names, row.address)


_COLUMNS = (
    Case.case_id, Case.status, Case.source_status, Case.category, Case.content, Case.result,
    Case.assigned_unit, Case.reported_at, Case.updated_at, Case.deadline_at, Case.address, Case.lng,
    Case.lat, Case.duplicate_of, Case.pii_key_id, Case.reporter_name,
)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, COORDINATE_DECIMALS)


def request_record(row: Any, mask: Masker) -> dict[str, Any]:
    """One case as a GeoReport v2 service request, with the extensions the hub adds."""
    told = public_status(row.status, row.duplicate_of)
    category = service(row.category)
    return {
        "service_request_id": row.case_id,
        "status": told.status,
        "extended_status": told.extended,
        "external_status_code": row.source_status,
        "status_notes": mask(row.result),
        "service_name": category.service_name if category else None,
        "service_code": row.category,
        "description": mask(row.content) or "",
        "agency_responsible": row.assigned_unit,
        "requested_datetime": iso(row.reported_at),
        "updated_datetime": iso(row.updated_at),
        "expected_datetime": iso(row.deadline_at),
        "address": street_level(row.address),
        "lat": _rounded(row.lat),
        "long": _rounded(row.lng),
        "duplicate_of": row.duplicate_of,
    }


@dataclass(frozen=True)
class RequestQuery:
    """A `GET requests`: by ids (which overrides the rest), or by codes, a window and statuses."""

    ids: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    statuses: tuple[str, ...] = ()
    limit: int = 1000


def find_requests(engine: Engine, keyring: KeyRing, query: RequestQuery) -> list[dict[str, Any]]:
    """The requests a query selects, newest first, at most `query.limit`."""
    statement = select(*_COLUMNS)
    if query.ids:
        statement = statement.where(Case.case_id.in_(query.ids))
    else:
        if query.service_codes:
            statement = statement.where(Case.category.in_(query.service_codes))
        if query.start is not None:
            statement = statement.where(Case.reported_at >= query.start)
        if query.end is not None:
            statement = statement.where(Case.reported_at <= query.end)
        if query.statuses:
            table = statuses()
            unified = [s for s, told in table.items() if told.status in query.statuses and s != "duplicate"]
            statement = statement.where(Case.status.in_(unified))
    statement = statement.order_by(Case.reported_at.desc(), Case.case_id).limit(query.limit)
    with store_errors(), engine.connect() as conn:
        rows = conn.execute(statement).all()
    return [request_record(row, _masker(keyring, row)) for row in rows]


def _maskers(engine: Engine, keyring: KeyRing, case_ids: Iterable[str]) -> dict[str, Masker]:
    wanted = sorted(set(case_ids))
    if not wanted:
        return {}
    with store_errors(), engine.connect() as conn:
        rows = conn.execute(
            select(Case.case_id, Case.address, Case.pii_key_id, Case.reporter_name).where(
                Case.case_id.in_(wanted)
            )
        ).all()
    return {row.case_id: _masker(keyring, row) for row in rows}


def _history_update(entry: Any, case: Any, mask: Masker) -> dict[str, Any] | None:
    changes: Mapping[str, Any] = entry.changes or {}
    if "status" not in changes and "result" not in changes and "duplicate_of" not in changes:
        return None
    status = (changes.get("status") or [None, case.status])[1] or case.status
    told = public_status(status, case.duplicate_of)
    result = (changes.get("result") or [None, None])[1]
    source_status = (changes.get("source_status") or [None, None])[1]
    return {
        "update_id": f"h{entry.id}",
        "service_request_id": entry.case_id,
        "status": told.status,
        "extended_status": told.extended,
        "external_status_code": source_status,
        "updated_datetime": iso(entry.recorded_at),
        "description": mask(result) if result else told.meaning,
        "media_url": None,
        "duplicate_of": case.duplicate_of,
    }


def find_updates(
    engine: Engine, keyring: KeyRing, start: datetime, end: datetime, limit: int
) -> list[dict[str, Any]]:
    """The updates recorded in [start, end], oldest first, at most `limit`: each status or result
    change of a case (its history) and each update a client posted."""
    with store_errors(), engine.connect() as conn:
        history = conn.execute(
            select(CaseHistory.id, CaseHistory.case_id, CaseHistory.recorded_at, CaseHistory.changes)
            .where(CaseHistory.recorded_at >= start, CaseHistory.recorded_at <= end)
            .order_by(CaseHistory.recorded_at, CaseHistory.id)
            .limit(limit)
        ).all()
        posted = conn.execute(
            select(Open311Update.__table__)
            .where(Open311Update.received_at >= start, Open311Update.received_at <= end)
            .order_by(Open311Update.received_at, Open311Update.id)
            .limit(limit)
        ).all()
        case_ids = {e.case_id for e in history} | {p.case_id for p in posted}
        cases = {
            row.case_id: row
            for row in conn.execute(
                select(Case.case_id, Case.status, Case.duplicate_of, Case.source_status).where(
                    Case.case_id.in_(sorted(case_ids))
                )
            )
        }
    maskers = _maskers(engine, keyring, case_ids)
    found: list[tuple[datetime, dict[str, Any]]] = []
    for entry in history:
        case = cases.get(entry.case_id)
        record = _history_update(entry, case, maskers[entry.case_id]) if case is not None else None
        if record is not None:
            found.append((entry.recorded_at, record))
    for update in posted:
        case = cases.get(update.case_id)
        found.append((update.received_at, _posted_update(update, case)))
    found.sort(key=lambda pair: (pair[0], pair[1]["update_id"]))
    return [record for _, record in found[:limit]]


def _posted_update(update: Any, case: Any) -> dict[str, Any]:
    status = case.status if case is not None else "received"
    told = public_status(status, case.duplicate_of if case is not None else None)
    return {
        "update_id": f"c{update.id}",
        "service_request_id": update.case_id,
        "status": update.status,
        "extended_status": told.extended,
        "external_status_code": None,
        "updated_datetime": iso(update.updated_at),
        "description": update.description,
        "media_url": update.media_url,
        "duplicate_of": case.duplicate_of if case is not None else None,
    }


@dataclass(frozen=True)
class PostedUpdate:
    """A client's update as the gateway checked it; `names` are the poster's, masked out of the text."""

    update_id: str
    service_request_id: str
    status: str
    updated_at: datetime
    description: str
    media_url: str | None
    names: Sequence[str]


class UpdateConflict(Exception):
    """The client posted this update id before with other content."""


def case_exists(engine: Engine, service_request_id: str) -> bool:
    with store_errors(), engine.connect() as conn:
        return conn.execute(
            select(Case.case_id).where(Case.case_id == service_request_id)
        ).scalar_one_or_none() is not None


def record_update(engine: Engine, key_id: str, posted: PostedUpdate, now: datetime) -> str:
    """Keep a client's update once per (key, update id); the hub's id of it.

    The same update posted again answers the same id and writes nothing; the same id with other
    content raises `UpdateConflict`. The description is kept masked, never the poster's fields.
    """
    description = Masker(tuple(n for n in posted.names if n), None)(posted.description) or ""
    digest = hashlib.sha256(
        "\x1f".join((posted.service_request_id, posted.status, posted.updated_at.isoformat(),
                     description, posted.media_url or "")).encode()
    ).hexdigest()
    row = {
        "key_id": key_id,
        "update_id": posted.update_id,
        "case_id": posted.service_request_id,
        "status": posted.status,
        "updated_at": posted.updated_at,
        "received_at": now,
        "content_hash": digest,
        "description": description,
        "media_url": posted.media_url,
    }
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(Open311Update)
        .values(row)
        .on_conflict_do_nothing(index_elements=["key_id", "update_id"])
        .returning(Open311Update.id)
    )
    with store_errors(), engine.begin() as conn:
        # The insert first, as the inbox does: two posts of one update cannot both insert.
        new_id = conn.execute(statement).scalar_one_or_none()
        if new_id is not None:
            return f"c{new_id}"
        existing = conn.execute(
            select(Open311Update.id, Open311Update.content_hash).where(
                Open311Update.key_id == key_id, Open311Update.update_id == posted.update_id
            )
        ).one()
    if existing.content_hash != digest:
        raise UpdateConflict(posted.update_id)
    return f"c{existing.id}"
