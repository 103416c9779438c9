"""Simulators started once per test session over real loopback HTTP, reset after every test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
import requests
import zeep
from zeep.settings import Settings
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from simulators import testing
from simulators.records import SHANGHAI

ANCHOR = datetime(2025, 3, 10, tzinfo=SHANGHAI)  # the tests' data spans 2025-03-03 to 03-10
WSDL = Path(__file__).resolve().parents[2] / "schemas" / "wsdl" / "hotline.wsdl"
BINDING = "{urn:wuhan:12345:workorder:v1}WorkOrderBinding"
PASSWORD = "hotline-demo-secret"
TOKEN = "board-demo-token"


@pytest.fixture(scope="session")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("var")


@pytest.fixture(scope="session")
def hotline_session(var_dir: Path) -> Iterator[testing.RunningSimulator]:
    with testing.start("hotline", anchor=ANCHOR, var_dir=var_dir) as simulator:
        yield simulator


@pytest.fixture(scope="session")
def board_session(var_dir: Path) -> Iterator[testing.RunningSimulator]:
    with testing.start("message_board", anchor=ANCHOR, var_dir=var_dir) as simulator:
        yield simulator


@pytest.fixture
def hotline(hotline_session: testing.RunningSimulator) -> Iterator[testing.RunningSimulator]:
    yield hotline_session
    hotline_session.reset()


@pytest.fixture
def board(board_session: testing.RunningSimulator) -> Iterator[testing.RunningSimulator]:
    yield board_session
    board_session.reset()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def work_orders(
    hotline: testing.RunningSimulator, http: requests.Session
) -> Callable[..., zeep.proxy.ServiceProxy]:
    """Build a zeep service for the hotline from the vendored WSDL, signed as asked."""

    def build(
        password: str = PASSWORD, raw_response: bool = False, **token: object
    ) -> zeep.proxy.ServiceProxy:
        """`raw_response` makes each call return the HTTP response instead of parsing it."""
        client = zeep.Client(
            str(WSDL),
            wsse=UsernameToken("casehub", password, use_digest=True, **token),
            transport=Transport(session=http, operation_timeout=5),
            settings=Settings(
                forbid_dtd=True, forbid_entities=True, forbid_external=True, raw_response=raw_response
            ),
        )
        return client.create_service(BINDING, hotline.url + "/ws/workorder")

    return build
