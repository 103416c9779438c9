"""The hub's case workflow: where a case is dispatched, what a partner's action does to it, and
which events each change writes to the outbox.

Dispatch (派遣). A case the hub accepts from a channel, still waiting for a handler, goes
- to digital urban management (`transfer`, CreateCase) when its category is 城市管理 — the
  city's system for city-management cases — unless it came from urban management itself;
- to the district platform of its district (`dispatch`) when its handling unit is in the
  district (a community, a street office, a district department or the district's dispatch
  centre);
- nowhere when a city department handles it (grade D): the city's own departments take those.
From then on the hub owns the case's workflow: its status, handling unit, deadline and result
change only by the actions of the partner handling it (`act`), and a later version from the
channel keeps them — except a withdrawal (作废), which cancels the dispatch.

Actions (docs/district-interface.md): accept 签收, progress 处置, complete 办结, postpone 延期,
return 退回. Each is checked against `schemas/district/actions.schema.json` and the case's
status, landed as a raw record of the acting partner (sealed, in its own batch), and applied as
a new case version with its history, in one transaction with the events it causes:
- complete → the handling result back to the channel the case came from (`result`);
- accept, progress, return → a status callback where the channel takes them (`status`);
- return with a suggested district → a new dispatch there; without one, the city dispatch
  centre takes the case back (status `returned`).
An operation id is applied once per actor: sent again it answers as it did, with
`duplicate: true`; reused for another action it is refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from jsonschema import Draft202012Validator, FormatChecker
from sqlalchemy import Connection, Engine, insert, select, update
from uuid6 import uuid7

from casehub import outbox
from casehub.changes import CASE_FIELDS, diff
from casehub.contract import CaseContract, case_contract
from casehub.crypto import KeyRing, associated_data
from casehub.enrich import Rules, load_rules
from casehub.enrich.deadline import add_working_days
from casehub.errors import ActionConflict, InvalidRecord, Reason, UnknownCase
from casehub.normalize import iso
from casehub.partners import load_partners
from casehub.paths import SCHEMAS_DIR
from casehub.reference import Reference, load_reference
from casehub.store.db import store_errors
from casehub.store.keys import hold_active, prove_keyring
from casehub.store.models import Batch, Case, CaseHistory, OutboxEvent, RawRecord, WorkflowOperation

ACTIONS_PATH = SCHEMAS_DIR / "district" / "actions.schema.json"
ACTIONS = ("accept", "progress", "complete", "postpone", "return", "feedback")
ALLOWED: Mapping[str, frozenset[str]] = {
    "accept": frozenset({"dispatched"}),
    "progress": frozenset({"accepted", "processing"}),
    "complete": frozenset({"accepted", "processing"}),
    "postpone": frozenset({"accepted", "processing"}),
    "return": frozenset({"dispatched", "accepted"}),
    "feedback": frozenset(
        {
            "received",
            "registered",
            "dispatched",
            "accepted",
            "processing",
            "completed",
            "verified",
            "closed",
            "returned",
        }
    ),
}
INFORMED = "health_commission"
"""The partner that is informed of cases (its scheduled feed) and feeds back on them (`feedback`):
it acts on the cases its allow-list selects, without handling them."""
NEXT_STATUS = {"accept": "accepted", "progress": "processing", "complete": "completed"}
DISPATCHABLE = frozenset({"received", "registered", "dispatched"})
"""Statuses of a channel's case that still wait for the hub to send it to a handler."""
HUB_OWNED = frozenset({"dispatched", "accepted", "processing", "completed", "returned"})
"""Statuses set by the hub's workflow; a channel's later version does not undo them."""
ENDED = frozenset({"completed", "verified", "closed", "cancelled"})
"""Statuses with which a channel may end a case itself, dispatched or not."""
WORKFLOW_FIELDS = (
    "status",
    "assigned_unit",
    "deadline_at",
    "time_limit_days",
    "result",
    "district_code",
    "grade",
    "supervision",
)
CITY_MANAGEMENT = "城市管理"
FUTURE_TOLERANCE = timedelta(minutes=5)
URBAN_MGMT, DISTRICT = "urban_mgmt", "district"
_SHANGHAI = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    return datetime.now(UTC)


