"""Cohere (channel type 35, v1 `/v1/chat`): chat, whole or streamed, with tools and web search (answers: cohere_answer).

Cohere's v1 chat takes the newest user turn as `message`, earlier turns as `chat_history` (USER / CHATBOT /
TOOL), system text as `preamble`, and the results of the tools it asked for as `tool_results`.
"""

from __future__ import annotations

from typing import Any

import orjson

from tollway.errors import UpstreamError
from tollway.relay.adaptors.base import Adaptor, Answer, StreamTranslator, Target, UpstreamRequest
from tollway.relay.adaptors.cohere_answer import CohereStream, cohere_answer, cohere_error
from tollway.relay.adaptors.content import text_of
from tollway.relay.adaptors.failures import not_served
from tollway.relay.calls import Call, Mode

WEB_SEARCH = "-internet"
_PY_TYPES = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "object": "Dict", "array": "List"}


def _clamp(value: Any, low: float, high: float) -> float | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    return min(max(float(value), low), high)


def _type(schema: Any) -> str:
    """Cohere v1 parameter types are Python's names (`str`, `List[int]`), not JSON Schema's."""
    if not isinstance(schema, dict):
        return "str"
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "array" and isinstance(schema.get("items"), dict):
        return f"List[{_type(schema['items'])}]"
    return _PY_TYPES.get(str(kind), "str")


def _tool(function: Any) -> dict[str, Any] | None:
    if not isinstance(function, dict) or not function.get("name"):
        return None
    schema: dict[str, Any] = function["parameters"] if isinstance(function.get("parameters"), dict) else {}
    required = set(schema.get("required") or ())
    properties: dict[str, Any] = schema["properties"] if isinstance(schema.get("properties"), dict) else {}
    definitions = {}
    for name, spec in properties.items():
        definition = {"type": _type(spec), "required": name in required}
        if isinstance(spec, dict) and spec.get("description"):
            definition["description"] = spec["description"]
        definitions[name] = definition
    return {"name": function["name"], "description": str(function.get("description") or ""),
            "parameter_definitions": definitions}


def _arguments(text: Any) -> dict[str, Any]:
    try:
        value = orjson.loads(text) if isinstance(text, str) and text else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _outputs(content: Any) -> list[Any]:
    text = text_of(content)
    try:
        value = orjson.loads(text) if text else ""
    except orjson.JSONDecodeError:
        value = text
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        return value
    return [{"result": value}]


class _Conversation:
    """Splits OpenAI messages into Cohere's preamble, history, message and tool results."""

    def __init__(self, messages: list[Any]) -> None:
        self.calls: dict[str, dict[str, Any]] = {}
        for message in messages:
            for call in message.get("tool_calls") or () if isinstance(message, dict) else ():
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict):
                    self.calls[str(call.get("id"))] = {"name": str(function.get("name") or ""),
                                                       "parameters": _arguments(function.get("arguments"))}
        turns = [m for m in messages if isinstance(m, dict)]
        self.preamble = "\n".join(t for m in turns if m.get("role") in ("system", "developer")
                                  if (t := text_of(m.get("content"))))
        turns = [m for m in turns if m.get("role") not in ("system", "developer")]
        end = len(turns)
        while end and turns[end - 1].get("role") == "tool":
            end -= 1
        self.tool_results = [self._result(m) for m in turns[end:]]
        self.message = ""
        if not self.tool_results:
            last = next((i for i in range(end - 1, -1, -1) if turns[i].get("role") == "user"), None)
            if last is not None:
                self.message = text_of(turns[last].get("content"))
                turns = turns[:last] + turns[last + 1:end]
                end = len(turns)
        self.history: list[dict[str, Any]] = []
        for message in turns[:end]:
            self._add(message)

    def _result(self, message: dict[str, Any]) -> dict[str, Any]:
        call = self.calls.get(str(message.get("tool_call_id")))
        call = call or {"name": str(message.get("name") or ""), "parameters": {}}
        return {"call": call, "outputs": _outputs(message.get("content"))}

    def _add(self, message: dict[str, Any]) -> None:
        role = message.get("role")
        if role == "tool":
            if self.history and self.history[-1]["role"] == "TOOL":
                self.history[-1]["tool_results"].append(self._result(message))
            else:
                self.history.append({"role": "TOOL", "tool_results": [self._result(message)]})
            return
        entry: dict[str, Any] = {"role": "CHATBOT" if role == "assistant" else "USER",
                                 "message": text_of(message.get("content"))}
        calls = [self.calls[str(c.get("id"))] for c in message.get("tool_calls") or ()
                 if isinstance(c, dict) and str(c.get("id")) in self.calls]
        if calls:
            entry["tool_calls"] = calls
        self.history.append(entry)


