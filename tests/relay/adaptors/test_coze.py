"""The Coze adaptor as pure translation: v3 and v2 requests, the recorded v3 streams, the asynchronous whole answer."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import orjson
import pytest

from tollway.errors import InvalidRequest, UpstreamError
from tollway.relay.adaptors.base import Target
from tollway.relay.adaptors.coze import CozeAdaptor, chat_body, turns
from tollway.relay.adaptors.coze_stream import CozeStream, coze_error
from tollway.relay.calls import Call, Mode, parse_json, with_system_prompt
from tollway.relay.usage import Usage
from tollway.routing import channel_types
from tollway.storage.cache import ChannelEntry

BOT = "7379462189365198898"


def target(config: dict[str, Any] | None = None, **extra: Any) -> Target:
    fields: dict[str, Any] = {
        "id": 1, "type": 34, "key": "pat_x", "status": 1, "name": "c", "weight": 0, "priority": 0, "base_url": "",
        "models": [], "groups": ["default"], "model_mapping": {}, "config": config or {}, "system_prompt": "", **extra,
    }
    return Target(ChannelEntry(**fields), channel_types.get(34), f"bot-{BOT}")


def chat(messages: list[dict[str, Any]] | None = None, **body: Any) -> Call:
    payload = {"model": f"bot-{BOT}", "messages": messages or [{"role": "user", "content": "hi"}], **body}
    return parse_json(Mode.CHAT, orjson.dumps(payload))


def run(translator: CozeStream, raw: str) -> list[dict[str, Any]]:
    return [json.loads(piece.removeprefix(b"data: ")) for piece in translator.feed(raw.encode())]


# coze-py testdata chat_text_stream_resp.txt (abridged; the recording's long ids kept).
RECORDED = "".join(line + "\n" for line in [
    'event:conversation.chat.created',
    'data:{"id":"7382159487131697202","conversation_id":"7381473525342978089",'
    '"bot_id":"7379462189365198898","completed_at":1718792949,"last_error":{"code":0,"msg":""},'
    '"status":"created","usage":{"token_count":0,"output_count":0,"input_count":0}}',
    '',
    'event:conversation.chat.in_progress',
    'data:{"id":"7382159487131697202","conversation_id":"7381473525342978089",'
    '"bot_id":"7379462189365198898","status":"in_progress"}',
    '',
    'event:conversation.message.delta',
    'data:{"id":"7382159494123470858","conversation_id":"7381473525342978089",'
    '"bot_id":"7379462189365198898","role":"assistant","type":"answer","content":"2",'
    '"content_type":"text","chat_id":"7382159487131697202"}',
    '',
    'event:conversation.message.delta',
    'data:{"id":"7382159494123470858","conversation_id":"7381473525342978089",'
    '"bot_id":"7379462189365198898","role":"assistant","type":"answer","content":"024 年 10 月 1 日是星期三。",'
    '"content_type":"text","chat_id":"7382159487131697202"}',
    '',
    'event:conversation.message.completed',
    'data:{"id":"7382159494123470858","conversation_id":"7381473525342978089",'
    '"bot_id":"7379462189365198898","role":"assistant","type":"answer","content":"2024 年 10 月 1 日是星期三。",'
    '"content_type":"text","chat_id":"7382159487131697202"}',
    '',
    'event:conversation.chat.completed',
    'data:{"id":"7382159487131697202","conversation_id":"7381473525342978089",'
    '"bot_id":"7379462189365198898","status":"completed","usage":{"token_count":633,"output_count":19,'
    '"input_count":614}}',
    '',
    'event:done',
    'data:"[DONE]"',
    '',
])


def test_turns_fold_system_text_into_the_next_user_turn() -> None:
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "a"},
                {"role": "assistant", "content": None, "tool_calls": []}, {"role": "developer", "content": "D"},
                {"role": "user", "content": [{"type": "text", "text": "b"},
                                             {"type": "image_url", "image_url": {"url": "https://i/x.png"}}]},
                {"role": "system", "content": "late"}]
    assert turns(messages) == [("user", "S\n\na", []), ("user", "D\n\nb", ["https://i/x.png"]), ("user", "late", [])]


def test_v3_request() -> None:
    adaptor = CozeAdaptor()
    request = adaptor.request(chat(stream=True, user="client-user"), target())
    assert request.url == "https://api.coze.com/v3/chat" and request.stream
    assert request.headers["Authorization"] == "Bearer pat_x"
    assert orjson.loads(request.content) == {
        "bot_id": BOT, "user_id": "client-user", "stream": True, "auto_save_history": True,
        "additional_messages": [{"role": "user", "type": "question", "content": "hi", "content_type": "text"}]}
    configured = orjson.loads(adaptor.request(chat(), target({"user_id": "u1"}, base_url="https://api.coze.cn")).content)
    assert configured["user_id"] == "u1" and configured["stream"] is False


def test_v3_images() -> None:
    content = [{"type": "text", "text": "?"}, {"type": "image_url", "image_url": {"url": "https://i/x.png"}}]
    message = chat_body(chat([{"role": "user", "content": content}]), target())["additional_messages"][0]
    assert message["content_type"] == "object_string"
    assert json.loads(message["content"]) == [{"type": "text", "text": "?"}, {"type": "image", "file_url": "https://i/x.png"}]
    inline = [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]
    with pytest.raises(InvalidRequest):
        chat_body(chat([{"role": "user", "content": inline}]), target())


def test_v2_request() -> None:
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
                {"role": "user", "content": "again"}]
    request = CozeAdaptor().request(with_system_prompt(chat(messages, stream=True), "be nice"),
                                    target({"api_version": "v2", "user_id": "u"}))
    assert request.url == "https://api.coze.com/open_api/v2/chat"
    assert orjson.loads(request.content) == {
        "bot_id": BOT, "user": "u", "query": "again", "stream": True,
        "chat_history": [{"role": "user", "content": "be nice\n\nhi", "content_type": "text"},
                         {"role": "assistant", "content": "hello", "content_type": "text", "type": "answer"}]}


def test_recorded_v3_stream() -> None:
    translator = CozeStream(chat(stream=True), f"bot-{BOT}")
    chunks = run(translator, RECORDED)
    assert [c["choices"][0]["delta"].get("content") for c in chunks] == ["2", "024 年 10 月 1 日是星期三。", None]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert translator.state.usage == Usage(614, 19) and translator.state.finished
    assert translator.close(None) == [b"data: [DONE]\n\n"]


def test_recorded_v3_failure_and_error() -> None:
    failed = ('event:conversation.chat.failed\ndata:{"id":"1","conversation_id":"2","status":"failed",'
              '"last_error":{"code":5000,"msg":"event interval error"}}\n\n')
    translator = CozeStream(chat(stream=True), "m")
    assert run(translator, failed) == []
    assert translator.state.error is not None and translator.state.error.status_code == 500
    assert translator.state.error.message == "event interval error"
    late = CozeStream(chat(stream=True), "m")
    run(late, RECORDED.split("event:conversation.message.completed")[0])
    out = run(late, "event:error\ndata:{}\n\n")
    assert out[0]["error"]["message"] == "Coze stream error" and late.state.error is not None


@pytest.mark.parametrize("raw", [
    'data:{"event":"message","message":{"role":"assistant","type":"answer","content":"您","content_type":"text"},'
    '"is_finish":false,"index":0,"conversation_id":"123","seq_id":0}\n\n'
    'data:{"event":"message","message":{"role":"assistant","type":"follow_up","content":"?"},"is_finish":false}\n\n'
    'data:{"event":"done"}\n\n',
    'event:message\ndata:{"message":{"role":"assistant","type":"answer","content":"您","content_type":"text"},'
    '"is_finish":false,"index":0,"conversation_id":"x","seq_id":1}\r\n\r\nevent:done\r\ndata:\r\n\r\n',
])
def test_v2_streams_in_both_forms(raw: str) -> None:
    translator = CozeStream(chat(stream=True), "m", legacy=True)
    chunks = run(translator, raw)
    assert [c["choices"][0]["delta"].get("content") for c in chunks] == ["您", None]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and translator.state.usage is None
    assert translator.state.text == ["您"]


def test_v2_stream_error() -> None:
    translator = CozeStream(chat(stream=True), "m", legacy=True)
    run(translator, 'data:{"event":"error","error_information":{"code":700007,"msg":"bot offline"}}\n\n')
    assert translator.state.error is not None and translator.state.error.message == "bot offline"


def test_whole_v3_answer_is_a_task() -> None:
    adaptor = CozeAdaptor()
    call, where = chat(), target()
    created = {"code": 0, "msg": "", "data": {"id": "c1", "conversation_id": "v1", "status": "in_progress"}}
    first = adaptor.answer(call, where, 200, "application/json", orjson.dumps(created))
    assert first.follow is not None and first.wait > 0
    assert first.follow.url == "https://api.coze.com/v3/chat/retrieve?conversation_id=v1&chat_id=c1"
    completed = {"code": 0, "data": {"id": "c1", "conversation_id": "v1", "status": "completed",
                                     "usage": {"token_count": 633, "output_count": 19, "input_count": 614}}}
    second = adaptor.answer(call, where, 200, "application/json", orjson.dumps(completed))
    assert second.follow is not None
    assert second.follow.url == "https://api.coze.com/v3/chat/message/list?conversation_id=v1&chat_id=c1"
    listing = {"code": 0, "data": [
        {"chat_id": "c1", "type": "answer", "content": "2024 年 10 月 1 日是星期三。"},
        {"chat_id": "c1", "type": "follow_up", "content": "明天呢？"}]}
    # The pipeline hands the follow-up's note back with its answer.
    final = adaptor.answer(call, dataclasses.replace(where, note=second.follow.note), 200, "application/json",
                           orjson.dumps(listing))
    data = orjson.loads(final.content)
    assert data["choices"][0]["message"] == {"role": "assistant", "content": "2024 年 10 月 1 日是星期三。"}
    assert data["usage"] == {"prompt_tokens": 614, "completion_tokens": 19, "total_tokens": 633}
    assert final.usage == Usage(614, 19)


def test_whole_v3_failure() -> None:
    failed = {"code": 0, "data": {"id": "c1", "conversation_id": "v1", "status": "failed",
                                  "last_error": {"code": 4013, "msg": "too many requests"}}}
    with pytest.raises(UpstreamError) as caught:
        CozeAdaptor().answer(chat(), target(), 200, "application/json", orjson.dumps(failed))
    assert caught.value.status_code == 429


def test_whole_v2_answer() -> None:
    body = {"messages": [{"role": "assistant", "type": "verbose", "content": "{}"},
                         {"role": "assistant", "type": "answer", "content": "hello", "content_type": "text"}],
            "conversation_id": "123", "code": 0, "msg": "success"}
    answer = CozeAdaptor().answer(chat(), target({"api_version": "v2"}), 200, "", orjson.dumps(body))
    assert orjson.loads(answer.content)["choices"][0]["message"]["content"] == "hello"
    assert answer.usage is None and answer.text == "hello"


@pytest.mark.parametrize("code,status,retryable", [
    (4100, 401, True), (4101, 401, True), (4013, 429, True), (4000, 400, False), (5000, 500, True),
    ("4100", 401, True), (0, 502, True),
])
def test_error_codes(code: Any, status: int, retryable: bool) -> None:
    error = coze_error(code, "msg")
    assert (error.status_code, error.retryable) == (status, retryable)


def test_error_bodies() -> None:
    adaptor = CozeAdaptor()
    assert adaptor.error(502, b'{"code":4000,"msg":"json fail"}').status_code == 400
    assert adaptor.error(500, b"oops").status_code == 500
    with pytest.raises(UpstreamError) as caught:
        adaptor.answer(chat(), target(), 200, "application/json", b'{"code":4101,"msg":"no permission"}')
    assert caught.value.status_code == 401 and caught.value.message == "no permission"


def test_only_chat_is_served() -> None:
    with pytest.raises(UpstreamError):
        CozeAdaptor().request(parse_json(Mode.EMBEDDINGS, b'{"model":"bot-1","input":"x"}'), target())