# -- where a case goes ---------------------------------------------------------------------------


def dispatch_target(
    case: Mapping[str, Any], reference: Reference, rules: Rules
) -> tuple[str, str | None] | None:
    """(partner, target) that handles `case`, or None when no partner does (module docstring)."""
    category = reference.categories.get(str(case.get("category") or ""))
    if category is not None and category.major_name == CITY_MANAGEMENT:
        return None if case.get("channel") == URBAN_MGMT else (URBAN_MGMT, None)
    if case.get("channel") == URBAN_MGMT:
        return None
    unit = rules.units.get(str(case.get("assigned_unit") or ""))
    if unit is None or unit.kind == "city_department":
        return None
    return DISTRICT, str(case["district_code"])


@cache
def _kinds() -> dict[str, frozenset[str]]:
    """The event kinds each partner hears, from the manifest's outbox tables."""
    return {p.code: frozenset(p.outbox.kinds) for p in load_partners() if p.outbox is not None}


def wanted(partner: str, kind: str) -> bool:
    return kind in _kinds().get(partner, frozenset())


def _time(value: datetime | None) -> str | None:
    return None if value is None else iso(value)


def _unit_name(rules: Rules, code: str | None) -> str | None:
    unit = rules.units.get(code or "")
    return None if unit is None else unit.name


def transfer_data(case: Mapping[str, Any], reference: Reference) -> dict[str, Any]:
    """What urban management needs to create the case (CreateCase): no personal data."""
    category = reference.categories.get(str(case.get("category") or ""))
    return {
        "title": case.get("title"),
        "content": case.get("content"),
        "category": case.get("category"),
        "category_name": None if category is None else category.name,
        "address": case.get("address"),
        "district_code": case.get("district_code"),
        "street_code": case.get("street_code"),
        "community_code": case.get("community_code"),
        "grid_code": case.get("grid_code"),
        "lng": case.get("lng"),
        "lat": case.get("lat"),
        "reported_at": _time(case.get("reported_at")),
        "deadline_at": _time(case.get("deadline_at")),
        "urgency": case.get("urgency"),
    }


def _dispatch_event(
    case: Mapping[str, Any], target: tuple[str, str | None], origin: str, reference: Reference, rules: Rules
) -> outbox.NewEvent:
    partner, where = target
    if partner == URBAN_MGMT:
        kind, data = "transfer", transfer_data(case, reference)
    else:
        kind = "dispatch"
        data = {
            "unit": case.get("assigned_unit"),
            "unit_name": _unit_name(rules, case.get("assigned_unit")),
            "deadline_at": _time(case.get("deadline_at")),
        }
    return outbox.NewEvent(
        partner=partner,
        kind=kind,
        case_id=str(case["case_id"]),
        case_version=int(case["version"]),
        source_id=str(case["source_id"]),
        origin=origin,
        data=data,
        target=where,
    )


def _after_dispatch(
    previous: Mapping[str, Any], row: dict[str, Any], origin: str, reference: Reference, rules: Rules
) -> tuple[list[outbox.NewEvent], list[dict[str, Any]]]:
    """A channel's new version of a case the hub has dispatched: the hub's workflow fields stay,
    unless the channel ends the case itself (办结, 结案 or 作废 at the channel), which it may —
    then the handler hears that it can stop (`cancel`)."""
    status = row.get("status")
    ended = status in ENDED and previous.get("status") != status
    keep = (
        WORKFLOW_FIELDS
        if not ended
        else ("assigned_unit", "deadline_at", "time_limit_days", "district_code", "grade", "supervision")
    )
    for name in keep:
        row[name] = previous.get(name)
    if previous.get("closed_at") is not None:
        row["closed_at"] = previous["closed_at"]  # its handler's completion stays when it closed
    if not ended or previous.get("status") == "completed":
        return [], []
    target = dispatch_target(row, reference, rules)
    events = []
    # Written only where the handler hears cancellations (`wanted`); the pipeline still needs
    # it to drop a dispatch the same page withdrew.
    if target is not None:
        events.append(
            outbox.NewEvent(
                partner=target[0],
                kind="cancel",
                case_id=str(row["case_id"]),
                case_version=int(row["version"]),
                source_id=str(row["source_id"]),
                origin=origin,
                data={"status": status, "at": _time(row.get("updated_at"))},
                target=target[1],
            )
        )
    return events, [{"kind": "ended_at_channel", "status": status, "by": origin}]