def cohere_body(call: Call, model: str) -> dict[str, Any]:
    """The v1 chat body of an OpenAI chat call; a `-internet` model searches the web through the connector."""
    source = call.body
    talk = _Conversation(source["messages"])
    body: dict[str, Any] = {"model": model.removesuffix(WEB_SEARCH), "message": talk.message}
    if talk.history:
        body["chat_history"] = talk.history
    if talk.preamble:
        body["preamble"] = talk.preamble
    if talk.tool_results:
        body["tool_results"] = talk.tool_results
    if model.endswith(WEB_SEARCH):
        body["connectors"] = [{"id": "web-search"}]
    if call.stream:
        body["stream"] = True
    if isinstance(source.get("temperature"), int | float) and not isinstance(source["temperature"], bool):
        body["temperature"] = source["temperature"]
    if call.max_tokens:
        body["max_tokens"] = call.max_tokens
    # Cohere's ranges are narrower than OpenAI's (p in [0.01, 0.99], penalties in [0, 1], k up to 500).
    for name, key, low, high in (("top_p", "p", 0.01, 0.99), ("frequency_penalty", "frequency_penalty", 0.0, 1.0),
                                 ("presence_penalty", "presence_penalty", 0.0, 1.0)):
        value = _clamp(source.get(name), low, high)
        if value is not None:
            body[key] = value
    top_k = _clamp(source.get("top_k"), 0, 500)
    if top_k is not None:
        body["k"] = int(top_k)
    if isinstance(source.get("seed"), int) and not isinstance(source["seed"], bool):
        body["seed"] = source["seed"]
    stop = source.get("stop")
    if stop:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else [s for s in stop if isinstance(s, str)]
    response_format = source.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema"):
        schema = (response_format.get("json_schema") or {}).get("schema")
        body["response_format"] = {"type": "json_object", **({"schema": schema} if isinstance(schema, dict) else {})}
    if source.get("tool_choice") != "none":
        functions = [t.get("function") for t in source.get("tools") or () if isinstance(t, dict)]
        tools = [t for t in map(_tool, functions + list(source.get("functions") or ())) if t is not None]
        if tools:
            body["tools"] = tools
    return body


class CohereAdaptor(Adaptor):
    """Translator for Cohere channels: chat only (One API supported no other Cohere route)."""

    def request(self, call: Call, target: Target) -> UpstreamRequest:
        if call.mode is not Mode.CHAT:
            raise not_served(target.type.label, call.path)
        channel = target.channel
        base = (channel.base_url or target.type.base_url).rstrip("/")
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {channel.key}"}
        body = cohere_body(call, target.model)
        return UpstreamRequest("POST", f"{base}/v1/chat", headers, orjson.dumps(body), stream=call.stream)

    def answer(self, call: Call, target: Target, status: int, media_type: str, body: bytes) -> Answer:
        return cohere_answer(call, body)

    def translator(self, call: Call, target: Target) -> StreamTranslator:
        return CohereStream(call)

    def error(self, status: int, body: bytes) -> UpstreamError:
        return cohere_error(status, body)
