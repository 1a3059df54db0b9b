"""The OpenAI-format adaptor as pure translation: URLs per channel type, headers, bodies, stream re-emission."""

from __future__ import annotations

import json

import pytest

from tollway.errors import UpstreamError
from tollway.relay.adaptors.base import Target
from tollway.relay.adaptors.openai import OpenAIAdaptor, request_url
from tollway.relay.calls import Mode, parse_json
from tollway.routing import channel_types
from tollway.storage.cache import ChannelEntry


def channel(type_id: int, base_url: str = "", **extra: object) -> ChannelEntry:
    fields: dict[str, object] = {
        "id": 1, "type": type_id, "key": "sk-upstream", "status": 1, "name": "c", "weight": 0, "priority": 0,
        "base_url": base_url, "models": [], "groups": ["default"], "model_mapping": {}, "config": {},
        "system_prompt": "", **extra,
    }
    return ChannelEntry(**fields)


def target(type_id: int, base_url: str = "", model: str = "gpt-4o-mini", **extra: object) -> Target:
    return Target(channel(type_id, base_url, **extra), channel_types.get(type_id), model)


CHAT = parse_json(Mode.CHAT, b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}')
EMBED = parse_json(Mode.EMBEDDINGS, b'{"model":"text-embedding-3-small","input":"hi"}')


@pytest.mark.parametrize("type_id,base,expected", [
    (1, "", "https://api.openai.com/v1/chat/completions"),
    (1, "https://proxy.example/", "https://proxy.example/v1/chat/completions"),
    (1, "https://gateway.ai.cloudflare.com/v1/a/g/openai",
     "https://gateway.ai.cloudflare.com/v1/a/g/openai/chat/completions"),
    (8, "https://custom.example", "https://custom.example/v1/chat/completions"),
    (20, "", "https://openrouter.ai/api/v1/chat/completions"),
    (22, "", "https://fastgpt.run/api/openapi/v1/chat/completions"),
    (25, "", "https://api.moonshot.cn/v1/chat/completions"),
    (27, "", "https://api.minimax.chat/v1/text/chatcompletion_v2"),
    (29, "", "https://api.groq.com/openai/v1/chat/completions"),
    (36, "", "https://api.deepseek.com/v1/chat/completions"),
    (40, "", "https://ark.cn-beijing.volces.com/api/v3/chat/completions"),
    (41, "", "https://api.novita.ai/v3/openai/chat/completions"),
    (44, "", "https://api.siliconflow.cn/v1/chat/completions"),
    (47, "", "https://qianfan.baidubce.com/v2/chat/completions"),
    (48, "", "https://spark-api-open.xf-yun.com/v1/chat/completions"),
    (49, "", "https://dashscope.aliyuncs.com/compatible-mode/v1/chat/completions"),
    (50, "http://vllm.local:8000/v1", "http://vllm.local:8000/v1/chat/completions"),
    (51, "", "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions"),
])
def test_chat_urls_per_type(type_id: int, base: str, expected: str) -> None:
    assert request_url(CHAT, target(type_id, base)) == expected


def test_azure_deployment_url_and_header() -> None:
    azure = target(3, "https://res.openai.azure.com", model="gpt-3.5-turbo", config={"api_version": "2024-06-01"})
    request = OpenAIAdaptor().request(CHAT, azure)
    assert request.url == ("https://res.openai.azure.com/openai/deployments/gpt-35-turbo/chat/completions"
                           "?api-version=2024-06-01")
    assert request.headers["api-key"] == "sk-upstream" and "Authorization" not in request.headers
    assert request_url(EMBED, azure) == ("https://res.openai.azure.com/openai/deployments/gpt-35-turbo/embeddings"
                                         "?api-version=2024-06-01")


def test_minimax_serves_chat_only() -> None:
    with pytest.raises(UpstreamError) as raised:
        request_url(EMBED, target(27))
    assert raised.value.retryable


def test_openrouter_headers_and_bearer_key() -> None:
    request = OpenAIAdaptor().request(CHAT, target(20))
    assert request.headers["Authorization"] == "Bearer sk-upstream"
    assert request.headers["X-Title"] == "Tollway"


