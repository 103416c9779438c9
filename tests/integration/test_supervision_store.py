"""Deadline supervision over the store, on SQLite and PostgreSQL, on a frozen clock: reminders,
supervision, a raised grade and a re-dispatch by the rule table, each notice fetched by the
district through the standard interface; a postponement moves the deadline and the history says
so; nothing fires twice."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from casehub import supervision
from casehub.crypto import KeyRing
from casehub.districts import DistrictService
from casehub.normalize import SHANGHAI
from casehub.partners import load_connector, partner
from casehub.pipeline import Pipeline
from casehub.store.models import Case, CaseHistory, SupervisionNotice
from tests.samples import report

DISTRICT = "420103"
COMMUNITY = "community.420103002002"  # 团结里社区, under 花楼街道
STREET = "street.420103002"


def at(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=SHANGHAI).astimezone(UTC)


def frozen(moment: datetime) -> Any:
    return lambda: moment


class Clock:
    """The hub's clock, frozen, moved on by the test."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


def land(engine: Engine, keyring: KeyRing, *ids: str) -> dict[str, str]:
    """Community app reports (求助, grade A, three working days), received on Monday 16 November:
    routed to their community, dispatched to 江汉区, due Thursday 19 November at 18:00."""
    mapper = load_connector(partner("neighborhood_app")).MAPPER
    records = [
        report(reportId=i, reportType="求助", status="已受理", updatedAt="2026-11-16T08:00:00+08:00")
        for i in ids
    ]
    page = Pipeline(engine, mapper, keyring, clock=frozen(at("2026-11-16 09:00"))).ingest(records)
    assert page.accepted == len(ids)
    with engine.connect() as conn:
        return dict(conn.execute(select(Case.source_id, Case.case_id)).all())


