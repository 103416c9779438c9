"""No personal value is in the store in clear: reporters' names, phone numbers and resident IDs
seeded as markers through every writer — cases, raw records, the quarantine, the outbox, the
webhook inbox, a district's SOAP password — and through a key rotation are not in the bytes of
the SQLite file and its WAL, nor in a `pg_dump` of the PostgreSQL database, in any encoding the
store could write them in. What is not personal (a work order's title) is, which shows the scan
reads the data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from casehub import credentials, inbox, normalize
from casehub.crypto import KeyRing
from casehub.keys import rotate
from casehub.pipeline import Pipeline
from casehub.store.models import OutboxEvent
from casehub.workflow import Actor, Workflow
from connectors.hotline import MAPPER
from tests.keyed import APP, NOW, orders, resident_id
from tests.keyed import Person as Reporter

REQUIRE_POSTGRES = os.environ.get("CASEHUB_REQUIRE_POSTGRES") == "1"
TITLE = "标记工单楼下烧烤店油烟扰民"
"""Not personal: stored as written, so found by the scan."""
LEGACY_ID = "420102850715321"
"""A first-generation card's 15 digits; the hub keeps its 18-character form."""
REPORTERS = [
    Reporter("欧阳标记甲", "+86 139 7777 0123", "+8613977770123", resident_id("420102", "19850715", "321")),
    Reporter("司马标记乙", "0086-138-6666-0456", "+8613866660456", LEGACY_ID),
]
BAD_PHONE = "1395555012"
"""Ten digits: quarantined as `invalid_phone`, kept only in its sealed raw record."""


def markers(password: str) -> dict[str, list[bytes]]:
    """Each personal value in every form the store could hold it in clear: as written, as the
    hub normalises it, JSON-escaped, UTF-16."""
    values = [password, BAD_PHONE, LEGACY_ID, normalize.resident_id(LEGACY_ID)]
    for person in REPORTERS:
        national = person.e164.removeprefix("+86")
        values += [person.name, person.phone, person.e164, national, f"{national[:3]} {national[3:7]}"]
        values.append(normalize.resident_id(person.id_number))
    return {
        value: [value.encode(), json.dumps(value)[1:-1].encode(), value.encode("utf-16-le")]
        for value in values
    }


def seed(engine: Engine) -> tuple[KeyRing, str]:
    """Every writer of sealed values, with the markers; then a rotation. The ring and the SOAP
    password issued."""
    ring = KeyRing.generate()
    records = orders(REPORTERS)
    for record in records:
        record["BT"] = TITLE
    records.append(orders(REPORTERS[:1], start=9)[0] | {"LDHM": BAD_PHONE})
    page = Pipeline(engine, MAPPER, ring).ingest(records)
    assert (page.accepted, page.quarantined) == (2, 1)
    for n, person in enumerate(REPORTERS):
        body = {
            "type": "report.created",
            "data": {"reporterName": person.name, "reporterPhone": person.phone},
        }
        inbox.land(
            engine,
            ring,
            APP,
            f"msg_{n}",
            "report.created",
            json.dumps(body, ensure_ascii=False).encode(),
            NOW,
        )
    soap = credentials.issue(engine, ring, "420102", kind="soap", now=NOW)
    with engine.connect() as conn:
        dispatched = conn.scalar(select(OutboxEvent.case_id).where(OutboxEvent.partner == "district"))
    accept = {"operation_id": "op-1", "at": NOW.isoformat()}
    Workflow(engine, ring).act(Actor("district", "420102"), str(dispatched), "accept", accept)
    rotated = ring.with_new_key()
    rotate(engine, rotated, batch_size=2)
    return rotated, soap.secret


def in_clear(data: bytes, password: str) -> list[str]:
    return [value for value, forms in markers(password).items() if any(form in data for form in forms)]


def test_the_sqlite_file_and_its_wal_hold_no_personal_value(sqlite_engine: Engine) -> None:
    _, password = seed(sqlite_engine)
    database = Path(str(sqlite_engine.url.database))
    files = [database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")]
    wal = files[1].read_bytes()
    assert wal and TITLE.encode() in wal  # the latest pages are in the WAL, and it is read
    for path in files:
        assert in_clear(path.read_bytes(), password) == [], path.name
    sqlite_engine.dispose()  # the last connection closes: the WAL is checkpointed into the file
    data = database.read_bytes()
    assert TITLE.encode() in data
    assert in_clear(data, password) == []


def test_a_pg_dump_of_the_store_holds_no_personal_value(postgres_engine: Engine) -> None:
    dump_command = shutil.which("pg_dump")
    if dump_command is None:
        message = "pg_dump is not installed (make test installs postgresql-client)"
        if REQUIRE_POSTGRES:
            pytest.fail(message)
        pytest.skip(message)
    _, password = seed(postgres_engine)
    url = postgres_engine.url
    dumped = subprocess.run(
        [
            dump_command,
            "--no-owner",
            "--host",
            url.host or "127.0.0.1",
            "--port",
            str(url.port or 5432),
            "--username",
            url.username or "postgres",
            str(url.database),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    ).stdout
    assert TITLE.encode() in dumped and b"COPY public.cases" in dumped
    assert in_clear(dumped, password) == []
