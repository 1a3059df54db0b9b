"""The AI Proxy Library adaptor as pure translation: the ask body, answers with documents, streams, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tollway.errors import InvalidRequest, UpstreamError
from tollway.relay.adaptors.aiproxy import AIProxyLibraryAdaptor, documents_markdown
from tollway.relay.adaptors.base import Target
from tollway.relay.calls import Call, Mode, parse_json
from tollway.routing import channel_types
from tollway.storage.cache import ChannelEntry

ADAPTOR = AIProxyLibraryAdaptor()
DOCS = [{"title": "Install guide", "url": "https://docs.example/install"},
        {"title": "FAQ", "url": "https://docs.example/faq"}]
DOCS_MD = ("\n\n参考文档：\n1. [Install guide](https://docs.example/install)\n"
           "2. [FAQ](https://docs.example/faq)\n")


def target(config: dict[str, Any] | None = None, base_url: str = "") -> Target:
    channel = ChannelEntry(id=3, type=21, key="ap-key", status=1, name="c", weight=0, priority=0, base_url=base_url,
                           models=[], groups=["default"], model_mapping={},
                           config={"library_id": "lib-42"} if config is None else config, system_prompt="")
    return Target(channel, channel_types.get(21), "gpt-3.5-turbo")


def chat(**body: Any) -> Call:
    body.setdefault("messages", [{"role": "system", "content": "x"}, {"role": "user", "content": "How to install?"}])
    return parse_json(Mode.CHAT, json.dumps({"model": "gpt-3.5-turbo", **body}).encode())


def events(pieces: list[bytes]) -> list[Any]:
    found: list[Any] = []
    for block in b"".join(pieces).split(b"\n\n"):
        if block:
            payload = block.removeprefix(b"data: ")
            found.append("[DONE]" if payload == b"[DONE]" else json.loads(payload))
    return found


def test_request() -> None:
    request = ADAPTOR.request(chat(stream=True), target(base_url="http://127.0.0.1:9"))
    assert request.url == "http://127.0.0.1:9/api/library/ask" and request.stream
    assert request.headers["Authorization"] == "Bearer ap-key"
    assert json.loads(request.content) == {"model": "gpt-3.5-turbo", "query": "How to install?",
                                           "libraryId": "lib-42", "stream": True}
    assert ADAPTOR.request(chat(), target()).url == "https://api.aiproxy.io/api/library/ask"


def test_request_needs_a_library_and_a_question() -> None:
    with pytest.raises(UpstreamError) as raised:
        ADAPTOR.request(chat(), target(config={}))
    assert raised.value.code == "channel_misconfigured" and raised.value.retryable
    with pytest.raises(InvalidRequest):
        ADAPTOR.request(chat(messages=[{"role": "system", "content": "x"}]), target())


def test_documents_markdown() -> None:
    assert documents_markdown(DOCS) == DOCS_MD
    assert documents_markdown([]) == "" and documents_markdown(None) == ""


def test_whole_answer_appends_documents() -> None:
    body = json.dumps({"success": True, "answer": "Run the installer.", "documents": DOCS}).encode()
    answer = ADAPTOR.answer(chat(), target(), 200, "application/json", body)
    message = json.loads(answer.content)["choices"][0]["message"]
    assert message["content"] == "Run the installer." + DOCS_MD
    assert answer.text == "Run the installer." and answer.usage is None  # the library reports no usage


@pytest.mark.parametrize("body,status", [
    ({"success": False, "message": "Key 无效", "errCode": 1001}, 401),
    ({"success": False, "message": "余额不足", "errCode": 1002}, 403),
    ({"success": False, "message": "library not found", "errCode": 1003}, 502),
])
def test_failures_sent_with_200(body: dict[str, Any], status: int) -> None:
    with pytest.raises(UpstreamError) as raised:
        ADAPTOR.answer(chat(), target(), 200, "application/json", json.dumps(body).encode())
    assert raised.value.status_code == status and raised.value.message == body["message"]
    assert raised.value.code == f"aiproxy_{body['errCode']}"


def test_http_errors_keep_their_status() -> None:
    error = ADAPTOR.error(429, b'{"success":false,"message":"too many requests"}')
    assert error.status_code == 429 and error.retryable


STREAM = (b'data:{"content":"Run ","finish":false,"model":"gpt-3.5-turbo"}\n\n'
          b'data:{"content":"the installer.","finish":false}\n\n'
          + b'data:' + json.dumps({"content": "", "finish": True, "documents": DOCS}).encode() + b"\n\n")


def test_stream_ends_with_the_documents() -> None:
    stream = ADAPTOR.translator(chat(stream=True), target())
    found = events(stream.feed(STREAM) + stream.close(None))
    contents = [e["choices"][0]["delta"].get("content") for e in found[:-2]]
    assert contents == ["Run ", "the installer.", DOCS_MD]
    assert found[-2]["choices"][0]["finish_reason"] == "stop" and found[-1] == "[DONE]"
    assert "".join(stream.state.text) == "Run the installer."


def test_stream_without_finish_still_closes_the_answer() -> None:
    stream = ADAPTOR.translator(chat(stream=True), target())
    found = events(stream.feed(b'data:{"content":"partial","finish":false}\n\n') + stream.close(None))
    assert found[0]["choices"][0]["delta"]["content"] == "partial"
    assert found[1]["choices"][0]["finish_reason"] == "stop" and found[2] == "[DONE]"


def test_stream_error_event() -> None:
    stream = ADAPTOR.translator(chat(stream=True), target())
    assert stream.feed('data:{"success":false,"message":"Key 无效","errCode":1001}\n\n'.encode()) == []
    assert stream.state.error is not None and stream.state.error.status_code == 401
