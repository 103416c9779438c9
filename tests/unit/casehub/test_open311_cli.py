"""`casehub open311-key`: a key shown once and stored only as a hash; listed without a secret;
revoked at once; an unknown key id is one line and exit 2."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, select

from casehub.cli import main
from casehub.open311 import keys
from casehub.store.models import Open311Key


@pytest.fixture
def store(sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("CASEHUB_DB_URL", str(sqlite_engine.url))
    return sqlite_engine


def test_a_key_is_shown_once_verified_listed_without_its_secret_and_revoked(store: Engine, capsys) -> None:
    assert main(["open311-key", "issue", "--client", "FixMyStreet 武汉", "--scopes", "open311:write"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["api_key"].startswith(f"o311_{shown['key_id']}_") and shown["scopes"] == ["open311:write"]
    secret = shown["api_key"].rsplit("_", 1)[1]
    with store.connect() as conn:
        stored = conn.execute(select(Open311Key.__table__)).one()
    assert secret not in json.dumps([str(v) for v in stored]), "only its digest is kept"
    caller = keys.verify(store, shown["api_key"])
    assert caller is not None and caller.client == "FixMyStreet 武汉" and caller.scopes == ("open311:write",)

    assert main(["open311-key", "list", "--json"]) == 0
    listed = capsys.readouterr().out
    assert secret not in listed and json.loads(listed)[0]["key_id"] == shown["key_id"]

    assert main(["open311-key", "revoke", shown["key_id"]]) == 0
    assert json.loads(capsys.readouterr().out) == {"revoked": [shown["key_id"]]}
    assert keys.verify(store, shown["api_key"]) is None
    assert main(["open311-key", "revoke", shown["key_id"]]) == 2
    assert "no live Open311 key" in capsys.readouterr().err


def test_a_wrong_scope_or_an_empty_client_is_refused(store: Engine, capsys) -> None:
    assert main(["open311-key", "issue", "--client", "an app", "--scopes", "cases:write"]) == 2
    assert main(["open311-key", "issue", "--client", "  "]) == 2
    assert keys.listing(store) == []


def test_a_quarantined_open311_request_is_listed_and_replayed_by_its_channel(
    store: Engine, keyring, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from datetime import UTC, datetime

    from casehub.open311.intake import land_request, process_requests
    from casehub.partners import load_connector, partner

    monkeypatch.setenv("CASEHUB_KEYRING", keyring.to_json())
    spec = partner("open311")
    fields = {"service_code": "020015", "description": "路灯不亮", "lat": None, "long": None,
              "address_string": "某个地方", "attributes": []}
    land_request(store, keyring, spec.code, "a1b2c3d4e5f6", fields, datetime.now(UTC))
    summary = process_requests(spec, load_connector(spec).MAPPER, engine=store, keyring=keyring)
    assert summary["quarantined"] == 1
    assert main(["quarantine", "list", "--json", "--channel", "open311"]) == 0
    [entry] = json.loads(capsys.readouterr().out)
    assert [r["code"] for r in entry["reasons"]] == ["unknown_district"]
    assert main(["quarantine", "replay", "--channel", "open311"]) == 0
    replayed = json.loads(capsys.readouterr().out)
    assert set(replayed) == {"open311"}, "the replay went through the channel's mapper"
    assert sum(replayed["open311"].values()) >= 1