def test_body_bytes_are_forwarded_untouched_when_nothing_changes() -> None:
    request = OpenAIAdaptor().request(CHAT, target(25))
    assert request.content == CHAT.raw


def test_stream_asks_for_usage_where_supported() -> None:
    call = parse_json(Mode.CHAT, b'{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true}')
    sent = json.loads(OpenAIAdaptor().request(call, target(1, model="m")).content)
    assert sent["stream_options"] == {"include_usage": True}
    assert OpenAIAdaptor().request(call, target(25, model="m")).content == call.raw
    forced = json.loads(OpenAIAdaptor(enforce_include_usage=True).request(call, target(25, model="m")).content)
    assert forced["stream_options"] == {"include_usage": True}


# The recorded OpenAI stream of the reference (openai-python snapshot, tool call with include_usage).
RECORDED = [
    b'data: {"id":"chatcmpl-ABfwERreu9s99xXsVuOWtIB2UOx62","object":"chat.completion.chunk","created":1727346182,'
    b'"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_143bb8492c","choices":[{"index":0,"delta":{"role":'
    b'"assistant","content":null,"tool_calls":[{"index":0,"id":"call_4XzlGBLtUe9dy3GVNV4jhq7h","type":"function",'
    b'"function":{"name":"get_weather","arguments":""}}],"refusal":null},"logprobs":null,"finish_reason":null}]}\n\n',
    b'data: {"id":"chatcmpl-ABfwERreu9s99xXsVuOWtIB2UOx62","object":"chat.completion.chunk","created":1727346182,'
    b'"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_143bb8492c","choices":[{"index":0,"delta":{"tool_calls":'
    b'[{"index":0,"function":{"arguments":"{\\"city\\":\\"New York City\\"}"}}]},"logprobs":null,'
    b'"finish_reason":null}]}'
    b'\n\ndata: {"id":"chatcmpl-ABfwERreu9s99xXsVuOWtIB2UOx62","object":"chat.completion.chunk","created":1727346182,'
    b'"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_143bb8492c","choices":[{"index":0,"delta":{},"logprobs":'
    b'null,"finish_reason":"tool_calls"}]}\n\n',
    b'data: {"id":"chatcmpl-ABfwERreu9s99xXsVuOWtIB2UOx62","object":"chat.completion.chunk","created":1727346182,'
    b'"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_143bb8492c","choices":[],"usage":{"prompt_tokens":44,'
    b'"completion_tokens":16,"total_tokens":60,"completion_tokens_details":{"reasoning_tokens":0}}}\n\n',
    b"data: [DONE]\n\n",
]


def test_recorded_stream_is_reemitted_with_usage() -> None:
    stream = OpenAIAdaptor().translator(CHAT, target(1))
    out = b"".join(piece for chunk in RECORDED for piece in stream.feed(chunk))
    out += b"".join(stream.close(stream.state.usage))
    events = [line for line in out.split(b"\n\n") if line]
    assert len(events) == 5 and events[-1] == b"data: [DONE]"
    assert stream.state.usage is not None
    assert (stream.state.usage.prompt_tokens, stream.state.usage.completion_tokens) == (44, 16)
    assert stream.text() == 'get_weather{"city":"New York City"}'


def test_stream_split_anywhere_gives_the_same_events() -> None:
    whole = b"".join(RECORDED)
    reference = OpenAIAdaptor().translator(CHAT, target(1))
    expected = b"".join(reference.feed(whole)) + b"".join(reference.close(None))
    for size in (1, 7, 64):
        stream = OpenAIAdaptor().translator(CHAT, target(1))
        out = b"".join(p for i in range(0, len(whole), size) for p in stream.feed(whole[i:i + size]))
        assert out + b"".join(stream.close(None)) == expected


def test_azure_preamble_and_comments_are_dropped() -> None:
    stream = OpenAIAdaptor().translator(CHAT, target(3))
    out = stream.feed(b': keep-alive\r\n\r\ndata:{"choices":[],"created":0,"id":"","model":"","object":"",'
                      b'"prompt_filter_results":[]}\r\n\r\nevent: x\r\nid: 3\r\n\r\n')
    assert out == []
    assert stream.close(None) == [b"data: [DONE]\n\n"]
