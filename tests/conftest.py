"""Fixtures: a mock OpenAI upstream and a fresh Tollway per test, each a real server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import Gateway, ServerThread, settings_for
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


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    """A fresh Tollway on its own SQLite database."""
    gw = Gateway(settings_for(tmp_path))
    yield gw
    gw.close()


@pytest.fixture
def relay(gateway: Gateway, mock: OpenAIMock, mock_url: str) -> Gateway:
    """A gateway with one OpenAI channel on the mock upstream."""
    gateway.add_channel(mock_url)
    return gateway
