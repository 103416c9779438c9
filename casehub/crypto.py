"""Encryption at rest for personal data and raw payloads.

Personal fields (reporter name, phone, resident ID) and every raw payload are sealed with
AES-256-GCM. The associated data binds a ciphertext to its table, column and row, so a value
copied into another row or column no longer decrypts. Each ciphertext is stored beside the id of
the key that sealed it, so keys can be rotated: new writes use the active key, old rows still
open with theirs.

The phone number also gets a blind index — HMAC-SHA256 under a separate key — so cases from the
same caller can be matched without decrypting anything.

Every process finds the key ring the same way, through `load_keyring` (the CLI, the demo, the
gateway, the DAG glue): `CASEHUB_KEYRING` (the JSON), `CASEHUB_KEYRING_FILE` (a path to it), the
Airflow connection `casehub_keyring`, then the `keyring.json` that `casehub demo` creates in the
working directory (`var/`, or `CASEHUB_HOME`). The JSON is
`{"active": "<key id>", "keys": {"<key id>": "<base64, 32 bytes>"}, "index_key": "<base64>"}`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from casehub.errors import ConfigurationError
from casehub.paths import ROOT

NONCE_BYTES = 12
INDEX_KEY_ID = "index"
"""The id under which the blind-index key's fingerprint is kept; the ring's JSON names it apart."""
_FINGERPRINT_LABEL = b"casehub key fingerprint v1"


def associated_data(table: str, column: str, row_id: str) -> bytes:
    """What a ciphertext is bound to."""
    return f"{table}/{column}/{row_id}".encode()


@dataclass(frozen=True)
class KeyRing:
    keys: Mapping[str, bytes]
    active: str
    index_key: bytes

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise ConfigurationError("key ring: the active key id is not among its keys")
        for key_id, key in self.keys.items():
            if len(key) != 32:
                raise ConfigurationError(f"key ring: key {key_id!r} is not 32 bytes")
        if len(self.index_key) < 32:
            raise ConfigurationError("key ring: the blind-index key is shorter than 32 bytes")
        if any(hmac.compare_digest(self.index_key, key) for key in self.keys.values()):
            raise ConfigurationError("key ring: the blind-index key must differ from the encryption keys")

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        """Encrypt under the active key: nonce ‖ ciphertext ‖ tag."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + AESGCM(self.keys[self.active]).encrypt(nonce, plaintext, aad)

    def open(self, key_id: str, token: bytes, aad: bytes) -> bytes:
        try:
            key = self.keys[key_id]
        except KeyError:
            raise ConfigurationError(f"key ring: no key {key_id!r} to decrypt with") from None
        try:
            return AESGCM(key).decrypt(token[:NONCE_BYTES], token[NONCE_BYTES:], aad)
        except InvalidTag:
            raise ConfigurationError(
                "key ring: ciphertext does not open with its key and binding (wrong key or moved value)"
            ) from None

    def seal_text(self, value: str | None, aad: bytes) -> bytes | None:
        return None if value is None else self.seal(value.encode(), aad)

    def open_text(self, key_id: str, token: bytes | None, aad: bytes) -> str | None:
        return None if token is None else self.open(key_id, token, aad).decode()

    def blind_index(self, value: str | None) -> str | None:
        """Keyed, deterministic digest of an already-normalized value (E.164 phone)."""
        if value is None:
            return None
        return hmac.new(self.index_key, value.encode(), hashlib.sha256).hexdigest()

    def fingerprints(self) -> dict[tuple[str, str], str]:
        """(key id, purpose) → a keyed digest that identifies each key without revealing it.

        Purpose is `seal` for the encryption keys and `index` for the blind-index key. A store
        keeps these to recognise a ring that is not the one it was written with.
        """
        found = {
            (key_id, "seal"): hmac.new(key, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()
            for key_id, key in self.keys.items()
        }
        found[(INDEX_KEY_ID, "index")] = hmac.new(
            self.index_key, _FINGERPRINT_LABEL, hashlib.sha256
        ).hexdigest()
        return found

    @classmethod
    def from_json(cls, text: str) -> KeyRing:
        try:
            data = json.loads(text)
            keys = {str(k): base64.b64decode(v, validate=True) for k, v in data["keys"].items()}
            return cls(
                keys=MappingProxyType(keys),
                active=str(data["active"]),
                index_key=base64.b64decode(data["index_key"], validate=True),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigurationError(f"key ring JSON is malformed ({type(exc).__name__})") from None

    def to_json(self) -> str:
        return json.dumps(
            {
                "active": self.active,
                "keys": {k: base64.b64encode(v).decode() for k, v in self.keys.items()},
                "index_key": base64.b64encode(self.index_key).decode(),
            },
            indent=2,
        )

    @classmethod
    def generate(cls, key_id: str = "k1") -> KeyRing:
        return cls(
            keys=MappingProxyType({key_id: AESGCM.generate_key(bit_length=256)}),
            active=key_id,
            index_key=secrets.token_bytes(32),
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
