from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import stat
from urllib.parse import quote

import pytest

from casehub.crypto import (
    CONNECTION_VARIABLE,
    INDEX_KEY_ID,
    NONCE_BYTES,
    NONCES_PER_DRAW,
    KeyRing,
    associated_data,
    ensure_local_keyring,
    load_keyring,
    local_keyring_path,
)
from casehub.errors import ConfigurationError


def test_sealed_value_opens_only_where_it_was_sealed(keyring: KeyRing) -> None:
    aad = associated_data("cases", "reporter_phone", "case-1")
    token = keyring.seal(b"+8613800138000", aad)
    assert b"13800138000" not in token
    assert keyring.open(keyring.active, token, aad) == b"+8613800138000"
    with pytest.raises(ConfigurationError, match="moved value"):
        keyring.open(keyring.active, token, associated_data("cases", "reporter_phone", "case-2"))
    with pytest.raises(ConfigurationError):
        keyring.open(keyring.active, token, associated_data("cases", "reporter_name", "case-1"))


def test_rotated_ring_still_opens_old_ciphertexts() -> None:
    old = KeyRing.generate("2026a")
    aad = associated_data("raw_records", "payload", "r1")
    token = old.seal(b"payload", aad)
    rotated = old.with_new_key()
    assert rotated.active == "k2" and set(rotated.keys) == {"2026a", "k2"}
    assert rotated.open("2026a", token, aad) == b"payload"
    assert rotated.blind_index("+8613800138000") == old.blind_index("+8613800138000")
    fresh = rotated.seal(b"payload", aad)
    with pytest.raises(ConfigurationError):
        old.open("k2", fresh, aad)


def test_a_new_blind_index_key_is_active_and_the_old_one_still_answers_look_ups() -> None:
    old = KeyRing.generate()
    phone = "+8613800138000"
    rotated = old.with_new_key(index=True)
    assert (rotated.index_active, sorted(rotated.index_keys)) == ("i2", ["i1", "i2"])
    assert rotated.keys == old.keys and rotated.active == old.active
    assert rotated.blind_index(phone) != old.blind_index(phone)
    assert rotated.blind_index(phone, "i1") == old.blind_index(phone)
    assert rotated.blind_indexes(phone) == (rotated.blind_index(phone), old.blind_index(phone))
    assert rotated.without("i1").blind_indexes(phone) == (rotated.blind_index(phone),)
    with pytest.raises(ConfigurationError, match="no blind-index key 'i9'"):
        rotated.blind_index(phone, "i9")


def test_a_ring_of_one_index_key_reads_as_before_and_counts_on_from_it() -> None:
    ring = KeyRing.generate()
    legacy = json.dumps(
        {
            "active": "k1",
            "keys": {"k1": base64.b64encode(ring.keys["k1"]).decode()},
            "index_key": base64.b64encode(ring.index_keys["i1"]).decode(),
        }
    )
    read = KeyRing.from_json(legacy)
    assert (read.index_active, list(read.index_keys)) == (INDEX_KEY_ID, [INDEX_KEY_ID])
    assert read.blind_index("+8613800138000") == ring.blind_index("+8613800138000")
    assert read.with_new_key(index=True).index_active == "i2"
    assert KeyRing.from_json(read.to_json()) == read


def test_an_active_or_unknown_key_cannot_be_taken_out_of_the_ring() -> None:
    ring = KeyRing.generate().with_new_key()
    assert set(ring.without("k1").keys) == {"k2"}
    for active in ("k2", "i1"):
        with pytest.raises(ConfigurationError, match="active"):
            ring.without(active)
    with pytest.raises(ConfigurationError, match="no key 'k7'"):
        ring.without("k7")


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"keys": {"k 1": bytes(32)}, "active": "k 1"}, "key id must be"),
        ({"keys": {"x" * 33: bytes(32)}, "active": "x" * 33}, "key id must be"),
        ({"keys": {"i1": bytes(32)}, "active": "i1"}, "names both"),
        ({"index_active": "i2"}, "active blind-index key"),
        ({"index_keys": {"i1": bytes(16)}}, "shorter than 32 bytes"),
    ],
)
def test_a_ring_that_could_not_be_told_apart_or_used_is_refused(
    change: dict[str, object], refusal: str
) -> None:
    ring = KeyRing.generate()
    fields = {"keys": ring.keys, "active": ring.active, "index_keys": ring.index_keys, "index_active": "i1"}
    with pytest.raises(ConfigurationError, match=refusal):
        KeyRing(**{**fields, **change})  # type: ignore[arg-type]