CLOSING = ENDED - {"cancelled"}
"""Statuses with which a channel ends a case done, its result with it; a withdrawn case (作废)
closes no one else's."""


def closes_children(previous: Mapping[str, Any] | None, row: Mapping[str, Any]) -> bool:
    """Whether a channel's version `row` ends the case done, with a result, for the first time: then
    its open duplicates are completed with that result (`close_children`)."""
    status = row.get("status")
    return bool(
        status in CLOSING and row.get("result") and (previous is None or previous.get("status") not in ENDED)
    )


def on_ingest(
    previous: Mapping[str, Any] | None, row: dict[str, Any], reference: Reference, rules: Rules
) -> tuple[list[outbox.NewEvent], list[dict[str, Any]]]:
    """Apply the workflow to a channel's accepted version `row` (changed in place): keep what the
    hub owns, dispatch a case that waits for a handler, cancel a withdrawn one. Returns the
    events to write and the history events to record."""
    origin = str(row["channel"])
    if previous is not None and previous.get("status") in HUB_OWNED:
        return _after_dispatch(previous, row, origin, reference, rules)
    if row.get("status") not in DISPATCHABLE:
        return [], []
    target = dispatch_target(row, reference, rules)
    if target is None:
        return [], []
    event = _dispatch_event({**row, "status": "dispatched"}, target, origin, reference, rules)
    if outbox.echoes(event) or not wanted(event.partner, event.kind):
        return [], []
    row["status"] = "dispatched"
    return [event], [{"kind": "dispatched", "partner": target[0], "target": target[1]}]


# -- a partner's action on a case ----------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who acts: a partner and, where the partner stands for several systems, which (a district)."""

    partner: str
    target: str | None = None

    @property
    def key(self) -> str:
        return self.target or self.partner

    @property
    def origin(self) -> str:
        return outbox.origin_of(self.partner, self.target)


@dataclass(frozen=True)
class Outcome:
    """The answer to an action (no personal data)."""

    case_id: str
    status: str
    version: int
    deadline_at: datetime | None
    duplicate: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "status": self.status,
            "version": self.version,
            "deadline_at": _time(self.deadline_at),
            "duplicate": self.duplicate,
        }


@cache
def _validators() -> dict[str, Draft202012Validator]:
    schema = orjson.loads(ACTIONS_PATH.read_bytes())
    return {
        name: Draft202012Validator(
            {**schema["$defs"][name], "$defs": schema["$defs"]}, format_checker=FormatChecker()
        )
        for name in ACTIONS
    }


_MESSAGES = {
    "required": "is required",
    "additionalProperties": "is not a field of this action",
    "pattern": "does not match the expected format",
    "format": "is not an RFC 3339 date-time with offset",
    "enum": "is not one of the allowed values",
    "minLength": "is empty",
    "maxLength": "is too long",
    "minimum": "is below the allowed range",
    "maximum": "is above the allowed range",
    "type": "has the wrong type",
}


def check_action(action: str, body: Any) -> dict[str, Any]:
    """`body` checked against the action's schema; `InvalidRecord` names every field at fault."""
    if action not in ACTIONS:
        raise InvalidRecord(
            [Reason(code="unknown_action", field="/action", message=f"must be one of {', '.join(ACTIONS)}")]
        )
    if not isinstance(body, Mapping):
        raise InvalidRecord([Reason(code="schema_type", field="/", message="the body must be a JSON object")])
    reasons: list[Reason] = []
    for error in _validators()[action].iter_errors(body):
        rule = str(error.validator)
        base = "/" + "/".join(str(p) for p in error.absolute_path) if error.absolute_path else ""
        if rule == "required":
            names = [n for n in error.validator_value if n not in error.instance]
        elif rule == "additionalProperties":
            names = [n for n in error.instance if n not in error.schema.get("properties", {})]
        else:
            names = []
        if names:
            reasons += [Reason(f"schema_{rule}", f"{base}/{n}", _MESSAGES[rule]) for n in names]
        else:
            reasons.append(
                Reason(f"schema_{rule}", base or "/", _MESSAGES.get(rule, f"breaks the {rule} rule"))
            )
    if reasons:
        raise InvalidRecord(sorted(reasons, key=lambda r: r.field))
    return dict(body)


