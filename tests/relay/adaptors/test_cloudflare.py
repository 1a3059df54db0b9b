"""The Cloudflare Workers AI adaptor as pure translation: account URLs, AI Gateway URLs, `/run` completions, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tollway.errors import UpstreamError
from tollway.relay.adaptors.base import Target
from tollway.relay.adaptors.cloudflare import CloudflareAdaptor, request_url
from tollway.relay.calls import Call, Mode, parse_json
from tollway.relay.usage import Usage
from tollway.routing import channel_types
from tollway.storage.cache import ChannelEntry

ADAPTOR = CloudflareAdaptor()
MODEL = "@cf/meta/llama-3.1-8b-instruct"
GATEWAY = "https://gateway.ai.cloudflare.com/v1/acc123/my-gateway/workers-ai"


def target(base_url: str = "", config: dict[str, Any] | None = None, model: str = MODEL) -> Target:
    channel = ChannelEntry(id=7, type=37, key="cf-token", status=1, name="c", weight=0, priority=0, base_url=base_url,
                           models=[], groups=["default"], model_mapping={},
                           config={"user_id": "acc123"} if config is None else config, system_prompt="")
    return Target(channel, channel_types.get(37), model)


def call(mode: Mode = Mode.CHAT, **body: Any) -> Call:
    if mode is Mode.CHAT:
        body.setdefault("messages", [{"role": "user", "content": "hi"}])
    return parse_json(mode, json.dumps({"model": MODEL, **body}).encode())


def events(pieces: list[bytes]) -> list[Any]:
    found: list[Any] = []
    for block in b"".join(pieces).split(b"\n\n"):
        if block:
            payload = block.removeprefix(b"data: ")
            found.append("[DONE]" if payload == b"[DONE]" else json.loads(payload))
    return found


@pytest.mark.parametrize("mode,base,expected", [
    (Mode.CHAT, "", "https://api.cloudflare.com/client/v4/accounts/acc123/ai/v1/chat/completions"),
    (Mode.EMBEDDINGS, "", "https://api.cloudflare.com/client/v4/accounts/acc123/ai/v1/embeddings"),
    (Mode.COMPLETIONS, "", f"https://api.cloudflare.com/client/v4/accounts/acc123/ai/run/{MODEL}"),
    (Mode.CHAT, "http://127.0.0.1:9/", "http://127.0.0.1:9/client/v4/accounts/acc123/ai/v1/chat/completions"),
    (Mode.CHAT, GATEWAY, f"{GATEWAY}/v1/chat/completions"),
    (Mode.EMBEDDINGS, GATEWAY, f"{GATEWAY}/v1/embeddings"),
    (Mode.COMPLETIONS, GATEWAY, f"{GATEWAY}/{MODEL}"),
])
def test_urls(mode: Mode, base: str, expected: str) -> None:
    body: dict[str, Any] = {"input": "x"} if mode is Mode.EMBEDDINGS else {"prompt": "x"} if mode is Mode.COMPLETIONS \
        else {}
    assert request_url(call(mode, **body), target(base)) == expected


def test_gateway_needs_no_account_but_the_api_does() -> None:
    assert request_url(call(), target(GATEWAY, config={})) == f"{GATEWAY}/v1/chat/completions"
    with pytest.raises(UpstreamError) as raised:
        ADAPTOR.request(call(), target(config={}))
    assert raised.value.code == "channel_misconfigured" and raised.value.retryable


def test_chat_is_openai_format_with_bearer_token() -> None:
    chat = call(stream=True)
    request = ADAPTOR.request(chat, target())
    assert request.headers["Authorization"] == "Bearer cf-token" and request.stream
    assert request.content == chat.raw  # nothing to change: the bytes go as they came


def test_completions_go_to_the_run_task() -> None:
    request = ADAPTOR.request(call(Mode.COMPLETIONS, prompt="Once", max_tokens=5, temperature=0.3), target())
    assert json.loads(request.content) == {"prompt": "Once", "stream": False, "max_tokens": 5, "temperature": 0.3}
    body = b'{"result":{"response":"upon a time","usage":{"prompt_tokens":3,"completion_tokens":4,' \
           b'"total_tokens":7}},"success":true,"errors":[],"messages":[]}'
    answer = ADAPTOR.answer(call(Mode.COMPLETIONS, prompt="Once"), target(), 200, "application/json", body)
    data = json.loads(answer.content)
    assert data["object"] == "text_completion" and data["choices"][0]["text"] == "upon a time"
    assert answer.usage == Usage(3, 4)


def test_run_stream() -> None:
    wire = (b'data: {"response":"upon","p":"abc"}\n\ndata: {"response":" a time"}\n\n'
            b'data: {"response":"","usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\n'
            b"data: [DONE]\n\n")
    completion = call(Mode.COMPLETIONS, prompt="Once", stream=True, stream_options={"include_usage": True})
    stream = ADAPTOR.translator(completion, target())
    found = events(stream.feed(wire) + stream.close(Usage(3, 2)))
    assert [e["choices"][0]["text"] for e in found[:3]] == ["upon", " a time", ""]
    assert found[2]["choices"][0]["finish_reason"] == "stop"
    assert found[3]["usage"]["total_tokens"] == 5 and found[4] == "[DONE]"
    assert stream.state.usage == Usage(3, 2)


@pytest.mark.parametrize("status,body,expected,retryable", [
    (403, b'{"result":null,"success":false,"errors":[{"code":10000,"message":"Authentication error"}],'
          b'"messages":[]}', 401, True),
    (429, b'{"errors":[{"code":3036,"message":"Account limited: you have used up your daily free allocation of '
          b'10,000 neurons."}],"success":false}', 429, True),
    (400, b'{"errors":[{"code":5007,"message":"No such model @cf/x or task"}],"success":false}', 404, True),
    (400, b'{"errors":[{"code":5006,"message":"Error: required properties at \'/\' are \'messages\'"}],'
          b'"success":false}', 400, False),
    (401, b'{"success":false,"result":[],"messages":[],"error":[{"code":2009,"message":"Unauthorized"}]}', 401, True),
    (502, b"<html>bad gateway</html>", 502, True),
])
def test_errors(status: int, body: bytes, expected: int, retryable: bool) -> None:
    error = ADAPTOR.error(status, body)
    assert (error.status_code, error.retryable) == (expected, retryable)
    assert error.message and "{" not in error.message


def test_error_envelope_with_200_is_an_error() -> None:
    with pytest.raises(UpstreamError) as raised:
        ADAPTOR.answer(call(), target(), 200, "application/json",
                       b'{"success":false,"errors":[{"code":3040,"message":"Capacity temporarily exceeded"}]}')
    assert raised.value.status_code == 429


def test_openai_stream_with_error_event() -> None:
    bad = b'data: {"errors":[{"code":3040,"message":"Capacity temporarily exceeded"}],"success":false}\n\n'
    first = ADAPTOR.translator(call(stream=True), target())
    assert first.feed(bad) == [] and first.state.error is not None and first.state.error.status_code == 429
    later = ADAPTOR.translator(call(stream=True), target())
    chunk = (b'data: {"id":"id-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
             b'"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}\n\n')
    found = events(later.feed(chunk + bad))
    assert found[0]["choices"][0]["delta"]["content"] == "Hel"
    assert found[1]["error"]["message"] == "Capacity temporarily exceeded"
