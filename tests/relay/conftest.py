"""Mock Anthropic and Gemini upstreams, shared by the provider tests and the inbound APIs' tests (OpenAI's is in
tests/conftest.py); each test gets them with no plans and no recorded requests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import ServerThread
from tests.upstreams.anthropic_mock import AnthropicMock
from tests.upstreams.gemini_mock import GeminiMock


@pytest.fixture(scope="session")
def claude_server() -> Iterator[tuple[AnthropicMock, str]]:
    mock = AnthropicMock()
    server = ServerThread(mock.app(), lifespan="off").start()
    yield mock, server.url
    server.stop()


@pytest.fixture
def claude(claude_server: tuple[AnthropicMock, str]) -> AnthropicMock:
    claude_server[0].reset()
    return claude_server[0]


@pytest.fixture(scope="session")
def gemini_server() -> Iterator[tuple[GeminiMock, str]]:
    mock = GeminiMock()
    server = ServerThread(mock.app(), lifespan="off").start()
    yield mock, server.url
    server.stop()


@pytest.fixture
def google(gemini_server: tuple[GeminiMock, str]) -> GeminiMock:
    gemini_server[0].reset()
    return gemini_server[0]
