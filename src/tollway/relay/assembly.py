"""Converting between a whole OpenAI answer and an OpenAI stream, for providers that offer only one of them.

A client asking for a stream from a provider that answers whole gets the answer replayed as SSE chunks;
a client asking for a whole answer from a stream-only provider gets the stream assembled.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from tollway.relay import sse
from tollway.relay.calls import Call, Mode


def completion_from_events(events: list[bytes], call: Call) -> dict[str, Any]:
    """Assemble OpenAI SSE bytes (chat or text completion chunks) into one whole answer."""
    head: dict[str, Any] = {}
    choices: dict[int, dict[str, Any]] = {}
    usage: Any = None
    for line in b"".join(events).split(b"\n"):
        payload = sse.data_of(line)
        if not payload or payload.strip() == b"[DONE]":
            continue
        chunk = orjson.loads(payload)
        if chunk.get("usage"):
            usage = chunk["usage"]
        if not head and chunk.get("choices"):
            head = {"id": chunk.get("id", ""), "created": chunk.get("created", int(time.time())),
                    "model": chunk.get("model", call.model)}
        for part in chunk.get("choices") or []:
            _merge(choices.setdefault(int(part.get("index", 0)), {}), part)
    kind = "chat.completion" if call.mode is Mode.CHAT else "text_completion"
    answer: dict[str, Any] = {"id": head.get("id", ""), "object": kind,
                              "created": head.get("created", int(time.time())), "model": head.get("model", call.model),
                              "choices": [_finish(index, choice, call) for index, choice in sorted(choices.items())]}
    if usage is not None:
        answer["usage"] = usage
    return answer


def _merge(choice: dict[str, Any], part: dict[str, Any]) -> None:
    if part.get("finish_reason"):
        choice["finish_reason"] = part["finish_reason"]
    if isinstance(part.get("text"), str):
        choice["text"] = choice.get("text", "") + part["text"]
    delta = part.get("delta") or {}
    for name in ("content", "reasoning_content"):
        if isinstance(delta.get(name), str):
            choice[name] = choice.get(name, "") + delta[name]
    for call in delta.get("tool_calls") or []:
        calls = choice.setdefault("tool_calls", {})
        slot = calls.setdefault(int(call.get("index", 0)), {"id": "", "type": "function",
                                                             "function": {"name": "", "arguments": ""}})
        slot["id"] = call.get("id") or slot["id"]
        function = call.get("function") or {}
        slot["function"]["name"] += function.get("name") or ""
        slot["function"]["arguments"] += function.get("arguments") or ""


def _finish(index: int, choice: dict[str, Any], call: Call) -> dict[str, Any]:
    finish = choice.get("finish_reason") or "stop"
    if call.mode is not Mode.CHAT:
        return {"index": index, "text": choice.get("text", ""), "logprobs": None, "finish_reason": finish}
    message: dict[str, Any] = {"role": "assistant", "content": choice.get("content")}
    if choice.get("reasoning_content"):
        message["reasoning_content"] = choice["reasoning_content"]
    if choice.get("tool_calls"):
        message["tool_calls"] = [choice["tool_calls"][i] for i in sorted(choice["tool_calls"])]
        message["content"] = message["content"] or None
    elif message["content"] is None:
        message["content"] = ""
    return {"index": index, "message": message, "logprobs": None, "finish_reason": finish}


def events_from_completion(answer: dict[str, Any], call: Call) -> list[bytes]:
    """Replay a whole OpenAI answer as stream chunks ending in `data: [DONE]`."""
    chat = call.mode is Mode.CHAT
    base = {"id": answer.get("id", ""), "object": "chat.completion.chunk" if chat else "text_completion",
            "created": answer.get("created", int(time.time())), "model": answer.get("model", call.model)}
    events = []
    for choice in answer.get("choices") or []:
        index = choice.get("index", 0)
        if chat:
            message = dict(choice.get("message") or {})
            delta: dict[str, Any] = {"role": "assistant", "content": message.get("content") or ""}
            if message.get("reasoning_content"):
                delta["reasoning_content"] = message["reasoning_content"]
            if message.get("tool_calls"):
                delta["tool_calls"] = [{**tool, "index": i} for i, tool in enumerate(message["tool_calls"])]
            events.append({**base, "choices": [{"index": index, "delta": delta, "finish_reason": None}]})
            events.append({**base, "choices": [{"index": index, "delta": {},
                                                "finish_reason": choice.get("finish_reason") or "stop"}]})
        else:
            events.append({**base, "choices": [{"index": index, "text": choice.get("text", ""),
                                                "finish_reason": choice.get("finish_reason") or "stop"}]})
    if answer.get("usage"):
        events.append({**base, "choices": [], "usage": answer["usage"]})
    return [sse.frame(orjson.dumps(event)) for event in events] + [sse.DONE]
