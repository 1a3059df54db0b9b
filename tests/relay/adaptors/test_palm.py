"""The PaLM 2 adaptor as pure translation: One API's generateMessage mapping and the answers PaLM gave."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from tollway.errors import UpstreamError
from tollway.relay.adaptors.base import Target
from tollway.relay.adaptors.palm import PaLMAdaptor, palm_answer, palm_body
from tollway.relay.calls import Call, Mode, parse_json, with_system_prompt
from tollway.routing import channel_types
from tollway.storage.cache import ChannelEntry


def chat(**body: Any) -> Call:
    body.setdefault("model", "PaLM-2")
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    return parse_json(Mode.CHAT, orjson.dumps(body))


def target(base_url: str = "", **extra: Any) -> Target:
    fields: dict[str, Any] = {
        "id": 1, "type": 11, "key": "AIza-key", "status": 1, "name": "p", "weight": 0, "priority": 0,
        "base_url": base_url, "models": [], "groups": ["default"], "model_mapping": {}, "config": {},
        "system_prompt": "", **extra,
    }
    return Target(ChannelEntry(**fields), channel_types.get(11), "PaLM-2")


def test_body_authors_context_and_parameters() -> None:
    call = chat(messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
                          {"role": "assistant", "content": "hello"},
                          {"role": "user", "content": [{"type": "text", "text": "how are you?"}]}],
                temperature=0.5, top_p=0.9, top_k=40, n=2, max_tokens=100)
    assert palm_body(call) == {
        "prompt": {"context": "be brief", "messages": [
            {"author": "0", "content": "hi"}, {"author": "1", "content": "hello"},
            {"author": "0", "content": "how are you?"}]},
        "temperature": 0.5, "topP": 0.9, "topK": 40, "candidateCount": 2,
    }


def test_request_url_key_and_no_stream() -> None:
    request = PaLMAdaptor().request(chat(stream=True), target("http://127.0.0.1:9/"))
    assert request.url == "http://127.0.0.1:9/v1beta2/models/chat-bison-001:generateMessage"
    assert request.headers["x-goog-api-key"] == "AIza-key"
    assert not request.stream  # PaLM never streamed: the pipeline replays the whole answer
    default = PaLMAdaptor().request(chat(), target())
    assert default.url == "https://generativelanguage.googleapis.com/v1beta2/models/chat-bison-001:generateMessage"


def test_channel_system_prompt_becomes_the_context() -> None:
    request = PaLMAdaptor().request(with_system_prompt(chat(), "You are Tollway."), target())
    assert json.loads(request.content)["prompt"]["context"] == "You are Tollway."


def test_answer_candidates_and_local_counting() -> None:
    body = b'{"candidates":[{"author":"1","content":"Hi!"},{"author":"1","content":"Hey."}],"messages":[]}'
    answer = palm_answer(chat(), body)
    data = json.loads(answer.content)
    assert [c["message"]["content"] for c in data["choices"]] == ["Hi!", "Hey."]
    assert {c["finish_reason"] for c in data["choices"]} == {"stop"}
    assert answer.text == "Hi!Hey."
    # No usage from PaLM: counted with tiktoken ("Hi!Hey." is 4 tokens; "hi" as one message is 7).
    assert answer.usage is not None and data["usage"] == answer.usage.as_openai()
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (7, 4)


def test_filtered_conversation_and_empty_answer() -> None:
    with pytest.raises(UpstreamError) as raised:
        palm_answer(chat(), b'{"messages":[],"filters":[{"reason":"OTHER"}]}')
    assert (raised.value.status_code, raised.value.code) == (400, "content_filter")
    with pytest.raises(UpstreamError) as empty:
        palm_answer(chat(), b"{}")
    assert empty.value.status_code == 502 and empty.value.retryable


def test_errors_are_google_rpc_errors() -> None:
    error = PaLMAdaptor().error(400, b'{"error":{"code":400,"message":"API key not valid. Please pass a valid '
                                     b'API key.","status":"INVALID_ARGUMENT"}}')
    assert (error.status_code, error.code, error.retryable) == (401, "invalid_api_key", True)
    with pytest.raises(UpstreamError) as raised:
        palm_answer(chat(), b'{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}')
    assert raised.value.status_code == 429


def test_only_chat_is_served() -> None:
    call = parse_json(Mode.EMBEDDINGS, b'{"model":"PaLM-2","input":"hi"}')
    with pytest.raises(UpstreamError) as raised:
        PaLMAdaptor().request(call, target())
    assert raised.value.retryable