def case(engine: Engine, case_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(
            conn.execute(select(Case).where(Case.case_id == case_id)).mappings().one()["Case"].__dict__
        )


def row(engine: Engine, case_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        found = conn.execute(select(*Case.__table__.columns).where(Case.case_id == case_id)).mappings().one()
        return dict(found)


def notices(engine: Engine) -> list[tuple[str, str, str, int, str | None]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(
                    SupervisionNotice.case_id,
                    SupervisionNotice.rule_id,
                    SupervisionNotice.level,
                    SupervisionNotice.working_days,
                    SupervisionNotice.unit_to,
                ).order_by(SupervisionNotice.id)
            )
        ]


def last_history(engine: Engine, case_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        found = conn.execute(
            select(CaseHistory.changes, CaseHistory.events)
            .where(CaseHistory.case_id == case_id)
            .order_by(CaseHistory.version.desc())
            .limit(1)
        ).one()
        return {"changes": found.changes, "events": found.events}


def test_supervision_reminds_supervises_raises_and_redispatches_by_the_table(
    engine: Engine, keyring: KeyRing
) -> None:
    ids = land(engine, keyring, "WLL1", "WLL2")
    late, postponed = ids["WLL1"], ids["WLL2"]
    clock = Clock(at("2026-11-17 10:00"))
    service = DistrictService(engine, keyring, clock=clock)
    for case_id in (late, postponed):
        service.act(
            DISTRICT, case_id, "accept", {"operation_id": f"a-{case_id}", "at": "2026-11-17T10:00:00+08:00"}
        )
    assert {e.kind for e in service.dispatches(DISTRICT)} == set()  # the accepts confirmed the dispatches

    # Wednesday 18 November: one working day before the deadline, a reminder (催办) each.
    counts = supervision.supervise(engine, keyring, clock=frozen(at("2026-11-18 09:00")))
    assert counts["cases"] == 2 and counts["level_reminder"] == 2 and counts["events"] == 2
    listed = {d.case_id: d for d in service.dispatches(DISTRICT)}
    assert {d.kind for d in listed.values()} == {"urge"}
    assert listed[late].notice == {
        "level": "reminder",
        "level_name": "催办",
        "rules": ["remind_before_deadline"],
        "actions": ["notify"],
        "deadline_at": "2026-11-19T18:00:00+08:00",
        "working_days": -1,
        "redispatched_to": None,
    }
    assert supervision.supervise(engine, keyring, clock=frozen(at("2026-11-18 15:00")))["cases"] == 0

    clock.moment = at("2026-11-18 16:00")
    # The second case's unit asks for three more working days (延期): due Tuesday 24 November.
    outcome = service.act(
        DISTRICT,
        postponed,
        "postpone",
        {
            "operation_id": f"p-{postponed}",
            "at": "2026-11-18T16:00:00+08:00",
            "days": 3,
            "reason": "需协调物业",
        },
    )
    assert outcome.deadline_at == at("2026-11-24 18:00")
    moved = last_history(engine, postponed)
    assert moved["changes"]["deadline_at"] == ["2026-11-19T10:00:00+00:00", "2026-11-24T10:00:00+00:00"]
    assert {
        "kind": "postponed",
        "days": 3,
        "deadline_from": "2026-11-19T18:00:00+08:00",
        "deadline_to": "2026-11-24T18:00:00+08:00",
        "approved": "once per case, up to 15 working days",
    } in moved["events"]

    # Thursday 26 November, 5 working days past the first deadline (20, 23, 24, 25, 26): 督办, the
    # grade raised, then 挂牌督办 re-dispatched to the street office. The postponed case is two
    # days past its new deadline: supervision only.
    counts = supervision.supervise(engine, keyring, clock=frozen(at("2026-11-26 09:00")))
    assert counts["cases"] == 2
    assert counts["level_supervision"] == 2 and counts["level_escalated"] == 2
    assert counts["action_raise_grade"] == 1 and counts["action_redispatch"] == 1
    escalated = row(engine, late)
    assert (escalated["grade"], escalated["assigned_unit"], escalated["status"]) == (
        "B",
        STREET,
        "dispatched",
    )
    assert [e.get("rule") for e in escalated["supervision"]] == [
        "remind_before_deadline",
        "supervise_overdue",
        "raise_grade_overdue",
        "redispatch_overdue",
    ]
    history = last_history(engine, late)
    assert history["changes"]["grade"] == ["A", "B"]
    assert history["changes"]["assigned_unit"] == [COMMUNITY, STREET]
    assert history["events"][0] == {
        "kind": "supervised",
        "level": "escalated",
        "rules": ["supervise_overdue", "raise_grade_overdue", "redispatch_overdue"],
        "deadline_at": "2026-11-19T18:00:00+08:00",
        "working_days": 5,
    }
    kept = row(engine, postponed)
    assert (kept["grade"], kept["assigned_unit"], kept["status"]) == ("A", COMMUNITY, "accepted")
    assert [n[1:] for n in notices(engine) if n[0] == postponed] == [
        ("remind_before_deadline", "reminder", -1, None),
        ("supervise_overdue", "supervision", 2, None),
    ]
    assert [n[1:] for n in notices(engine) if n[0] == late][-1] == (
        "redispatch_overdue",
        "escalated",
        5,
        STREET,
    )

    # The district hears the notices and the re-dispatch, in order, and takes the case again.
    listed_now = [(d.case_id, d.kind, (d.notice or {}).get("level")) for d in service.dispatches(DISTRICT)]
    assert listed_now == [
        (late, "urge", "reminder"),
        (postponed, "urge", "reminder"),
        (late, "urge", "escalated"),
        (late, "dispatch", None),
        (postponed, "urge", "supervision"),
    ]
    redispatched = next(d for d in service.dispatches(DISTRICT) if d.kind == "dispatch")
    assert redispatched.case["assigned_unit"] == STREET and redispatched.case["grade"] == "B"
    clock.moment = at("2026-11-26 10:00")
    again = service.act(
        DISTRICT, late, "accept", {"operation_id": f"a2-{late}", "at": "2026-11-26T10:00:00+08:00"}
    )
    assert again.status == "accepted"

    # Run again at the same moment, and a week later: nothing fires twice for the same deadline.
    assert supervision.supervise(engine, keyring, clock=frozen(at("2026-11-26 09:30")))["cases"] == 0
    assert (
        supervision.supervise(engine, keyring, clock=frozen(at("2026-12-03 09:00")))["cases"] == 1
    )  # postponed: raised
    assert len(notices(engine)) == 8


def test_supervision_in_many_chunks_supervises_each_case_once(engine: Engine, keyring: KeyRing) -> None:
    """Chunks of two cases, run side by side on PostgreSQL: every case supervised once, with its
    version, notice and event, and a rerun fires nothing."""
    ids = land(engine, keyring, *(f"WLL{n}" for n in range(7)))
    counts = supervision.supervise(engine, keyring, clock=frozen(at("2026-11-20 09:00")), chunk=2)
    assert counts["candidates"] == counts["cases"] == 7 and counts["level_supervision"] == 7
    assert counts["events"] == 7
    assert sorted(n[0] for n in notices(engine)) == sorted(ids.values())
    for case_id in ids.values():
        supervised = row(engine, case_id)
        assert supervised["version"] == 2
        assert [e["rule"] for e in supervised["supervision"]] == ["supervise_overdue"]
    again = supervision.supervise(engine, keyring, clock=frozen(at("2026-11-20 09:00")), chunk=2)
    assert again["cases"] == 0
