"""Fixtures: a mock OpenAI upstream and a Tollway as new for each test, each a real server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import Gateway, ModuleGateway, ServerThread
from tests.upstreams.openai_mock import OpenAIMock


@pytest.fixture(scope="session")
def mock_server() -> Iterator[tuple[OpenAIMock, ServerThread]]:
    mock = OpenAIMock()
    server = ServerThread(mock.app(), lifespan="off").start()
    yield mock, server
    server.stop()


@pytest.fixture
def mock(mock_server: tuple[OpenAIMock, ServerThread]) -> OpenAIMock:
    """The mock upstream, with no plans and no recorded requests."""
    state, _ = mock_server
    state.reset()
    return state


@pytest.fixture
def mock_url(mock_server: tuple[OpenAIMock, ServerThread]) -> str:
    return mock_server[1].url


@pytest.fixture(scope="module")
def module_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleGateway]:
    """The server behind `gateway`, shared by the tests of a module."""
    shared = ModuleGateway(lambda: tmp_path_factory.mktemp("gateway"))
    yield shared
    shared.close()


@pytest.fixture
def gateway(module_gateway: ModuleGateway) -> Gateway:
    """A Tollway as freshly started, on its own SQLite database (the module's server, its services started anew)."""
    return module_gateway.fresh()


@pytest.fixture
def relay(gateway: Gateway, mock: OpenAIMock, mock_url: str) -> Gateway:
    """A gateway with one OpenAI channel on the mock upstream."""
    gateway.add_channel(mock_url)
    return gateway
