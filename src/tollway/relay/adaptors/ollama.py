"""Ollama's native API: /api/chat (NDJSON streams), /api/generate for completions and /api/embed for embeddings."""

from __future__ import annotations

from typing import Any

import orjson

from tollway.errors import InvalidRequest, UpstreamError
from tollway.relay.adaptors.base import Adaptor, Answer, Target, UpstreamRequest
from tollway.relay.adaptors.content import data_url, image_url_of, stop_list, text_of
from tollway.relay.adaptors.failures import json_object, json_of, unsupported
from tollway.relay.adaptors.line_stream import LineStream
from tollway.relay.adaptors.openai_out import (
    ChunkWriter,
    assistant_message,
    choice,
    completion,
    embeddings,
    tool_call,
    tool_call_id,
)
from tollway.relay.calls import Call, Mode
from tollway.relay.usage import Usage

_PATHS = {Mode.CHAT: "/api/chat", Mode.COMPLETIONS: "/api/generate", Mode.EMBEDDINGS: "/api/embed"}
# Request fields Ollama reads from `options` (OpenAI's names, plus Ollama's own that clients send as extra fields).
_OPTIONS = ("temperature", "top_p", "top_k", "min_p", "seed", "frequency_penalty", "presence_penalty",
            "repeat_penalty", "num_ctx")
# Top-level request fields Ollama takes as they are.
_PASSED = ("keep_alive",)


class OllamaAdaptor(Adaptor):
    """Translator for Ollama servers (local, or behind a proxy that checks a Bearer key)."""

    inline_images = True

    def request(self, call: Call, target: Target) -> UpstreamRequest:
        path = _PATHS.get(call.mode)
        if path is None:
            raise unsupported(f"Ollama channels serve chat, completions and embeddings, not {call.path}")
        base = (target.channel.base_url or target.type.base_url).rstrip("/")
        headers = {"Content-Type": "application/json"}
        if target.channel.key:
            # Ollama itself ignores it; reverse proxies in front of it check it (One API sends it too).
            headers["Authorization"] = f"Bearer {target.channel.key}"
        if call.mode is Mode.EMBEDDINGS:
            body = embed_body(call, target.model)
        elif call.mode is Mode.COMPLETIONS:
            body = generate_body(call, target.model)
        else:
            body = chat_body(call, target.model, call.body["messages"])
        return UpstreamRequest("POST", base + path, headers, orjson.dumps(body),
                               stream=call.stream and call.mode is not Mode.EMBEDDINGS)

    def answer(self, call: Call, target: Target, status: int, media_type: str, body: bytes) -> Answer:
        data = json_object(body, "Ollama", "an unexpected answer")
        if data.get("error"):
            raise self.error(status if status >= 400 else 500, body)
        if call.mode is Mode.EMBEDDINGS:
            return _embeddings(call, target, data)
        content, thinking, calls = _pieces(data, call.mode is Mode.CHAT)
        reply = assistant_message(content or (None if calls else ""), reasoning=thinking,
                                  tool_calls=[tool_call(*found) for found in calls])
        usage = _usage(data)
        text = thinking + content + "".join(name + arguments for _, name, arguments in calls)
        model = str(data.get("model") or target.model)
        answer = completion(call, model, [choice(0, reply, _finish(data, bool(calls)))], usage)
        return Answer(status, answer, "application/json", usage=usage, text=text)

    def translator(self, call: Call, target: Target) -> OllamaStream:
        return OllamaStream(call, target.model)


def _options(call: Call) -> dict[str, Any]:
    body = call.body
    options = {name: body[name] for name in _OPTIONS if body.get(name) is not None}
    if isinstance(body.get("options"), dict):
        options.update(body["options"])  # Ollama's own options, sent through the OpenAI SDK's extra_body
    if call.max_tokens:
        options["num_predict"] = call.max_tokens
    stop = stop_list(body.get("stop"))
    if stop:
        options["stop"] = stop
    return options


