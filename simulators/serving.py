"""Running a simulator under uvicorn: shared by `python -m simulators` and `simulators.testing`.

Sockets are bound before uvicorn starts, so port 0 gives a free port with no race, and readiness
is reported by the server itself once it listens, not guessed with a sleep.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Generator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI

from simulators import city_brain, health_commission, hotline, message_board, neighborhood_app, urban_mgmt
from simulators.manifest import stand_ins

APP_FACTORIES: dict[str, Callable[..., FastAPI]] = {
    "hotline": hotline.create_app,
    "message_board": message_board.create_app,
    "urban_mgmt": urban_mgmt.create_app,
    "city_brain": city_brain.create_app,
    "health_commission": health_commission.create_app,
    "neighborhood_app": neighborhood_app.create_app,  # the receiver of the hub's callbacks
}
DEFAULT_PORTS: dict[str, int] = {
    code: int(s["port"]) for code, s in stand_ins().items() if code in APP_FACTORIES and "port" in s
}
"""Where each stand-in listens by default: its port in the partner manifest (the community app's
is where it takes the hub's callbacks; it sends its own webhooks besides)."""


def create_app(partner: str, **options: Any) -> FastAPI:
    """The app of one partner; `options` are its factory's keyword arguments."""
    if partner not in APP_FACTORIES:
        raise ValueError(f"unknown partner {partner!r}; expected one of {', '.join(APP_FACTORIES)}")
    return APP_FACTORIES[partner](**options)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket; port 0 asks the kernel for a free one."""
    # IPPROTO_TCP named, so that asyncio knows the socket for TCP and sets TCP_NODELAY on each
    # connection: otherwise a keep-alive reply waits out the client's delayed ACK (about 40 ms).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class ReadyServer(uvicorn.Server):
    """A uvicorn server that calls `on_ready` once it listens, and leaves signals to its owner.

    Several servers run in one process (`python -m simulators all`, tests), and uvicorn's own
    handlers would let only the last one hear Ctrl-C.
    """

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._on_ready()


def server(
    app: FastAPI,
    on_ready: Callable[[], None],
    *,
    log_level: str = "warning",
    access_log: bool = False,
    graceful_seconds: int = 5,
) -> ReadyServer:
    """A server for `app`; requests still running `graceful_seconds` after a stop (a hang) are
    cancelled, so stopping never waits out a hang fault."""
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=access_log,
        lifespan="off",
        timeout_graceful_shutdown=graceful_seconds,
    )
    return ReadyServer(config, on_ready)
