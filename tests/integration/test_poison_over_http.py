"""Poison served by a real partner simulator over HTTP, through the connector, into a real store.

The simulator serves its seeded data with hostile records injected verbatim into its replies.
Every clean record must land, every poison record must be quarantined with its reason, the store
must reconcile, and the next run must see the poison again without landing it twice: a bad
record never blocks its channel.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from casehub.crypto import KeyRing
from casehub.pipeline import Pipeline
from casehub.stats import collect
from casehub.store import Case, Quarantine, RawRecord
from connectors.hotline import MAPPER as HOTLINE
from connectors.hotline.client import HotlineSource
from connectors.kit import Endpoint, RetryPolicy
from connectors.message_board import MAPPER as BOARD
from connectors.message_board.client import MessageBoardSource
from simulators.testing import RunningSimulator, start
from tests.samples import board_message, work_order

FAST = RetryPolicy(attempts=2, backoff=0.05, max_backoff=0.1)
NEXT_YEAR = datetime.now(UTC) + timedelta(days=365)


def _board_poison() -> list[tuple[bytes | str, str, str]]:
    """(raw JSON item as served, reason code, field) for the message board."""

    def item(**changes: Any) -> str:
        return json.dumps(board_message(**changes))

    future_ms = int(NEXT_YEAR.timestamp() * 1000)
    return [
        (item(id=70001, title="路灯\x00不亮"), "invalid_value", "title"),
        (item(id=70002, address="\x00"), "invalid_value", "address"),
        (item(id=70003, title="\ud800"), "unencodable_value", "/title"),
        (item(id=2**70), "unencodable_value", "/id"),
        (item(id=70005, updateTime="yesterday"), "invalid_time", "updateTime"),
        (item(id=70006, updateTime={"ms": 1}), "invalid_value", "updateTime"),
        (item(id="9" * 65), "invalid_id", "id"),
        (item(id=70008, address="汉" * 501), "schema_maxLength", "/address"),
        (item(id=70009, updateTime=253402297200000), "invalid_time", "updateTime"),
        (item(id=70010, updateTime=future_ms), "future_time", "updateTime"),
        ("5", "not_an_object", "/"),
        ('"留言"', "not_an_object", "/"),
        (item(id=70013).replace('"latitude": 30.599226', '"latitude": NaN'), "unreadable_record", "/"),
        (b"[" * 200_000 + b"]" * 200_000, "unreadable_record", "/"),
        (item(id=70015).encode().replace(b'"status"', b'"st\xffatus"'), "unreadable_record", "/"),
    ]


def _hotline_poison() -> list[tuple[dict[str, str], str, str]]:
    """(work order as served, reason code, field) for the hotline; XML cannot carry NUL."""
    future = NEXT_YEAR.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return [
        (work_order(GDBH="WH" + "9" * 63), "invalid_id", "GDBH"),
        (work_order(GDBH="WH29990000000002", GXSJ="9999-12-31 23:00:00Z"), "invalid_time", "GXSJ"),
        (work_order(GDBH="WH29990000000003", GXSJ="0001-01-01 00:00:00"), "invalid_time", "GXSJ"),
        (work_order(GDBH="WH29990000000004", GXSJ=future), "future_time", "GXSJ"),
        (work_order(GDBH="WH29990000000005", FSDZ="江" * 501), "schema_maxLength", "/address"),
        (work_order(GDBH="WH29990000000006", LDRXM="王" * 101), "schema_maxLength", "/reporter/name"),
        (work_order(GDBH="WH29990000000007", BLSX="9" * 40), "invalid_value", "BLSX"),
        (work_order(GDBH="WH29990000000008", GXSJ="2026-02-30 10:00:00"), "invalid_time", "GXSJ"),
    ]


@pytest.fixture(params=["hotline", "message_board"])
def partner(request: pytest.FixtureRequest) -> Iterator[tuple[RunningSimulator, list[tuple[Any, str, str]]]]:
    with start(request.param, records=60, seed=23) as simulator:
        poison = _hotline_poison() if request.param == "hotline" else _board_poison()
        assert simulator.inject(record for record, _, _ in poison) == len(poison)
        yield simulator, poison


def _run(engine: Engine, simulator: RunningSimulator, keyring: KeyRing) -> Any:
    if simulator.partner == "hotline":
        endpoint = Endpoint(
            url=simulator.url + "/ws/workorder",
            login="casehub",
            secret="hotline-demo-secret",
            timeout=10,
            page_size=25,
        )
        source: Any = HotlineSource(endpoint, retry=FAST)
        mapper: Any = HOTLINE
    else:
        endpoint = Endpoint(
            url=simulator.url, login="casehub", secret="board-demo-token", timeout=10, page_size=25
        )
        source, mapper = MessageBoardSource(endpoint, retry=FAST), BOARD
    until = datetime.now(UTC) + timedelta(seconds=1)
    with source:
        return Pipeline(engine, mapper, keyring).run(
            source, until=until, lookback=timedelta(minutes=30), initial_start=until - timedelta(days=30)
        )


def test_poison_from_the_partner_is_quarantined_and_never_blocks_the_channel(
    engine: Engine, keyring: KeyRing, partner: tuple[RunningSimulator, list[tuple[Any, str, str]]]
) -> None:
    simulator, poison = partner
    truth = simulator.truth()
    clean = {sid for sid, t in truth.items() if not set(t["defects"]) - {"stale_resend"}}

    first = _run(engine, simulator, keyring)

    with engine.connect() as conn:
        cases = set(conn.scalars(select(Case.source_id)))
        reasons = [r for entry in conn.scalars(select(Quarantine.reasons)) for r in entry]
        raw = conn.scalar(select(func.count()).select_from(RawRecord))
    assert clean <= cases, "every clean record of the partner landed beside the poison"
    found = {(r["code"], r["field"]) for r in reasons}
    for _, code, field in poison:
        assert (code, field) in found, (code, field)
    assert first.quarantined >= len(poison)
    assert collect(engine)["reconciled"]

    again = _run(engine, simulator, keyring)
    assert again.accepted == again.quarantined == 0, "the poison is seen again, and recognised"
    assert again.duplicates >= len(poison)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(RawRecord)) == raw
