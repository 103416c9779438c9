"""No personal value reaches a place it must not go, on the paths where things fail.

The markers of `tests/markers.py` — a reporter's name, phone, ID number and address, each unique
— travel through the real DAGs (`dag.test()`) against the simulators over HTTP, on every failure
path: a record quarantined for each kind of defect, a partner that refuses the hub's credentials,
a push refused, a webhook with a bad signature, a district action refused, a replay that still
fails. Then every sink is searched for them: the logs (caplog and the task logs the runs write,
stdout and stderr), the exceptions' messages, XCom (the tasks' return values), the outbox's
dead-letter reasons, the quarantine's reasons and replay history, and the data-quality results
(`quality_results`, the trend, GX's result files and Data Docs under `var/quality`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import Engine, select

from casehub.partners import notified, partner
from tests.markers import ADDRESS, ID_NUMBER, NAME, PHONE, SHOWN, leaked, marked_order
from tests.samples import board_message

SHANGHAI = ZoneInfo("Asia/Shanghai")
LOCAL = "%Y-%m-%d %H:%M:%S"
CLOSED_PORT = "http://127.0.0.1:9"
MARKED_TEXT = f"{NAME}电话{PHONE}身份证{ID_NUMBER}住{ADDRESS}"

pytestmark = pytest.mark.slow


def _local(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime(LOCAL)


def _hotline_defects(now: datetime) -> list[dict[str, Any]]:
    """The marked work order, valid and health-related, and one defective copy per kind of defect
    a work order can carry — each still carrying every marker."""
    called, updated = _local(now - timedelta(hours=2)), _local(now - timedelta(hours=1))
    times = {"LDSJ": called, "GXSJ": updated}
    content = f"{MARKED_TEXT}，家里有人发热。"
    return [
        marked_order("WH20261120008765", SQNR=content, **times),
        marked_order("WH20261120008766", LDHM=PHONE + "0", **times),  # invalid_phone
        marked_order("WH20261120008767", SFZHM=ID_NUMBER[:-1] + "0", **times),  # invalid_id_number
        marked_order("WH20261120008768", SSQX="火星区", **times),  # unknown_district
        marked_order("WH20261120008769", LDSJ=updated, GXSJ=called),  # dq_updated_before_reported
        marked_order("WH20261120008770", GXSJ=_local(now + timedelta(days=30)), LDSJ=called),  # future_time
        marked_order("WH20261120008771", BT=MARKED_TEXT * 8, **times),  # schema_maxLength
        marked_order("WH20261120008772", LDSJ=MARKED_TEXT, GXSJ=updated),  # invalid_time
        marked_order("WH20261120008773", BT="", **times),  # missing_field
        marked_order("WH20261120008774", JJCD=MARKED_TEXT, **times),  # invalid_value
    ]


def _board_defects(now: datetime) -> list[bytes | str]:
    """Message board items as served, raw: what only a JSON partner can send."""
    ms = int((now - timedelta(hours=1)).timestamp() * 1000)

    def item(number: int, **changes: Any) -> str:
        marked = {
            "id": number,
            "createTime": ms - 60_000,
            "updateTime": ms,
            "nickName": NAME,
            "phone": PHONE,
            "address": ADDRESS,
            "content": MARKED_TEXT,
        }
        return json.dumps(board_message(**{**marked, **changes}))

    return [
        item(990001),
        item(990002, longitude=121.47, latitude=31.23),  # outside_city
        item(990003, areaName="火星区"),  # unknown_district
        item(990004, id=2**70),  # unencodable_value
        item(990005, title="\ud800" + MARKED_TEXT),  # unencodable_value
        item(990006).replace('"latitude": 30.599226', '"latitude": NaN'),  # unreadable_record
        item(990007).encode().replace(b'"status"', b'"st\xffatus"'),  # unreadable_record
        json.dumps(MARKED_TEXT),  # not_an_object
        item(990009, phone=PHONE[:7]),  # invalid_phone
    ]


def _connection(url: str, login: str | None, secret: str | None) -> str:
    return json.dumps({"conn_type": "http", "host": url, "login": login, "password": secret})


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Engine, Any]]:
    from casehub.crypto import KeyRing
    from casehub.store import connect, migrate

    db_url = f"sqlite:///{tmp_path / 'casehub.db'}"
    ring = KeyRing.generate()
    monkeypatch.setenv("CASEHUB_DB_URL", db_url)
    monkeypatch.setenv("CASEHUB_KEYRING", ring.to_json())
    monkeypatch.setenv("CASEHUB_HOME", str(tmp_path / "var"))
    engine = connect(db_url)
    migrate(engine)
    yield engine, ring
    engine.dispose()


def _everything_in_the_store_a_person_may_read(engine: Engine) -> dict[str, Any]:
    from casehub.store.models import (
        Batch,
        OutboxEvent,
        ProvisionLog,
        QualityResult,
        QualityTrend,
        Quarantine,
        WorkflowOperation,
    )

    with engine.connect() as conn:
        return {
            "outbox.last_error": list(conn.scalars(select(OutboxEvent.last_error))),
            "outbox.receipt": list(conn.scalars(select(OutboxEvent.receipt))),
            "quarantine.reasons": list(conn.scalars(select(Quarantine.reasons))),
            "quarantine.history": list(conn.scalars(select(Quarantine.history))),
            "batches.warnings": list(conn.scalars(select(Batch.warnings))),
            "workflow_operations.outcome": list(conn.scalars(select(WorkflowOperation.outcome))),
            "provision_log": [dict(row) for row in conn.execute(select(ProvisionLog.__table__)).mappings()],
            "quality_results": [
                dict(row) for row in conn.execute(select(QualityResult.__table__)).mappings()
            ],
            "quality_trend": [dict(row) for row in conn.execute(select(QualityTrend.__table__)).mappings()],
        }


def _xcom() -> list[Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        return [(row.dag_id, row.task_id, row.key, row.value) for row in session.query(XComModel).all()]


def test_failure_paths_leave_no_personal_value_in_any_sink(
    dagbag: Any,
    store: tuple[Engine, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from casehub import outbox, quarantine_view
    from casehub.districts import DistrictService
    from casehub.errors import CasehubError
    from casehub.gateway import create_app
    from casehub.quality import quality_context
    from casehub.store.models import Case, OutboxEvent, Quarantine
    from simulators.testing import start
    from tests.threaded import serving
    from tests.unit.casehub.gateway.deliveries import (
        PATH,
        SECRET_ENV,
        body_of,
        new_secret,
        partners,
        report,
        signed,
    )

    caplog.set_level(logging.DEBUG)
    engine, ring = store
    now = datetime.now(UTC)
    errors: list[str] = []
    hotline, board, health = (partner(code) for code in ("hotline", "message_board", "health_commission"))
    with (
        start("hotline", records=4, seed=31) as hotline_sim,
        start("message_board", records=4, seed=31) as board_sim,
        start("health_commission") as health_sim,
    ):
        assert hotline_sim.inject(_hotline_defects(now)) == 10
        assert board_sim.inject(_board_defects(now)) == 9
        assert hotline.simulator and board.simulator and health.simulator
        right = {
            hotline.connection: _connection(
                hotline_sim.url + hotline.simulator.path, hotline.simulator.login, hotline.simulator.secret
            ),
            board.connection: _connection(
                board_sim.url + board.simulator.path, board.simulator.login, board.simulator.secret
            ),
        }
        for spec in notified():
            placeholder = _connection(CLOSED_PORT, "casehub", new_secret())  # nobody listens there
            monkeypatch.setenv(f"AIRFLOW_CONN_{spec.connection.upper()}", placeholder)
        for connection, fields in right.items():
            monkeypatch.setenv(f"AIRFLOW_CONN_{connection.upper()}", fields)

        # A record quarantined for each kind of defect, from both partners, through their DAGs.
        assert dagbag.get_dag("ingest_hotline").test().state == "success"
        assert dagbag.get_dag("ingest_message_board").test().state == "success"
        with engine.connect() as conn:
            codes = {r["code"] for reasons in conn.scalars(select(Quarantine.reasons)) for r in reasons}
            [marked] = conn.scalars(select(Case.case_id).where(Case.source_id == "WH20261120008765"))
        assert {
            "invalid_phone",
            "invalid_id_number",
            "unknown_district",
            "dq_updated_before_reported",
            "future_time",
            "schema_maxLength",
            "invalid_time",
            "missing_field",
            "invalid_value",
            "outside_city",
            "unencodable_value",
            "unreadable_record",
            "not_an_object",
        } <= codes

        # A district action refused: a body that breaks its schema, an action its status forbids.
        service = DistrictService(engine, ring)
        at = now.isoformat()
        for action, body in (
            ("progress", {"operation_id": "p-1", "at": at, "note": MARKED_TEXT * 300}),
            ("complete", {"operation_id": "c-0", "at": at, "result": MARKED_TEXT}),
            ("return", {"operation_id": "r-1", "at": at, "reason_code": MARKED_TEXT, "reason": MARKED_TEXT}),
        ):
            with pytest.raises(CasehubError) as refused:
                service.act("420102", marked, action, body)
            errors.append(f"{refused.value!r} {refused.value} {getattr(refused.value, 'reasons', '')}")
        service.act("420102", marked, "accept", {"operation_id": "a-1", "at": at, "handler": NAME})
        service.act("420102", marked, "complete", {"operation_id": "c-1", "at": at, "result": MARKED_TEXT})

        # A partner that refuses: the hotline turns the hub's credentials away, for its work
        # orders and for the result; the outbox gives the result up as dead.
        refused_hotline = _connection(
            hotline_sim.url + hotline.simulator.path, hotline.simulator.login, "wrong"
        )
        monkeypatch.setenv(f"AIRFLOW_CONN_{hotline.connection.upper()}", refused_hotline)
        assert dagbag.get_dag("ingest_hotline").test().state == "failed"
        assert dagbag.get_dag("deliver_outbox").test().state == "success"
        with engine.connect() as conn:
            assert conn.scalar(select(OutboxEvent.state).where(OutboxEvent.partner == "hotline")) == "dead"

        # A replay that still fails: the dead result once more, the quarantine once more.
        assert outbox.replay(engine, partner="hotline") == 1
        assert dagbag.get_dag("deliver_outbox").test().state == "success"
        with engine.connect() as conn:
            ids = list(conn.scalars(select(Quarantine.id).where(Quarantine.state == "open")))
        replayed = quarantine_view.replay(engine, ring, ids)
        assert json.dumps(replayed.as_dict(), ensure_ascii=False, default=str)
        errors.append(json.dumps(replayed.as_dict(), ensure_ascii=False, default=str))

        # A push refused: the health commission turns the hub's signature away.
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{health.connection.upper()}",
            json.dumps(
                {
                    "conn_type": "http",
                    "host": health_sim.url + health.simulator.path,
                    "login": health.simulator.login,
                    "password": "not-the-secret",
                    "extra": {"settle_seconds": 0},
                }
            ),
        )
        assert dagbag.get_dag("push_health_commission").test().state == "failed"
        assert health_sim.batches() == {}

    # A webhook with a bad signature, at a gateway serving in this process (its log is caplog's);
    # and one signed rightly whose record is defective, quarantined by its processing DAG.
    secret = new_secret()
    monkeypatch.setenv(SECRET_ENV, secret)
    marked_report = report(reporterName=NAME, reporterPhone=PHONE, address=ADDRESS, content=MARKED_TEXT)
    body = body_of(marked_report)
    defective = body_of(report("WL202612018765", reporterName=NAME, reporterPhone=PHONE[:8], address=ADDRESS))
    with serving(create_app(engine, partners=partners(tmp_path))) as url:
        answer = requests.post(url + PATH, data=body, headers=signed(body, new_secret()), timeout=10)
        landed = requests.post(url + PATH, data=defective, headers=signed(defective, secret), timeout=10)
    assert (answer.status_code, landed.status_code) == (401, 202)
    errors.append(answer.text)
    assert dagbag.get_dag("process_webhooks_neighborhood_app").test().state == "success"

    # The day's data quality, its results and Data Docs built.
    day = now.astimezone(SHANGHAI).date().isoformat()
    assert dagbag.get_dag("quality_daily").test(run_conf={"day": day}).state == "success"
    # Where this process's quality context writes (it is opened once per process, so under the
    # CASEHUB_HOME of whichever test opened it first): the markers are unique, whoever wrote there.
    written = {"results": quality_context().results_dir, "data_docs": quality_context().docs_dir}
    quality_files = {name: [p for p in where.rglob("*") if p.is_file()] for name, where in written.items()}
    assert quality_files["results"] and quality_files["data_docs"]

    out, err = capfd.readouterr()
    sinks: dict[str, Any] = {
        "caplog": caplog.text,
        "stdout": out,
        "stderr": err,
        "exceptions": errors,
        "xcom": _xcom(),
        **_everything_in_the_store_a_person_may_read(engine),
        **{
            f"{name}/{p.relative_to(written[name])}": p.read_text(encoding="utf-8", errors="replace")
            for name, files in quality_files.items()
            for p in files
        },
    }
    # The sinks hold what each path left there, and the markers would be found in them.
    assert "hotline page:" in caplog.text and "message_board page:" in caplog.text
    assert "credentials refused" in caplog.text and "HTTP 401" in out + caplog.text
    assert [error for error in sinks["outbox.last_error"] if error and error["code"] == "refused"]
    assert sum(1 for history in sinks["quarantine.history"] if history) >= 13, "each replayed entry kept it"
    assert any(
        key == "return_value" and isinstance(value, dict) and value.get("quarantined")
        for _, _, key, value in sinks["xcom"]
    )  # a run's counts; other tasks of the session return lists (a backfill's windows)
    assert sinks["quality_results"]
    with engine.connect() as conn:
        stored = conn.execute(
            select(Case.title, Case.content, Case.address).where(Case.case_id == marked)
        ).one()
    assert set(leaked(json.dumps(list(stored), ensure_ascii=False))) == set(SHOWN), (
        "the store's text has them all"
    )
    found = {
        name: leaked(json.dumps(value, ensure_ascii=False, default=str)) for name, value in sinks.items()
    }
    assert {name: markers for name, markers in found.items() if markers} == {}
