"""Replicate channels (type 46) end to end: the openai SDK → Tollway → a mock Replicate predictions API."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator

import openai
import pytest

from tests.harness import Gateway, ServerThread
from tests.upstreams.replicate_mock import KEY, PNG, ReplicateMock
from tollway.relay.adaptors import replicate

LLAMA = "meta/meta-llama-3-8b-instruct"
MISTRAL = "mistralai/mistral-7b-instruct-v0.2"
FLUX = "black-forest-labs/flux-schnell"
CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def replicate_server() -> Iterator[tuple[ReplicateMock, str]]:
    mock = ReplicateMock()
    server = ServerThread(mock.app(), lifespan="off").start()
    yield mock, server.url
    server.stop()


@pytest.fixture
def mock(replicate_server: tuple[ReplicateMock, str], monkeypatch: pytest.MonkeyPatch) -> ReplicateMock:
    monkeypatch.setattr(replicate, "POLL_INTERVAL", 0.01)  # the gateway runs in this process
    replicate_server[0].reset()
    return replicate_server[0]


@pytest.fixture
def gw(gateway: Gateway, mock: ReplicateMock, replicate_server: tuple[ReplicateMock, str]) -> Gateway:
    gateway.add_channel(replicate_server[1] + "/v1/models/", type=46, key=KEY,
                        models=f"{LLAMA},{MISTRAL},{FLUX},acme/missing")
    return gateway


def test_chat_stream_follows_the_prediction_stream(gw: Gateway, mock: ReplicateMock) -> None:
    chunks = list(gw.openai().chat.completions.create(model=LLAMA, messages=CHAT, stream=True,
                                                      stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from\nReplicate."
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = [c.usage for c in chunks if c.usage]
    assert len(usage) == 1 and usage[0].completion_tokens > 0  # Replicate reports none: counted locally
    create, stream = mock.requests[-2:]
    assert create.path == f"/v1/models/{LLAMA}/predictions" and create.headers["authorization"] == f"Bearer {KEY}"
    assert create.json["stream"] is True
    assert create.json["input"]["prompt"] == "user: hi\n" and create.json["input"]["system_prompt"] == "Be brief."
    assert stream.path.startswith("/v1/streams/") and stream.headers["accept"] == "text/event-stream"
    assert stream.headers["authorization"] == f"Bearer {KEY}"


def test_whole_answer_is_assembled_from_the_stream(gw: Gateway, mock: ReplicateMock) -> None:
    answer = gw.openai().chat.completions.create(model=LLAMA, messages=CHAT, max_tokens=50)
    assert answer.choices[0].message.content == "Hello from\nReplicate."
    assert answer.usage is not None and answer.usage.completion_tokens > 0
    assert mock.requests[-2].json["input"]["max_tokens"] == 50
    gw.flush()
    row = gw.api("GET", "/api/log/", params={"type": 2})[0]
    assert row["completion_tokens"] == answer.usage.completion_tokens


def test_stream_is_relayed_incrementally(gw: Gateway, mock: ReplicateMock) -> None:
    gate = threading.Event()
    mock.plan(LLAMA, gate=gate)
    received = []
    for chunk in gw.openai().chat.completions.create(model=LLAMA, messages=CHAT, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            received.append(chunk.choices[0].delta.content)
            gate.set()
    assert "".join(received) == "Hello from\nReplicate."


def test_model_without_streaming_is_polled(gw: Gateway, mock: ReplicateMock) -> None:
    mock.plan(MISTRAL, streams=False, polls=3)
    chunks = list(gw.openai().chat.completions.create(model=MISTRAL, messages=CHAT, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from\nReplicate."
    assert [r.method for r in mock.requests] == ["POST", "GET", "GET", "GET", "GET"]


def test_error_event_mid_stream(gw: Gateway, mock: ReplicateMock) -> None:
    mock.plan(LLAMA, stream_error="CUDA out of memory")
    received = []
    with pytest.raises(openai.APIError, match="CUDA out of memory"):
        for chunk in gw.openai().chat.completions.create(model=LLAMA, messages=CHAT, stream=True):
            received += [chunk.choices[0].delta.content or ""] if chunk.choices else []
    assert "".join(received) == "Hello"


def test_failed_prediction_is_500(gw: Gateway, mock: ReplicateMock) -> None:
    mock.plan(MISTRAL, streams=False, fail="Prediction failed: input too long")
    with pytest.raises(openai.InternalServerError, match="input too long"):
        gw.openai().chat.completions.create(model=MISTRAL, messages=CHAT)


def test_images_are_polled_until_ready(gw: Gateway, mock: ReplicateMock) -> None:
    result = gw.openai().images.generate(model=FLUX, prompt="a red fox", n=2, size="1024x1024")
    assert result.data is not None and len(result.data) == 2
    assert all(item.url and item.url.endswith(".png") for item in result.data)
    create = mock.requests[0]
    assert create.json == {"input": {"prompt": "a red fox", "num_outputs": 2, "width": 1024, "height": 1024,
                                     "aspect_ratio": "1:1"}}
    assert [r.method for r in mock.requests] == ["POST", "GET", "GET", "GET"]
    gw.flush()
    # $0.003 an image (ratio 1.5): 1500 quota each.
    assert gw.api("GET", "/api/log/", params={"type": 2})[0]["quota"] == 3000


def test_image_as_base64(gw: Gateway, mock: ReplicateMock) -> None:
    result = gw.openai().images.generate(model=FLUX, prompt="a red fox", response_format="b64_json")
    assert result.data is not None and base64.b64decode(result.data[0].b64_json or "") == PNG
    assert mock.requests[0].json["input"]["output_format"] == "png"
    assert mock.requests[-1].path.startswith("/files/")


def test_wrong_key_is_401(gateway: Gateway, mock: ReplicateMock,
                          replicate_server: tuple[ReplicateMock, str]) -> None:
    gateway.add_channel(replicate_server[1], type=46, key="r8_wrong", models=LLAMA)
    with pytest.raises(openai.AuthenticationError, match="valid authentication token"):
        gateway.openai().chat.completions.create(model=LLAMA, messages=CHAT)


def test_unknown_model_is_404(gw: Gateway, mock: ReplicateMock) -> None:
    with pytest.raises(openai.NotFoundError, match="could not be found"):
        gw.openai().chat.completions.create(model="acme/missing", messages=CHAT)
