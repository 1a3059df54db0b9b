"""Coze (channel type 34) through Tollway with the official openai SDK and a mock Coze API (v3 and legacy v2)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.harness import Gateway, ServerThread, settings_for
from tests.upstreams.coze_mock import BOT, KEY, CozeMock
from tollway.relay.adaptors import coze

MODEL = f"bot-{BOT}"
V2_BOT = "7379462189365198899"
MODEL_V2 = f"bot-{V2_BOT}"  # a bot on a channel set to the legacy v2 API
HI = [{"role": "system", "content": "简短回答"}, {"role": "user", "content": "你好"},
      {"role": "assistant", "content": "你好！"}, {"role": "user", "content": "2024 年 10 月 1 日是星期几？"}]
ANSWER = "2024 年 10 月 1 日是星期三。"


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[CozeMock, str]]:
    mock = CozeMock()
    server = ServerThread(mock.app(), lifespan="off").start()
    yield mock, server.url
    server.stop()


@pytest.fixture
def coze_api(upstream: tuple[CozeMock, str]) -> CozeMock:
    upstream[0].reset()
    return upstream[0]


@pytest.fixture(scope="module")
def bots(upstream: tuple[CozeMock, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """One Tollway for the module: starting one per test would cost more than the tests."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(coze, "POLL_INTERVAL", 0.01)
        gateway = Gateway(settings_for(tmp_path_factory.mktemp("coze"), GLOBAL_API_RATE_LIMIT=0))
        gateway.add_channel(upstream[1], type=34, key=KEY, models=MODEL, config={"user_id": "user-123"})
        gateway.add_channel(upstream[1], type=34, key=KEY, models=MODEL_V2,
                            config={"user_id": "user-123", "api_version": "v2"})
        yield gateway
        gateway.close()


def _last_log_id(gateway: Gateway) -> int:
    gateway.flush()
    logs: list[dict[str, Any]] = gateway.api("GET", "/api/log/", params={"type": 2})
    return int(logs[0]["id"]) if logs else 0


def _log_after(gateway: Gateway, last_id: int) -> dict[str, Any]:
    """The newest consume log once one newer than `last_id` is written (settlement may trail a broken stream)."""
    for _ in range(500):
        gateway.flush()
        logs: list[dict[str, Any]] = gateway.api("GET", "/api/log/", params={"type": 2})
        if logs and int(logs[0]["id"]) > last_id:
            return logs[0]
        time.sleep(0.01)
    raise AssertionError("no consume log was written")


def test_v3_stream_text_usage_and_request(bots: Gateway, coze_api: CozeMock) -> None:
    last = _last_log_id(bots)
    chunks = list(bots.openai().chat.completions.create(model=MODEL, messages=HI, stream=True,
                                                        stream_options={"include_usage": True}))
    # message.completed repeats the whole text and follow_up / verbose messages are not the answer.
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = [c.usage for c in chunks if c.usage]
    assert len(usage) == 1 and (usage[0].prompt_tokens, usage[0].completion_tokens) == (614, 3)
    sent = coze_api.requests[-1]
    assert sent.path == "/v3/chat" and sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json == {"bot_id": BOT, "user_id": "user-123", "stream": True, "auto_save_history": True,
                         "additional_messages": [
                             {"role": "user", "type": "question", "content": "简短回答\n\n你好",
                              "content_type": "text"},
                             {"role": "assistant", "type": "answer", "content": "你好！", "content_type": "text"},
                             {"role": "user", "type": "question", "content": "2024 年 10 月 1 日是星期几？",
                              "content_type": "text"}]}
    log = _log_after(bots, last)
    assert (log["prompt_tokens"], log["completion_tokens"]) == (614, 3)


def test_v3_stream_is_relayed_incrementally(bots: Gateway, coze_api: CozeMock) -> None:
    gate = threading.Event()
    coze_api.plan(BOT, gate=gate)
    received = []
    for chunk in bots.openai().chat.completions.create(model=MODEL, messages=HI, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            received.append(chunk.choices[0].delta.content)
            # Were Tollway buffering, this first delta could not arrive before the gate opens.
            gate.set()
    assert "".join(received) == ANSWER


def test_v3_whole_answer_polls_then_lists_messages(bots: Gateway, coze_api: CozeMock) -> None:
    last = _last_log_id(bots)
    answer = bots.openai().chat.completions.create(model=MODEL, messages=HI)
    assert answer.choices[0].message.content == ANSWER and answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (614, 3)
    paths = [r.path for r in coze_api.requests]
    assert paths == ["/v3/chat", "/v3/chat/retrieve", "/v3/chat/retrieve", "/v3/chat/retrieve",
                     "/v3/chat/message/list"]
    assert coze_api.requests[0].json["stream"] is False
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in coze_api.requests)
    log = _log_after(bots, last)
    assert (log["prompt_tokens"], log["completion_tokens"]) == (614, 3)


