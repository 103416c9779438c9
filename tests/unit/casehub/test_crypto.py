from __future__ import annotations

import json
import stat

import pytest

from casehub.crypto import KeyRing, associated_data, ensure_local_keyring, load_keyring
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
    new_key = KeyRing.generate("2026b")
    rotated = KeyRing(keys={**old.keys, **new_key.keys}, active="2026b", index_key=old.index_key)
    assert rotated.open("2026a", token, aad) == b"payload"
    assert rotated.blind_index("+8613800138000") == old.blind_index("+8613800138000")
    fresh = rotated.seal(b"payload", aad)
    with pytest.raises(ConfigurationError):
        old.open("2026b", fresh, aad)


def test_blind_index_is_keyed_and_deterministic(keyring: KeyRing) -> None:
    other = KeyRing.generate()
    value = "+8613800138000"
    assert keyring.blind_index(value) == keyring.blind_index(value)
    assert keyring.blind_index(value) != other.blind_index(value)
    assert value not in (keyring.blind_index(value) or "")
    assert keyring.blind_index(None) is None


def test_malformed_key_ring_is_refused_without_echoing_it() -> None:
    text = json.dumps({"active": "k1", "keys": {"k1": "c2VjcmV0LXNlY3JldA=="}, "index_key": "x"})
    with pytest.raises(ConfigurationError) as raised:
        KeyRing.from_json(text)
    assert "c2VjcmV0" not in str(raised.value)
    with pytest.raises(ConfigurationError, match="no key ring"):
        load_keyring({})


def test_index_key_must_differ_from_encryption_keys() -> None:
    ring = KeyRing.generate()
    with pytest.raises(ConfigurationError, match="must differ"):
        KeyRing(keys=ring.keys, active=ring.active, index_key=ring.keys[ring.active])


def test_local_key_ring_is_private_and_never_overwritten(tmp_path) -> None:
    path = ensure_local_keyring(tmp_path / "keyring.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_text()
    ensure_local_keyring(path)
    assert path.read_text() == first
    assert load_keyring({"CASEHUB_KEYRING_FILE": str(path)}).active == "k1"