def _digest(action: str, case_id: str, body: Mapping[str, Any]) -> str:
    """What identifies an operation: the action, the case and what it says — not `at`, which a
    client retrying after a lost answer may well stamp afresh."""
    body = {name: value for name, value in body.items() if name != "at"}
    document = orjson.dumps(
        {"action": action, "case_id": case_id, "body": dict(body)}, option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(document).hexdigest()


_CASE_COLUMNS = [c for c in Case.__table__.columns]


def close_children(
    conn: Connection,
    keyring: KeyRing,
    reference: Reference,
    rules: Rules,
    parent: Mapping[str, Any],
    *,
    by: Actor,
    at: datetime,
    now: datetime,
    batch_id: str,
    skip: Collection[str] = (),
) -> int:
    """A parent's completion — by its handler, or at its own channel with a result — completes
    its open children with its result (311 practice): each gets a new version and history
    (`closed_with_parent`), its channel the result, and the handler it was dispatched to a
    cancellation, where they hear them. Children in `skip` (being written by the caller) are
    left alone. Returns how many were closed."""
    children = [
        dict(r)
        for r in conn.execute(
            select(*_CASE_COLUMNS).where(
                Case.duplicate_of == parent["case_id"], Case.status.not_in(sorted(ENDED))
            )
        ).mappings()
        if r["case_id"] not in skip
    ]
    events: list[outbox.NewEvent] = []
    history: list[dict[str, Any]] = []
    for previous in children:
        row = dict(previous)
        row.update(
            version=previous["version"] + 1,
            status="completed",
            result=parent["result"],
            closed_at=previous.get("closed_at") or at,
            updated_at=max(at, previous["updated_at"] + timedelta(milliseconds=1)),
        )
        changed = conn.execute(
            update(Case)
            .where(Case.case_id == row["case_id"], Case.version == previous["version"])
            .values(
                status=row["status"],
                result=row["result"],
                closed_at=row["closed_at"],
                updated_at=row["updated_at"],
                version=row["version"],
            )
        )
        if changed.rowcount != 1:
            continue
        history.append(
            {
                "case_id": row["case_id"],
                "version": row["version"],
                "raw_id": row["raw_id"],
                "batch_id": batch_id,
                "source_updated_at": row["updated_at"],
                "recorded_at": now,
                "changes": diff(previous, row),
                "events": [{"kind": "closed_with_parent", "parent": parent["case_id"], "by": by.key}],
            }
        )
        if wanted(str(row["channel"]), "result"):
            events.append(to_channel(rules, row, by, "result", at, result=parent["result"]))
        target = dispatch_target(previous, reference, rules)
        if previous["status"] in OPEN and target is not None and wanted(target[0], "cancel"):
            events.append(
                outbox.NewEvent(
                    partner=target[0],
                    kind="cancel",
                    case_id=str(row["case_id"]),
                    case_version=int(row["version"]),
                    source_id=str(row["source_id"]),
                    # The hub closes the child: the district that completed the parent
                    # still hears that its own dispatch of the child is over.
                    origin="hub",
                    data={"status": "completed", "at": iso(at), "duplicate_of": parent["case_id"]},
                    target=target[1],
                )
            )
    if history:
        conn.execute(insert(CaseHistory), history)
    outbox.write(conn, keyring, events, now)
    return len(history)


def to_channel(
    rules: Rules, row: Mapping[str, Any], actor: Actor, kind: str, at: datetime, **extra: Any
) -> outbox.NewEvent:
    """The event telling a case's own channel of its result (`result`) or another change."""
    unit = _unit_name(rules, row.get("assigned_unit"))
    if kind == "result":
        data = {
            "status": "completed",
            "result": extra["result"],
            "unit": unit,
            "unit_code": row.get("assigned_unit"),
            "completed_at": iso(at),
        }
    else:
        data = {
            "status": row["status"],
            "unit": unit,
            "note": extra.get("note"),
            "result": row.get("result"),
            "at": iso(at),
        }
    return outbox.NewEvent(
        partner=str(row["channel"]),
        kind=kind,
        case_id=str(row["case_id"]),
        case_version=int(row["version"]),
        source_id=str(row["source_id"]),
        origin=actor.origin,
        data=data,
    )


class Workflow:
    """Applies partners' actions to cases. Build one per store and key ring."""

    def __init__(
        self,
        engine: Engine,
        keyring: KeyRing,
        *,
        reference: Reference | None = None,
        rules: Rules | None = None,
        contract: CaseContract | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.keyring = keyring
        self.reference = reference or load_reference()
        self.rules = rules or load_rules()
        self.contract = contract or case_contract()
        self.clock = clock

    def act(self, actor: Actor, case_id: str, action: str, body: Any) -> Outcome:
        """Apply one action of `actor` on `case_id` (module docstring); raises `InvalidRecord`,
        `UnknownCase` or `ActionConflict`, each naming the field at fault."""
        fields = check_action(action, body)
        now = self.clock()
        prove_keyring(self.engine, self.keyring, now)
        at = datetime.fromisoformat(str(fields["at"]).replace("Z", "+00:00"))
        if at.tzinfo is None:
            raise InvalidRecord([Reason("schema_format", "/at", _MESSAGES["format"])])
        if at > now + FUTURE_TOLERANCE:
            raise InvalidRecord([Reason("future_time", "/at", "is ahead of the hub's clock")])
        digest = _digest(action, case_id, fields)
        with store_errors(), self.engine.begin() as conn:
            hold_active(conn, self.keyring)
            done = conn.execute(
                select(WorkflowOperation.request_hash, WorkflowOperation.outcome).where(
                    WorkflowOperation.actor == actor.key,
                    WorkflowOperation.operation_id == fields["operation_id"],
                )
            ).one_or_none()
            if done is not None:
                if done.request_hash != digest:
                    raise ActionConflict(
                        "operation_id: already used for another action",
                        code="operation_reused",
                        field="/operation_id",
                    )
                return Outcome(
                    **{**done.outcome, "deadline_at": _parsed(done.outcome["deadline_at"]), "duplicate": True}
                )
            return self._apply(conn, actor, case_id, action, fields, at, now, digest)

    def _apply(
        self,
        conn: Connection,
        actor: Actor,
        case_id: str,
        action: str,
        fields: Mapping[str, Any],
        at: datetime,
        now: datetime,
        digest: str,
    ) -> Outcome:
        query = select(*_CASE_COLUMNS).where(Case.case_id == case_id)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        found = conn.execute(query).mappings().one_or_none()
        stored = None if found is None else dict(found)
        if stored is None or not self._concerns(actor, action, stored):
            raise UnknownCase(
                f"no case {case_id} is dispatched to {actor.key}", code="not_found", field="/case_id"
            )
        previous = dict(stored)
        if previous["status"] not in ALLOWED[action]:
            raise ActionConflict(
                f"action: a case in status {previous['status']} cannot take {action}",
                code="status_conflict",
                field="/action",
            )
        row = dict(previous)
        row["version"] = previous["version"] + 1
        row["updated_at"] = max(at, previous["updated_at"] + timedelta(milliseconds=1))
        events, history_events = self._change(row, actor, action, fields, at)
        problems = self.contract.problems(self._unified(row))
        if problems:
            raise InvalidRecord(problems)
        raw_id, batch_id = str(uuid7()), str(uuid7())
        self._land(conn, actor, action, fields, digest, row, raw_id, batch_id, now)
        row["raw_id"] = raw_id
        changed = conn.execute(
            update(Case)
            .where(Case.case_id == case_id, Case.version == previous["version"])
            .values({name: row[name] for name in row if name != "case_id"})
        )
        if changed.rowcount != 1:
            raise ActionConflict(
                "the case changed meanwhile: send the action again", code="changed", field="/"
            )
        conn.execute(
            insert(CaseHistory),
            [
                {
                    "case_id": case_id,
                    "version": row["version"],
                    "raw_id": raw_id,
                    "batch_id": batch_id,
                    "source_updated_at": row["updated_at"],
                    "recorded_at": now,
                    "changes": diff(previous, row),
                    "events": [
                        {
                            "kind": f"{actor.partner}.{action}",
                            "by": actor.key,
                            "operation_id": fields["operation_id"],
                        },
                        *history_events,
                    ],
                }
            ],
        )
        outbox.write(conn, self.keyring, [e for e in events if wanted(e.partner, e.kind)], now)
        if action == "complete":
            self._close_children(conn, row, actor, at, now, batch_id)
        if actor.target is not None and action in ("accept", "return"):
            self._confirm_dispatches(conn, actor, case_id, now)
        outcome = Outcome(case_id, row["status"], row["version"], row["deadline_at"], duplicate=False)
        conn.execute(
            insert(WorkflowOperation),
            [
                {
                    "actor": actor.key,
                    "operation_id": fields["operation_id"],
                    "action": action,
                    "case_id": case_id,
                    "request_hash": digest,
                    "outcome": outcome.as_dict(),
                    "recorded_at": now,
                }
            ],
        )
        return outcome

    def _close_children(
        self,
        conn: Connection,
        parent: Mapping[str, Any],
        actor: Actor,
        at: datetime,
        now: datetime,
        batch_id: str,
    ) -> None:
        close_children(
            conn,
            self.keyring,
            self.reference,
            self.rules,
            parent,
            by=actor,
            at=at,
            now=now,
            batch_id=batch_id,
        )

    def _concerns(self, actor: Actor, action: str, case: Mapping[str, Any]) -> bool:
        """Whether the case exists for `actor`: a handler's actions for the cases dispatched to it,
        feedback from the health commission for the cases its allow-list selects."""
        if action == "feedback" or actor.partner == INFORMED:
            return action == "feedback" and actor.partner == INFORMED and _selected(case)
        return dispatch_target(case, self.reference, self.rules) == (actor.partner, actor.target)

    def _change(
        self, row: dict[str, Any], actor: Actor, action: str, fields: Mapping[str, Any], at: datetime
    ) -> tuple[list[outbox.NewEvent], list[dict[str, Any]]]:
        """Change `row` for the action; the events it causes and extra history events."""
        channel = str(row["channel"])
        notes: list[dict[str, Any]] = []
        if action in NEXT_STATUS:
            row["status"] = NEXT_STATUS[action]
        if action == "complete":
            row["result"] = fields["result"]
            row["closed_at"] = row.get("closed_at") or at
        elif action == "postpone":
            supervision = list(row.get("supervision") or [])
            if any(entry.get("kind") == "postponed" for entry in supervision):
                raise ActionConflict(
                    "days: the case was postponed once already", code="postponed_once", field="/days"
                )
            deadline = row["deadline_at"] or at
            day, _ = add_working_days(deadline.astimezone(_SHANGHAI).date(), int(fields["days"]))
            local = deadline.astimezone(_SHANGHAI)
            row["deadline_at"] = datetime.combine(day, local.timetz()).astimezone(UTC)
            row["time_limit_days"] = int(row.get("time_limit_days") or 0) + int(fields["days"])
            moved = {
                "days": int(fields["days"]),
                "deadline_from": _time(deadline),
                "deadline_to": _time(row["deadline_at"]),
                "approved": "once per case, up to 15 working days",
            }
            row["supervision"] = [
                *supervision,
                {
                    "kind": "postponed",
                    "level": "city",
                    "note": f"延期 {int(fields['days'])} 个工作日 postponed by {actor.key}",
                    "at": iso(at),
                    "by": actor.key,
                    **moved,
                },
            ]
            notes.append({"kind": "postponed", **moved})
        elif action == "return":
            return self._return(row, actor, fields, at)
        elif action == "feedback":
            # What the commission did is the landed action itself (sealed: its note may name
            # people); the history records that it came and its code.
            return [], [{"kind": "feedback", "code": fields["code"]}]
        events: list[outbox.NewEvent] = []
        if action == "complete" and wanted(channel, "result"):
            events.append(self._to_channel(row, actor, "result", at, result=fields["result"]))
        elif action in ("accept", "progress", "complete") and wanted(channel, "status"):
            events.append(self._to_channel(row, actor, "status", at, note=fields.get("note")))
        return events, notes

    def _return(
        self, row: dict[str, Any], actor: Actor, fields: Mapping[str, Any], at: datetime
    ) -> tuple[list[outbox.NewEvent], list[dict[str, Any]]]:
        suggested = fields.get("suggested_district")
        channel = str(row["channel"])
        if suggested and suggested != actor.target and suggested in self.reference.districts:
            row["district_code"] = suggested
            row["street_code"] = row["community_code"] = row["grid_code"] = None
            row["assigned_unit"] = self.rules.dispatch_unit(suggested).code
            row["status"] = "dispatched"
            event = _dispatch_event(row, (DISTRICT, suggested), actor.origin, self.reference, self.rules)
            return [event], [
                {
                    "kind": "redispatched",
                    "partner": DISTRICT,
                    "target": suggested,
                    "reason_code": fields["reason_code"],
                }
            ]
        row["status"] = "returned"
        row["assigned_unit"] = self.rules.dispatch_unit("").code
        events = []
        if wanted(channel, "status"):
            events.append(self._to_channel(row, actor, "status", at, note=fields["reason"]))
        return events, [{"kind": "returned", "reason_code": fields["reason_code"]}]

    def _to_channel(
        self, row: Mapping[str, Any], actor: Actor, kind: str, at: datetime, **extra: Any
    ) -> outbox.NewEvent:
        return to_channel(self.rules, row, actor, kind, at, **extra)

    def _unified(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The row in the contract's JSON form, the sealed reporter left out as empty."""
        case = {name: row.get(name) for name in CASE_FIELDS}
        for name, value in case.items():
            if isinstance(value, datetime):
                case[name] = iso(value)
        case["version"] = row["version"]
        case["reporter"] = {"name": None, "phone": None, "id_number": None}
        return case

    def _land(
        self,
        conn: Connection,
        actor: Actor,
        action: str,
        fields: Mapping[str, Any],
        digest: str,
        row: Mapping[str, Any],
        raw_id: str,
        batch_id: str,
        now: datetime,
    ) -> None:
        """The action as a raw record of the acting partner, in a batch of its own."""
        body = orjson.dumps(
            {"action": action, "case_id": row["case_id"], **fields}, option=orjson.OPT_SORT_KEYS
        )
        conn.execute(
            insert(Batch),
            [
                {
                    "batch_id": batch_id,
                    "channel": actor.partner,
                    "run_id": f"{actor.origin}:{action}",
                    "started_at": now,
                    "finished_at": now,
                    "received": 1,
                    "duplicates": 0,
                    "accepted": 1,
                    "quarantined": 0,
                    "superseded": 0,
                    "warnings": [],
                }
            ],
        )
        conn.execute(
            insert(RawRecord),
            [
                {
                    "raw_id": raw_id,
                    "batch_id": batch_id,
                    "channel": actor.partner,
                    "source_id": str(fields["operation_id"]),
                    "source_updated_at": row["updated_at"],
                    "content_hash": digest,
                    "key_id": self.keyring.active,
                    "payload": self.keyring.seal(body, associated_data("raw_records", "payload", raw_id)),
                    "received_at": now,
                    "outcome": "accepted",
                    "case_id": row["case_id"],
                }
            ],
        )

    def _confirm_dispatches(self, conn: Connection, actor: Actor, case_id: str, now: datetime) -> None:
        ids = list(
            conn.scalars(
                select(OutboxEvent.event_id).where(
                    OutboxEvent.partner == actor.partner,
                    OutboxEvent.target == actor.target,
                    OutboxEvent.case_id == case_id,
                    OutboxEvent.state == outbox.PENDING,
                )
            )
        )
        outbox.acknowledge(conn, actor.partner, str(actor.target), ids, now, how="action")


OPEN = ("dispatched", "accepted", "processing")
"""Statuses in which a case's deadline still runs."""


def _selected(case: Mapping[str, Any]) -> bool:
    """Whether the health commission's allow-list selects the case (health-related, or an
    epidemic keyword in its title or content) — the cases it is sent and may feed back on."""
    from casehub.recipients import load_recipient

    contract = load_recipient(INFORMED)
    if contract.health_related and case.get("health_related"):
        return True
    text = f"{case.get('title') or ''}\n{case.get('content') or ''}"
    return any(word in text for word in contract.keywords)


def _parsed(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