def test_v3_image_urls_are_sent_as_object_string(bots: Gateway, coze_api: CozeMock) -> None:
    content = [{"type": "text", "text": "这是什么？"}, {"type": "image_url", "image_url": {"url": "https://img.example/cat.png"}}]
    bots.openai().chat.completions.create(model=MODEL, messages=[{"role": "user", "content": content}],
                                          stream=True).close()
    message = coze_api.requests[-1].json["additional_messages"][0]
    assert message["content_type"] == "object_string"
    assert json.loads(message["content"]) == [{"type": "text", "text": "这是什么？"},
                                              {"type": "image", "file_url": "https://img.example/cat.png"}]


def test_inline_images_are_refused(bots: Gateway) -> None:
    content = [{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]
    with pytest.raises(openai.BadRequestError, match="public URL"):
        bots.openai().chat.completions.create(model=MODEL, messages=[{"role": "user", "content": content}])


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("code,error", [(4100, openai.AuthenticationError), (4013, openai.RateLimitError),
                                        (4000, openai.BadRequestError)])
def test_errors_sent_with_200(bots: Gateway, coze_api: CozeMock, stream: bool, code: int,
                              error: type[openai.APIStatusError]) -> None:
    coze_api.plan(BOT, error=(code, "coze says no"))
    with pytest.raises(error, match="coze says no") as caught:
        answer = bots.openai().chat.completions.create(model=MODEL, messages=HI, stream=stream)
        if stream:
            list(answer)
    assert caught.value.code == str(code)


def test_wrong_token(bots: Gateway, upstream: tuple[CozeMock, str], coze_api: CozeMock) -> None:
    bots.add_channel(upstream[1], type=34, key="pat_wrong", models="bot-1000")
    with pytest.raises(openai.AuthenticationError, match="authentication is invalid"):
        bots.openai().chat.completions.create(model="bot-1000", messages=HI)
    # Without a configured user the client's `user`, else a fixed one, is the Coze user.
    assert coze_api.requests[-1].json["user_id"] == "tollway"


@pytest.mark.parametrize("stream", [True, False])
def test_failed_chat(bots: Gateway, coze_api: CozeMock, stream: bool) -> None:
    coze_api.plan(BOT, failed=(5000, "event interval error"))
    with pytest.raises(openai.InternalServerError, match="event interval error"):
        answer = bots.openai().chat.completions.create(model=MODEL, messages=HI, stream=stream)
        if stream:
            list(answer)


def test_error_event_mid_stream_is_in_band(bots: Gateway, coze_api: CozeMock) -> None:
    coze_api.plan(BOT, stream_error_after=2)
    received = []
    with pytest.raises(openai.APIError, match="Coze stream error"):
        for chunk in bots.openai().chat.completions.create(model=MODEL, messages=HI, stream=True):
            received.extend(c.delta.content or "" for c in chunk.choices)
    assert "".join(received) == "2024 年 10 月 1 日"


@pytest.mark.parametrize("event_lines", [False, True])
def test_v2_stream_in_both_forms(bots: Gateway, coze_api: CozeMock, event_lines: bool) -> None:
    coze_api.plan(V2_BOT, v2_event_lines=event_lines)
    chunks = list(bots.openai().chat.completions.create(model=MODEL_V2, messages=HI, stream=True,
                                                          stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    # v2 reports no usage: the completion is counted locally.
    usage = [c.usage for c in chunks if c.usage]
    assert len(usage) == 1 and usage[0].completion_tokens > 0
    sent = coze_api.requests[-1]
    assert sent.path == "/open_api/v2/chat"
    assert sent.json == {"bot_id": V2_BOT, "user": "user-123", "query": "2024 年 10 月 1 日是星期几？", "stream": True,
                         "chat_history": [
                             {"role": "user", "content": "简短回答\n\n你好", "content_type": "text"},
                             {"role": "assistant", "content": "你好！", "content_type": "text", "type": "answer"}]}


def test_v2_stream_is_relayed_incrementally(bots: Gateway, coze_api: CozeMock) -> None:
    gate = threading.Event()
    coze_api.plan(V2_BOT, gate=gate)
    received = []
    for chunk in bots.openai().chat.completions.create(model=MODEL_V2, messages=HI, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            received.append(chunk.choices[0].delta.content)
            gate.set()
    assert "".join(received) == ANSWER


def test_v2_whole_answer(bots: Gateway, coze_api: CozeMock) -> None:
    last = _last_log_id(bots)
    answer = bots.openai().chat.completions.create(model=MODEL_V2, messages=HI)
    assert answer.choices[0].message.content == ANSWER
    log = _log_after(bots, last)
    assert log["completion_tokens"] > 0 and log["prompt_tokens"] > 0