def test_no_two_seals_share_a_nonce_across_draws_of_random_bytes(keyring: KeyRing) -> None:
    aad = associated_data("cases", "reporter_phone", "case-1")
    nonces = [keyring.seal(b"x", aad)[:NONCE_BYTES] for _ in range(3 * NONCES_PER_DRAW + 5)]
    assert len(set(nonces)) == len(nonces)


def test_a_forked_process_seals_with_nonces_of_its_own(keyring: KeyRing) -> None:
    """A child inherits the parent's drawn random bytes; it must not hand them out again."""
    aad = associated_data("raw_records", "payload", "raw-1")
    keyring.seal(b"x", aad)  # the parent holds a drawn pool, mostly unused
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.close(read)
        os.write(write, b"".join(keyring.seal(b"x", aad)[:NONCE_BYTES] for _ in range(8)))
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        theirs = pipe.read()
    os.waitpid(child, 0)
    ours = b"".join(keyring.seal(b"x", aad)[:NONCE_BYTES] for _ in range(8))
    split = {theirs[i : i + NONCE_BYTES] for i in range(0, len(theirs), NONCE_BYTES)}
    assert len(split) == 8
    assert split.isdisjoint({ours[i : i + NONCE_BYTES] for i in range(0, len(ours), NONCE_BYTES)})


def test_blind_index_is_keyed_and_deterministic(keyring: KeyRing) -> None:
    other = KeyRing.generate()
    value = "+8613800138000"
    assert keyring.blind_index(value) == keyring.blind_index(value)
    assert keyring.blind_index(value) != other.blind_index(value)
    assert value not in (keyring.blind_index(value) or "")
    assert keyring.blind_index(None) is None
    key = keyring.index_keys[keyring.index_active]
    assert keyring.blind_index(value) == hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def test_malformed_key_ring_is_refused_without_echoing_it() -> None:
    text = json.dumps({"active": "k1", "keys": {"k1": "c2VjcmV0LXNlY3JldA=="}, "index_key": "x"})
    with pytest.raises(ConfigurationError) as raised:
        KeyRing.from_json(text)
    assert "c2VjcmV0" not in str(raised.value)
    with pytest.raises(ConfigurationError, match="no key ring"):
        load_keyring({"CASEHUB_HOME": "/nonexistent"})


def test_index_key_must_differ_from_encryption_keys() -> None:
    ring = KeyRing.generate()
    with pytest.raises(ConfigurationError, match="must differ"):
        KeyRing(
            keys=ring.keys, active=ring.active, index_keys={"i1": ring.keys[ring.active]}, index_active="i1"
        )


