"""Encryption at rest for personal data and raw payloads.

Personal fields (reporter name, phone, resident ID) and every raw payload are sealed with
AES-256-GCM. The associated data binds a ciphertext to its table, column and row, so a value
copied into another row or column no longer decrypts. Each ciphertext is stored beside the id of
the key that sealed it, so keys can be rotated: new writes use the active key, old rows still
open with theirs until `casehub keys rotate` (`casehub.keys`) has sealed them again.

The phone number also gets a blind index — HMAC-SHA256 under a separate key — so cases from the
same caller can be matched without decrypting anything. The ring holds one or more index keys:
new rows are indexed under the active one, and while a re-index moves the older rows over, a
look-up asks for the value under each of them (`blind_indexes`).

Every process finds the key ring the same way, through `load_keyring` (the CLI, the demo, the
gateway, the DAG glue): `CASEHUB_KEYRING` (the JSON), `CASEHUB_KEYRING_FILE` (a path to it), the
Airflow connection `casehub_keyring`, then the `keyring.json` that `casehub demo` creates in the
working directory (`var/`, or `CASEHUB_HOME`). The JSON is

    {"active": "<key id>", "keys": {"<key id>": "<base64, 32 bytes>", …},
     "index_active": "<key id>", "index_keys": {"<key id>": "<base64, ≥ 32 bytes>", …}}

A ring written before index keys rotated has one `"index_key": "<base64>"` instead of the last
two, read as the index key `index`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import overload
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from casehub.errors import ConfigurationError
from casehub.paths import ROOT

NONCE_BYTES = 12
INDEX_KEY_ID = "index"
"""The id of the blind-index key of a ring written before index keys rotated (`"index_key"`)."""
_FINGERPRINT_LABEL = b"casehub key fingerprint v1"
_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
"""A key id is stored beside every value it sealed (`String(32)` columns) and typed by operators."""
_NUMBERED = re.compile(r"([a-z])([0-9]+)")
NONCES_PER_DRAW = 1024


class _Nonces:
    """Random 96-bit nonces, drawn from the OS's random source a thousand at a time.

    A nonce must never repeat under one key, so each is a fresh slice of random bytes, never a
    counter; one draw of 12 KiB costs what one draw of 12 bytes does, and sealing runs on every
    personal value and every raw payload. A lock hands each slice out once across threads, and
    a forked process discards what it inherited (it would hand out the parent's slices again).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = b""
        self._at = 0

    def take(self) -> bytes:
        with self._lock:
            if self._at >= len(self._pool):
                self._pool, self._at = os.urandom(NONCE_BYTES * NONCES_PER_DRAW), 0
            start = self._at
            self._at += NONCE_BYTES
            return self._pool[start : start + NONCE_BYTES]

    def discard(self) -> None:
        self._lock = threading.Lock()
        self._pool, self._at = b"", 0


_NONCES = _Nonces()
os.register_at_fork(after_in_child=_NONCES.discard)


def associated_data(table: str, column: str, row_id: str) -> bytes:
    """What a ciphertext is bound to."""
    return f"{table}/{column}/{row_id}".encode()


def _fingerprint(key: bytes) -> str:
    return hmac.new(key, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class KeyRing:
    """Encryption keys and blind-index keys by id, each kind with its active key.

    Key ids are unique across both kinds, so an id alone names a key (`casehub keys retire k1`).
    Its repr names the key ids alone: a ring in a traceback or a log line shows no key.
    """

    keys: Mapping[str, bytes] = field(repr=False)
    active: str
    index_keys: Mapping[str, bytes] = field(repr=False)
    index_active: str

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise ConfigurationError("key ring: the active key id is not among its keys")
        if self.index_active not in self.index_keys:
            raise ConfigurationError("key ring: the active blind-index key id is not among its index keys")
        for key_id in (*self.keys, *self.index_keys):
            if not _KEY_ID.fullmatch(key_id):
                raise ConfigurationError(
                    "key ring: a key id must be 1 to 32 letters, digits, '.', '_' or '-'"
                )
        if set(self.keys) & set(self.index_keys):
            raise ConfigurationError("key ring: an id names both an encryption key and a blind-index key")
        for key_id, key in self.keys.items():
            if len(key) != 32:
                raise ConfigurationError(f"key ring: key {key_id!r} is not 32 bytes")
        for key_id, key in self.index_keys.items():
            if len(key) < 32:
                raise ConfigurationError(f"key ring: blind-index key {key_id!r} is shorter than 32 bytes")
            if any(hmac.compare_digest(key, other) for other in self.keys.values()):
                raise ConfigurationError("key ring: the blind-index key must differ from the encryption keys")

    @cached_property
    def _ciphers(self) -> dict[str, AESGCM]:
        """One AES-GCM object per key, made once: sealing runs on every value of every record."""
        return {key_id: AESGCM(key) for key_id, key in self.keys.items()}

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        """Encrypt under the active key: nonce ‖ ciphertext ‖ tag."""
        nonce = _NONCES.take()
        return nonce + self._ciphers[self.active].encrypt(nonce, plaintext, aad)

    def open(self, key_id: str, token: bytes, aad: bytes) -> bytes:
        try:
            cipher = self._ciphers[key_id]
        except KeyError:
            raise ConfigurationError(f"key ring: no key {key_id!r} to decrypt with") from None
        try:
            return cipher.decrypt(token[:NONCE_BYTES], token[NONCE_BYTES:], aad)
        except InvalidTag:
            raise ConfigurationError(
                "key ring: ciphertext does not open with its key and binding (wrong key or moved value)"
            ) from None

    def seal_text(self, value: str | None, aad: bytes) -> bytes | None:
        return None if value is None else self.seal(value.encode(), aad)

    def open_text(self, key_id: str, token: bytes | None, aad: bytes) -> str | None:
        return None if token is None else self.open(key_id, token, aad).decode()

    @overload
    def blind_index(self, value: str, key_id: str | None = None) -> str: ...
    @overload
    def blind_index(self, value: None, key_id: str | None = None) -> None: ...
    @overload
    def blind_index(self, value: str | None, key_id: str | None = None) -> str | None: ...

    def blind_index(self, value: str | None, key_id: str | None = None) -> str | None:
        """Keyed, deterministic digest of an already-normalized value (E.164 phone), under the
        active index key or the index key `key_id`."""
        if value is None:
            return None
        try:
            key = self.index_keys[key_id or self.index_active]
        except KeyError:
            raise ConfigurationError(f"key ring: no blind-index key {key_id!r}") from None
        return hmac.digest(key, value.encode(), "sha256").hex()

    def blind_indexes(self, value: str) -> tuple[str, ...]:
        """The value's digest under every index key of the ring, the active one first: what a
        look-up matches while a re-index moves rows from an older index key to the active one."""
        order = [self.index_active, *sorted(k for k in self.index_keys if k != self.index_active)]
        return tuple(hmac.digest(self.index_keys[k], value.encode(), "sha256").hex() for k in order)

    def fingerprints(self) -> dict[tuple[str, str], str]:
        """(key id, purpose) → a keyed digest that identifies each key without revealing it.

        Purpose is `seal` for the encryption keys and `index` for the blind-index keys. A store
        keeps these to recognise a ring that is not the one it was written with.
        """
        found = {(key_id, "seal"): _fingerprint(key) for key_id, key in self.keys.items()}
        found.update({(key_id, "index"): _fingerprint(key) for key_id, key in self.index_keys.items()})
        return found

    def with_new_key(self, *, index: bool = False) -> KeyRing:
        """This ring and a fresh key, made active: an encryption key, or a blind-index key.

        The new id counts on from the highest of its kind (`k2` after `k1`, `i2` after `i1` or
        the unnumbered `index`).
        """
        taken = {*self.keys, *self.index_keys}
        prefix, own = ("i", self.index_keys) if index else ("k", self.keys)
        numbers = [int(m[2]) for k in own if (m := _NUMBERED.fullmatch(k)) and m[1] == prefix]
        number = max(numbers, default=len(own)) + 1
        while f"{prefix}{number}" in taken:
            number += 1
        key_id = f"{prefix}{number}"
        if index:
            fresh = {**self.index_keys, key_id: secrets.token_bytes(32)}
            return replace(self, index_keys=MappingProxyType(fresh), index_active=key_id)
        keys = {**self.keys, key_id: AESGCM.generate_key(bit_length=256)}
        return replace(self, keys=MappingProxyType(keys), active=key_id)

    def without(self, key_id: str) -> KeyRing:
        """This ring less the key `key_id`, which must not be an active one."""
        if key_id in (self.active, self.index_active):
            raise ConfigurationError(f"key {key_id!r} is active in the ring: make another key active first")
        if key_id in self.keys:
            return replace(self, keys=MappingProxyType({k: v for k, v in self.keys.items() if k != key_id}))
        if key_id in self.index_keys:
            kept = {k: v for k, v in self.index_keys.items() if k != key_id}
            return replace(self, index_keys=MappingProxyType(kept))
        raise ConfigurationError(f"the key ring holds no key {key_id!r}")

    @classmethod
    def from_json(cls, text: str) -> KeyRing:
        try:
            data = json.loads(text)
            keys = {str(k): base64.b64decode(v, validate=True) for k, v in data["keys"].items()}
            if "index_keys" in data:
                index_keys = {
                    str(k): base64.b64decode(v, validate=True) for k, v in data["index_keys"].items()
                }
                index_active = str(data["index_active"])
            else:
                index_keys = {INDEX_KEY_ID: base64.b64decode(data["index_key"], validate=True)}
                index_active = INDEX_KEY_ID
            return cls(
                keys=MappingProxyType(keys),
                active=str(data["active"]),
                index_keys=MappingProxyType(index_keys),
                index_active=index_active,
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigurationError(f"key ring JSON is malformed ({type(exc).__name__})") from None

    def to_json(self) -> str:
        return json.dumps(
            {
                "active": self.active,
                "keys": {k: base64.b64encode(v).decode() for k, v in self.keys.items()},
                "index_active": self.index_active,
                "index_keys": {k: base64.b64encode(v).decode() for k, v in self.index_keys.items()},
            },
            indent=2,
        )

    @classmethod
    def generate(cls, key_id: str = "k1", index_key_id: str = "i1") -> KeyRing:
        return cls(
            keys=MappingProxyType({key_id: AESGCM.generate_key(bit_length=256)}),
            active=key_id,
            index_keys=MappingProxyType({index_key_id: secrets.token_bytes(32)}),
            index_active=index_key_id,
        )


KEYRING_CONNECTION = "casehub_keyring"
"""The Airflow connection that may hold the ring: password = its JSON, or extra = the ring itself."""
CONNECTION_VARIABLE = "AIRFLOW_CONN_CASEHUB_KEYRING"
"""Where Airflow itself reads that connection from the environment (JSON or URI form)."""
LOCAL_KEYRING = "keyring.json"


def local_keyring_path(env: Mapping[str, str] | None = None) -> Path:
    """The demo's ring: `keyring.json` in the working directory (`var/`, or `CASEHUB_HOME`)."""
    env = os.environ if env is None else env
    return Path(env.get("CASEHUB_HOME") or ROOT / "var") / LOCAL_KEYRING


def load_keyring(
    env: Mapping[str, str] | None = None, *, connection: Callable[[], str | None] | None = None
) -> KeyRing:
    """The key ring from the first place that holds one; none anywhere is a deployment error.

    1. `CASEHUB_KEYRING`, the JSON itself;
    2. `CASEHUB_KEYRING_FILE`, a path to it;
    3. the Airflow connection `casehub_keyring`: `connection()` reads it where Airflow is at hand
       (the DAG glue asks Airflow's own lookup: environment, secrets backend, metadata database)
       and returns what it holds, or None when there is no such connection; without it, the
       connection is read from `AIRFLOW_CONN_CASEHUB_KEYRING` as Airflow would (JSON or URI);
    4. the local file `casehub demo` created (`local_keyring_path`).

    A place that holds something unusable is an error naming that place, never a reason to look
    further: a ring found later would seal with keys nobody meant.
    """
    env = os.environ if env is None else env
    if text := env.get("CASEHUB_KEYRING"):
        return _ring(text, "CASEHUB_KEYRING")
    if path := env.get("CASEHUB_KEYRING_FILE"):
        try:
            return _ring(Path(path).read_text(encoding="utf-8"), f"CASEHUB_KEYRING_FILE ({path})")
        except FileNotFoundError:
            raise ConfigurationError(f"CASEHUB_KEYRING_FILE points to a missing file: {path}") from None
    where = f"the Airflow connection {KEYRING_CONNECTION}"
    if connection is None:
        held = _connection_from_environment(env)
        where = f"{where} ({CONNECTION_VARIABLE})"
    else:
        held = connection()
    if held is not None:
        if not held.strip() or held.strip() == "{}":
            raise ConfigurationError(f"{where} holds no key ring (password = the JSON, or extra = the ring)")
        return _ring(held, where)
    local = local_keyring_path(env)
    if local.is_file():
        return _ring(local.read_text(encoding="utf-8"), str(local))
    raise ConfigurationError(
        f"no key ring: looked in CASEHUB_KEYRING, CASEHUB_KEYRING_FILE, {where} and {local}"
    )


def _ring(text: str, place: str) -> KeyRing:
    try:
        return KeyRing.from_json(text)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{place}: {exc}") from None


def _connection_from_environment(env: Mapping[str, str]) -> str | None:
    """What `AIRFLOW_CONN_CASEHUB_KEYRING` holds: its password, else its extra, as JSON text.

    Airflow accepts a connection in the environment as JSON (`{"conn_type": …, "password": …,
    "extra": …}`) or as a URI (`generic://:<url-encoded JSON>@`, or the extra in `?__extra__=`).
    """
    value = env.get(CONNECTION_VARIABLE)
    if value is None:
        return None
    value = value.strip()
    if value.startswith("{"):
        try:
            fields = json.loads(value)
        except ValueError:
            raise ConfigurationError(f"{CONNECTION_VARIABLE} is not JSON nor a connection URI") from None
        if not isinstance(fields, dict):
            raise ConfigurationError(f"{CONNECTION_VARIABLE} is not a connection object")
        password, extra = fields.get("password"), fields.get("extra")
    else:
        try:
            parts = urlsplit(value)
            password = unquote(parts.password) if parts.password else None
        except ValueError:
            raise ConfigurationError(f"{CONNECTION_VARIABLE} is not JSON nor a connection URI") from None
        query = parse_qs(parts.query)
        extra = query["__extra__"][0] if "__extra__" in query else None
    if password:
        return str(password)
    if isinstance(extra, dict):
        return json.dumps(extra)
    return str(extra or "")


def ensure_local_keyring(path: Path) -> Path:
    """Create a key ring file for a local demo if there is none; never overwrite one."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(KeyRing.generate().to_json())
    return path
