"""Cloudflare Workers AI channels (type 37) end to end: the openai SDK → Tollway → a mock Workers AI account."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import openai
import pytest

from tests.harness import Gateway, ServerThread
from tests.upstreams.cloudflare_mock import ACCOUNT, TOKEN, CloudflareMock

LLAMA = "@cf/meta/llama-3.1-8b-instruct"
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def cloudflare_server() -> Iterator[tuple[CloudflareMock, str]]:
    mock = CloudflareMock()
    server = ServerThread(mock.app(), lifespan="off").start()
    yield mock, server.url
    server.stop()


@pytest.fixture
def cloudflare(cloudflare_server: tuple[CloudflareMock, str]) -> CloudflareMock:
    cloudflare_server[0].reset()
    return cloudflare_server[0]


@pytest.fixture
def gw(gateway: Gateway, cloudflare: CloudflareMock, cloudflare_server: tuple[CloudflareMock, str]) -> Gateway:
    gateway.add_channel(cloudflare_server[1], type=37, key=TOKEN, config={"user_id": ACCOUNT},
                        models=f"{LLAMA},@cf/baai/bge-base-en-v1.5,@cf/qwen/qwq-32b,@cf/unknown/model")
    return gateway


def test_chat_whole_answer(gw: Gateway, cloudflare: CloudflareMock) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    answer = gw.openai().chat.completions.create(model=LLAMA, messages=HI, tools=tools)
    assert answer.choices[0].message.content == "Hello from Workers AI."
    assert answer.usage is not None and answer.usage.total_tokens == 17
    sent = cloudflare.requests[-1]
    assert sent.path == f"/client/v4/accounts/{ACCOUNT}/ai/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {TOKEN}" and sent.json["tools"] == tools


def test_stream_usage_is_counted_locally(gw: Gateway, cloudflare: CloudflareMock) -> None:
    chunks = list(gw.openai().chat.completions.create(model=LLAMA, messages=HI, stream=True,
                                                      stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from Workers AI."
    usage = [c.usage for c in chunks if c.usage]
    # Workers AI sent no usage: Tollway counted the five pieces itself and still answered include_usage.
    assert len(usage) == 1 and usage[0].completion_tokens == 5 and usage[0].prompt_tokens > 0
    gw.flush()
    assert gw.api("GET", "/api/log/", params={"type": 2})[0]["completion_tokens"] == 5


def test_stream_is_relayed_incrementally(gw: Gateway, cloudflare: CloudflareMock) -> None:
    gate = threading.Event()
    cloudflare.plan(LLAMA, gate=gate)
    received = []
    for chunk in gw.openai().chat.completions.create(model=LLAMA, messages=HI, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            received.append(chunk.choices[0].delta.content)
            gate.set()
    assert "".join(received) == "Hello from Workers AI."


def test_embeddings(gw: Gateway, cloudflare: CloudflareMock) -> None:
    result = gw.openai().embeddings.create(model="@cf/baai/bge-base-en-v1.5", input=["a", "b"],
                                           encoding_format="float")
    assert len(result.data) == 2 and result.data[0].embedding == [0.25, -0.5, 0.125]
    assert cloudflare.requests[-1].path.endswith("/ai/v1/embeddings")


def test_completions_run_the_text_generation_task(gw: Gateway, cloudflare: CloudflareMock) -> None:
    answer = gw.openai().completions.create(model=LLAMA, prompt="Say hello", max_tokens=20)
    assert answer.choices[0].text == "Hello from Workers AI."
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (4, 5)
    sent = cloudflare.requests[-1]
    assert sent.path == f"/client/v4/accounts/{ACCOUNT}/ai/run/{LLAMA}"
    assert sent.json == {"prompt": "Say hello", "stream": False, "max_tokens": 20}
    streamed = list(gw.openai().completions.create(model=LLAMA, prompt="Say hello", stream=True))
    assert "".join(c.choices[0].text for c in streamed if c.choices) == "Hello from Workers AI."


def test_wrong_token_is_401(gateway: Gateway, cloudflare: CloudflareMock,
                            cloudflare_server: tuple[CloudflareMock, str]) -> None:
    gateway.add_channel(cloudflare_server[1], type=37, key="wrong", config={"user_id": ACCOUNT}, models=LLAMA)
    with pytest.raises(openai.AuthenticationError, match="Authentication error"):
        gateway.openai().chat.completions.create(model=LLAMA, messages=HI)


def test_unknown_model_is_404(gw: Gateway, cloudflare: CloudflareMock) -> None:
    with pytest.raises(openai.NotFoundError, match="No such model"):
        gw.openai().chat.completions.create(model="@cf/unknown/model", messages=HI)


def test_capacity_error_as_the_first_stream_event_is_429(gw: Gateway, cloudflare: CloudflareMock) -> None:
    cloudflare.plan("@cf/qwen/qwq-32b", errors=[{"code": 3040, "message": "Capacity temporarily exceeded"}],
                    error_in_stream=True)
    with pytest.raises(openai.RateLimitError, match="Capacity temporarily exceeded"):
        list(gw.openai().chat.completions.create(model="@cf/qwen/qwq-32b", messages=HI, stream=True))


def test_channel_without_account_id_fails_clearly(gateway: Gateway, cloudflare: CloudflareMock,
                                                  cloudflare_server: tuple[CloudflareMock, str]) -> None:
    gateway.add_channel(cloudflare_server[1], type=37, key=TOKEN, models=LLAMA)
    with pytest.raises(openai.InternalServerError, match="no account id"):
        gateway.openai().chat.completions.create(model=LLAMA, messages=HI)
    assert cloudflare.requests == []
