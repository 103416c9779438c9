"""Encryption at rest for personal data and raw payloads.

Personal fields (reporter name, phone, resident ID) and every raw payload are sealed with
AES-256-GCM. The associated data binds a ciphertext to its table, column and row, so a value
copied into another row or column no longer decrypts. Each ciphertext is stored beside the id of
the key that sealed it, so keys can be rotated: new writes use the active key, old rows still
open with theirs.

The phone number also gets a blind index — HMAC-SHA256 under a separate key — so cases from the
same caller can be matched without decrypting anything.

The key ring comes from `CASEHUB_KEYRING` (JSON), `CASEHUB_KEYRING_FILE` (a path to the same
JSON), or is handed in by the Airflow glue from the `casehub_keyring` connection. The JSON is
`{"active": "<key id>", "keys": {"<key id>": "<base64, 32 bytes>"}, "index_key": "<base64>"}`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from casehub.errors import ConfigurationError

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


def load_keyring(env: Mapping[str, str] | None = None) -> KeyRing:
    """The key ring from the environment; a missing one is a deployment error, never a default."""
    env = os.environ if env is None else env
    if text := env.get("CASEHUB_KEYRING"):
        return KeyRing.from_json(text)
    if path := env.get("CASEHUB_KEYRING_FILE"):
        try:
            return KeyRing.from_json(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigurationError(f"CASEHUB_KEYRING_FILE points to a missing file: {path}") from None
    raise ConfigurationError("no key ring: set CASEHUB_KEYRING or CASEHUB_KEYRING_FILE")


def ensure_local_keyring(path: Path) -> Path:
    """Create a key ring file for a local demo if there is none; never overwrite one."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(KeyRing.generate().to_json())
    return path
