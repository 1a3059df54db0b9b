"""PaLM 2 channels (type 11) end to end: the openai SDK → Tollway → a mock of the retired generateMessage API."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.harness import Gateway, ServerThread, settings_for
from tests.upstreams.palm_mock import KEY, PaLMMock

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def palm_server() -> Iterator[tuple[PaLMMock, str]]:
    mock = PaLMMock()
    server = ServerThread(mock.app(), lifespan="off").start()
    yield mock, server.url
    server.stop()


@pytest.fixture
def palm(palm_server: tuple[PaLMMock, str]) -> PaLMMock:
    palm_server[0].reset()
    return palm_server[0]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, palm_server: tuple[PaLMMock, str]) -> Iterator[Gateway]:
    """One gateway for the tests that need no fresh database (starting one costs about a second)."""
    gateway = Gateway(settings_for(tmp_path_factory.mktemp("palm")))
    gateway.add_channel(palm_server[1], type=11, key=KEY, models="PaLM-2")
    yield gateway
    gateway.close()


@pytest.fixture
def gw(shared: Gateway, palm: PaLMMock) -> Gateway:
    """The shared gateway, with the mock's plans and recorded requests cleared."""
    return shared


def test_chat_whole_answer_counted_locally(gw: Gateway, palm: PaLMMock) -> None:
    answer = gw.openai().chat.completions.create(
        model="PaLM-2", messages=[{"role": "system", "content": "be brief"}, *HI], temperature=0.3)
    assert answer.choices[0].message.content == "Hello from PaLM."
    assert answer.usage is not None and answer.usage.completion_tokens == 5  # by tiktoken: PaLM reports none
    headers, body = palm.requests[-1]
    assert headers["x-goog-api-key"] == KEY
    assert body == {"prompt": {"context": "be brief", "messages": [{"author": "0", "content": "hi"}]},
                    "temperature": 0.3}
    gw.flush()
    row = gw.api("GET", "/api/log/", params={"type": 2})[0]
    assert (row["prompt_tokens"], row["completion_tokens"]) == (answer.usage.prompt_tokens, 5)


def test_stream_is_the_whole_answer_replayed(gw: Gateway, palm: PaLMMock) -> None:
    chunks = list(gw.openai().chat.completions.create(model="PaLM-2", messages=HI, stream=True,
                                                      stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from PaLM."
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert "stream" not in palm.requests[-1][1]


def test_bad_key_is_401(gateway: Gateway, palm: PaLMMock, palm_server: tuple[PaLMMock, str]) -> None:
    gateway.add_channel(palm_server[1], type=11, key="wrong", models="PaLM-2")
    with pytest.raises(openai.AuthenticationError, match="API key not valid"):
        gateway.openai().chat.completions.create(model="PaLM-2", messages=HI)


def test_quota_error_is_429(gw: Gateway, palm: PaLMMock) -> None:
    palm.plan.status, palm.plan.rpc_status, palm.plan.message = 429, "RESOURCE_EXHAUSTED", "Quota exceeded"
    with pytest.raises(openai.RateLimitError, match="Quota exceeded"):
        gw.openai().chat.completions.create(model="PaLM-2", messages=HI)


def test_filtered_conversation_is_a_content_filter_error(gw: Gateway, palm: PaLMMock) -> None:
    palm.plan.filtered = True
    with pytest.raises(openai.BadRequestError) as raised:
        gw.openai().chat.completions.create(model="PaLM-2", messages=HI)
    assert raised.value.code == "content_filter"