def test_local_key_ring_is_private_and_never_overwritten(tmp_path) -> None:
    path = ensure_local_keyring(tmp_path / "keyring.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_text()
    ensure_local_keyring(path)
    assert path.read_text() == first
    assert load_keyring({"CASEHUB_KEYRING_FILE": str(path)}).active == "k1"


def _rings(count: int) -> list[KeyRing]:
    return [KeyRing.generate(f"k{n}") for n in range(1, count + 1)]


def test_the_key_ring_is_looked_for_in_one_order(tmp_path) -> None:
    env_ring, file_ring, connection_ring, local_ring = _rings(4)
    ring_file = tmp_path / "ring.json"
    ring_file.write_text(file_ring.to_json())
    local = local_keyring_path({"CASEHUB_HOME": str(tmp_path)})
    local.write_text(local_ring.to_json())
    everywhere = {
        "CASEHUB_HOME": str(tmp_path),
        "CASEHUB_KEYRING": env_ring.to_json(),
        "CASEHUB_KEYRING_FILE": str(ring_file),
        CONNECTION_VARIABLE: json.dumps({"conn_type": "generic", "password": connection_ring.to_json()}),
    }
    found = []
    for drop in ("", "CASEHUB_KEYRING", "CASEHUB_KEYRING_FILE", CONNECTION_VARIABLE):
        everywhere.pop(drop, None)
        found.append(load_keyring(everywhere).active)
    assert found == ["k1", "k2", "k3", "k4"]


def test_the_demos_local_file_is_found_with_nothing_set(tmp_path) -> None:
    env = {"CASEHUB_HOME": str(tmp_path)}
    path = ensure_local_keyring(local_keyring_path(env))
    assert path == tmp_path / "keyring.json"
    assert load_keyring(env).to_json() == path.read_text()


@pytest.mark.parametrize(
    "form",
    [
        lambda ring: json.dumps({"conn_type": "generic", "password": ring.to_json()}),
        lambda ring: json.dumps({"conn_type": "generic", "extra": json.loads(ring.to_json())}),
        lambda ring: json.dumps({"conn_type": "generic", "extra": ring.to_json()}),
        lambda ring: "generic://:" + quote(ring.to_json(), safe="") + "@",
        lambda ring: "generic://?__extra__=" + quote(ring.to_json(), safe=""),
    ],
    ids=["json-password", "json-extra-object", "json-extra-text", "uri-password", "uri-extra"],
)
def test_the_airflow_connection_is_read_from_the_environment_in_each_form(tmp_path, form) -> None:
    ring = KeyRing.generate("conn")
    env = {"CASEHUB_HOME": str(tmp_path), CONNECTION_VARIABLE: form(ring)}
    assert load_keyring(env).to_json() == ring.to_json()


def test_the_glue_hands_in_airflows_own_lookup_of_the_connection(tmp_path) -> None:
    ring, other = _rings(2)
    env = {"CASEHUB_HOME": str(tmp_path), CONNECTION_VARIABLE: json.dumps({"password": other.to_json()})}
    assert load_keyring(env, connection=ring.to_json).active == "k1"
    asked = []
    assert (
        load_keyring({**env, "CASEHUB_KEYRING": other.to_json()}, connection=lambda: asked.append(1)) == other
    )
    assert asked == []  # the environment comes first: Airflow is not asked
    ensure_local_keyring(local_keyring_path(env))
    assert load_keyring(env, connection=lambda: None).active == "k1"  # no connection: the local file


def test_nothing_found_names_every_place_looked_in(tmp_path) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_keyring({"CASEHUB_HOME": str(tmp_path)})
    message = str(raised.value)
    for place in ("CASEHUB_KEYRING", "CASEHUB_KEYRING_FILE", "casehub_keyring", CONNECTION_VARIABLE):
        assert place in message
    assert str(tmp_path / "keyring.json") in message
    with pytest.raises(ConfigurationError) as raised:
        load_keyring({"CASEHUB_HOME": str(tmp_path)}, connection=lambda: None)
    assert "the Airflow connection casehub_keyring and" in str(raised.value)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CASEHUB_KEYRING": "{"}, "CASEHUB_KEYRING: key ring JSON is malformed"),
        (
            {CONNECTION_VARIABLE: json.dumps({"password": "{"})},
            "casehub_keyring (AIRFLOW_CONN_CASEHUB_KEYRING)",
        ),
        ({CONNECTION_VARIABLE: json.dumps({"conn_type": "generic"})}, "holds no key ring"),
        ({CONNECTION_VARIABLE: "{not json"}, "is not JSON nor a connection URI"),
    ],
)
def test_an_unusable_ring_is_refused_where_it_was_found(tmp_path, env, named) -> None:
    ensure_local_keyring(local_keyring_path({"CASEHUB_HOME": str(tmp_path)}))
    with pytest.raises(ConfigurationError, match=re.escape(named)):
        load_keyring({"CASEHUB_HOME": str(tmp_path), **env})


def test_a_key_ring_printed_in_a_traceback_or_log_shows_its_key_ids_and_no_key() -> None:
    ring = KeyRing.generate()
    shown = repr(ring) + str(ring) + f"{ring!r}"
    assert "k1" in shown and "i1" in shown
    for key in (*ring.keys.values(), *ring.index_keys.values()):
        for form in (repr(key), key.hex(), base64.b64encode(key).decode()):
            assert form not in shown