def _common(call: Call, model: str) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "stream": call.stream}  # Ollama streams unless told not to
    options = _options(call)
    if options:
        body["options"] = options
    body.update({name: call.body[name] for name in _PASSED if call.body.get(name) is not None})
    response_format = call.body.get("response_format")
    if isinstance(response_format, dict):
        if response_format.get("type") == "json_object":
            body["format"] = "json"
        elif response_format.get("type") == "json_schema":
            schema = (response_format.get("json_schema") or {}).get("schema")
            if isinstance(schema, dict):
                body["format"] = schema
    if "think" in call.body:
        body["think"] = call.body["think"]
    elif isinstance(call.body.get("reasoning_effort"), str):
        effort = call.body["reasoning_effort"]
        body["think"] = False if effort == "none" else effort
    return body


def chat_body(call: Call, model: str, messages: list[Any]) -> dict[str, Any]:
    """The /api/chat body of an OpenAI chat call."""
    body = _common(call, model)
    body["messages"] = _messages(messages)
    tools = call.body.get("tools")
    if isinstance(tools, list) and tools and call.body.get("tool_choice") != "none":
        # Ollama takes OpenAI's function tool definitions as they are; it has no tool_choice.
        body["tools"] = [tool for tool in tools if isinstance(tool, dict) and tool.get("type") == "function"]
    return body


def generate_body(call: Call, model: str) -> dict[str, Any]:
    """The /api/generate body of an OpenAI completions call."""
    prompt = call.body.get("prompt", "")
    if isinstance(prompt, list):
        if len(prompt) != 1 or not isinstance(prompt[0], str):
            raise InvalidRequest("Ollama completes one text prompt per request", param="prompt")
        prompt = prompt[0]
    body = _common(call, model)
    body["prompt"] = prompt
    if isinstance(call.body.get("suffix"), str):
        body["suffix"] = call.body["suffix"]
    return body


def embed_body(call: Call, model: str) -> dict[str, Any]:
    """The /api/embed body of an OpenAI embeddings call."""
    raw = call.body["input"]
    inputs = [raw] if isinstance(raw, str) else raw
    if not all(isinstance(item, str) for item in inputs):
        raise InvalidRequest("Ollama embeds text; send 'input' as a string or an array of strings", param="input")
    body: dict[str, Any] = {"model": model, "input": inputs}
    if isinstance(call.body.get("dimensions"), int):
        body["dimensions"] = call.body["dimensions"]
    body.update({name: call.body[name] for name in (*_PASSED, "truncate") if call.body.get(name) is not None})
    return body


def _messages(messages: list[Any]) -> list[dict[str, Any]]:
    names: dict[str, str] = {}  # tool call id → function name, for the tool results that answer them
    result = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = {"developer": "system", "function": "tool"}.get(message["role"], message["role"])
        content = message.get("content")
        entry: dict[str, Any] = {"role": role, "content": text_of(content)}
        images = _images(content)
        if images:
            entry["images"] = images  # raw base64, no data: prefix
        if isinstance(message.get("reasoning_content"), str):
            entry["thinking"] = message["reasoning_content"]
        calls = message.get("tool_calls")
        if isinstance(calls, list) and calls:
            entry["tool_calls"] = [_tool_call_out(call, names) for call in calls if isinstance(call, dict)]
        if role == "tool":
            name = names.get(str(message.get("tool_call_id"))) or message.get("name")
            if isinstance(name, str) and name:
                entry["tool_name"] = name
        result.append(entry)
    return result


def _images(content: Any) -> list[str]:
    """The base64 data of the image parts, which must be data URLs (the pipeline inlines http(s) images first)."""
    images = []
    for part in content if isinstance(content, list) else ():
        if not isinstance(part, dict) or part.get("type") != "image_url":
            continue
        url = image_url_of(part) or ""
        if not url.startswith("data:"):
            raise InvalidRequest("image_url must be an http(s) URL or a base64 data URL", param="messages")
        found = data_url(url)
        if found is None or not found[1]:
            raise InvalidRequest("image data URLs must be base64-encoded", param="messages")
        images.append(found[1])
    return images


