"""What every router reaches — the store, the key ring, the pushing partners, the token —
resolved on first use, so that creating the app does no I/O (the Airflow plugin builds it in
every Airflow process)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from fastapi import Request

from casehub.errors import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from casehub.crypto import KeyRing
    from casehub.districts import DistrictService
    from casehub.partners import Partner

log = logging.getLogger("casehub.gateway")

TOKEN_ENV = "CASEHUB_GATEWAY_TOKEN"  # noqa: S105 - the variable's name, not a secret
WEBHOOKS_PREFIX = "/webhooks/"


class Context:
    """The gateway's collaborators; a value given to `create_app` wins over the environment."""

    def __init__(
        self, engine: Engine | None, *, token: str | None, partners: Sequence[Partner] | None
    ) -> None:
        self._engine = engine
        self._token = token
        self._partners = partners
        self._lock = threading.Lock()
        self._keyring: tuple[KeyRing | None] | None = None
        self._receivers: Mapping[str, Partner] | None = None
        self._districts: DistrictService | None = None

    def store(self) -> Engine:
        from casehub.store import connect

        return self._engine if self._engine is not None else connect()

    def token(self) -> str | None:
        """The bearer token of the read routes; empty or unset means none is configured."""
        return (self._token if self._token is not None else os.environ.get(TOKEN_ENV)) or None

    def keyring(self) -> KeyRing | None:
        """The key ring from the environment, loaded once and checked against the store
        (`casehub.store.keys`); None when there is none, it is unusable or it is not the store's.
        A store that cannot be reached raises `StoreError`, and the next request tries again."""
        if self._keyring is None:
            with self._lock:
                if self._keyring is None:
                    self._keyring = (_load_keyring(self.store()),)
        return self._keyring[0]

    def districts(self) -> DistrictService | None:
        """The district standard interface's service, built once; None without a key ring."""
        keyring = self.keyring()
        if keyring is None:
            return None
        if self._districts is None:
            with self._lock:
                if self._districts is None:
                    from casehub.districts import DistrictService

                    self._districts = DistrictService(self.store(), keyring)
        return self._districts

    def receivers(self) -> Mapping[str, Partner]:
        """The pushing partners by their manifest `push_in.path`, each one segment under `/webhooks/`.

        Raises `ConfigurationError` when the manifest cannot be read or puts a path elsewhere.
        """
        if self._receivers is None:
            with self._lock:
                if self._receivers is None:
                    self._receivers = _receivers(self._partners)
        return self._receivers

    def receiver(self, path: str) -> Partner | None:
        """The pushing partner that sends to `path`, if any."""
        return self.receivers().get(path)


def _load_keyring(engine: Engine) -> KeyRing | None:
    from casehub.crypto import load_keyring
    from casehub.store.keys import prove_keyring

    if not (os.environ.get("CASEHUB_KEYRING") or os.environ.get("CASEHUB_KEYRING_FILE")):
        log.warning("gateway: no key ring; reporters stay hidden and webhooks answer 503")
        return None
    try:
        ring = load_keyring()
        prove_keyring(engine, ring, datetime.now(UTC))
    except ConfigurationError as exc:
        log.warning("gateway: the key ring is unusable (reporters stay hidden, webhooks answer 503): %s", exc)
        return None
    return ring


def _receivers(partners: Sequence[Partner] | None) -> Mapping[str, Partner]:
    if partners is None:
        from casehub.partners import pushing

        partners = pushing()
    found: dict[str, Partner] = {}
    for partner in partners:
        if partner.push_in is None:
            continue
        path = partner.push_in.path
        if not path.startswith(WEBHOOKS_PREFIX) or "/" in path.removeprefix(WEBHOOKS_PREFIX) or path in found:
            raise ConfigurationError(
                f"partner {partner.code!r}: push_in.path must be one segment under {WEBHOOKS_PREFIX}"
                " and its own"
            )
        found[path] = partner
    return found


def context_of(request: Request) -> Context:
    """The context of the app serving `request` (also when it is mounted inside another app)."""
    context: Context = request.app.state.context
    return context