def _tool_call_out(call: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    function = call.get("function")
    if not isinstance(function, dict):
        function = {}
    name = str(function.get("name") or "")
    arguments: Any = function.get("arguments")
    if isinstance(arguments, str):
        try:
            arguments = orjson.loads(arguments) if arguments.strip() else {}
        except orjson.JSONDecodeError:
            arguments = {}
    if not isinstance(arguments, dict):
        # Ollama's arguments are an object; a model's malformed JSON from an earlier turn cannot be kept.
        arguments = {}
    entry: dict[str, Any] = {"function": {"name": name, "arguments": arguments}}
    if isinstance(call.get("id"), str):
        names[call["id"]] = name
        entry["id"] = call["id"]
    return entry


def _pieces(data: dict[str, Any], chat: bool) -> tuple[str, str, list[tuple[str, str, str]]]:
    """(content, thinking, tool calls as (id, name, JSON arguments)) of one answer or stream line."""
    source = data.get("message") if chat else data
    if not isinstance(source, dict):
        return "", "", []
    content = source.get("content" if chat else "response")
    thinking = source.get("thinking")
    calls: list[tuple[str, str, str]] = []
    for call in source.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            arguments = orjson.dumps(arguments if arguments is not None else {}).decode()
        # Older Ollama builds send no ids; OpenAI clients need one to answer the call.
        calls.append((str(call.get("id") or tool_call_id()), str(function.get("name") or ""), arguments))
    return (content if isinstance(content, str) else "", thinking if isinstance(thinking, str) else "", calls)


def _usage(data: dict[str, Any]) -> Usage | None:
    prompt, completion = data.get("prompt_eval_count"), data.get("eval_count")
    prompt = prompt if isinstance(prompt, int) and prompt > 0 else 0
    completion = completion if isinstance(completion, int) and completion > 0 else 0
    # Without prompt_eval_count (a prompt-cache hit) the prompt stays 0 and the pipeline counts it locally.
    return Usage(prompt, completion) if prompt or completion else None


def _finish(data: dict[str, Any], tools: bool) -> str:
    if tools:
        return "tool_calls"  # Ollama reports "stop" for a tool call
    return "length" if data.get("done_reason") == "length" else "stop"


def _embeddings(call: Call, target: Target, data: dict[str, Any]) -> Answer:
    vectors = data.get("embeddings")
    if not isinstance(vectors, list):
        legacy = data.get("embedding")
        vectors = [legacy] if isinstance(legacy, list) else []
    prompt = data.get("prompt_eval_count")
    usage = Usage(prompt) if isinstance(prompt, int) and prompt > 0 else None
    answer = embeddings(call, str(data.get("model") or target.model), enumerate(vectors), usage)
    return Answer(200, answer, "application/json", usage=usage)


class OllamaStream(LineStream):
    """NDJSON lines of /api/chat or /api/generate become OpenAI chunks; the `done` line carries the usage."""

    def __init__(self, call: Call, model: str) -> None:
        super().__init__()
        self.writer = ChunkWriter(call, model, self.state, logprobs=False)

    def line(self, line: bytes) -> list[bytes]:
        data = json_of(line)
        if not isinstance(data, dict) or self.state.error is not None:
            return []
        if data.get("error"):
            # An error line arrives with HTTP 200 already sent; before any output it is still retryable.
            return self.writer.error(UpstreamError(str(data["error"]), status_code=500, code="ollama_error",
                                                   retryable=True))
        writer = self.writer
        content, thinking, calls = _pieces(data, writer.chat)
        pieces = writer.reasoning(thinking) if thinking else []
        pieces += writer.content(content) if content else []
        for call_id, name, arguments in calls:
            pieces += writer.tool_call(len(writer.calls), call_id, name, arguments, null_content=True)
        if data.get("done"):
            self.state.usage = _usage(data)
            pieces.append(writer.finish(_finish(data, bool(writer.calls))))
        return pieces

    def end(self, usage: Usage | None) -> list[bytes]:
        return self.writer.close(usage)
