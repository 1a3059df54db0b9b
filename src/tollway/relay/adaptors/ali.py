"""Alibaba Qwen through DashScope's native API (channel type 17): chat, vision, embeddings and image tasks."""

from __future__ import annotations

import time
from typing import Any

import orjson

from tollway.errors import InvalidRequest, UpstreamError
from tollway.relay.adaptors.ali_stream import AliStream, ali_error, content_text, finish_reason, tool_calls_of
from tollway.relay.adaptors.base import Adaptor, Answer, Target, UpstreamRequest
from tollway.relay.adaptors.content import image_url_of, text_of
from tollway.relay.adaptors.failures import json_object, json_of, obj, unsupported, upstream_error
from tollway.relay.adaptors.openai_out import assistant_message, choice, completion, embeddings
from tollway.relay.calls import Call, Mode
from tollway.relay.usage import Usage, from_openai

TEXT_PATH = "/api/v1/services/aigc/text-generation/generation"
VISION_PATH = "/api/v1/services/aigc/multimodal-generation/generation"
EMBEDDING_PATH = "/api/v1/services/embeddings/text-embedding/text-embedding"
IMAGE_PATH = "/api/v1/services/aigc/text2image/image-synthesis"
TASK_PATH = "/api/v1/tasks/"
SEARCH_SUFFIX = "-internet"

# Seconds between polls of an image task; tests set it lower.
POLL_INTERVAL = 1.0

# OpenAI request fields DashScope's `parameters` takes under the same name.
_SAME_PARAMETERS = ("temperature", "top_k", "seed", "stop", "presence_penalty", "repetition_penalty",
                    "response_format", "tools", "tool_choice", "parallel_tool_calls", "enable_search",
                    "enable_thinking", "thinking_budget")
_TASK_RUNNING = ("PENDING", "RUNNING", "SUSPENDED")


def is_vision(model: str) -> bool:
    """Qwen-VL and QVQ models live on the multimodal endpoint."""
    return "-vl" in model or model.startswith("qvq")


def _base(target: Target) -> str:
    return (target.channel.base_url or target.type.base_url).rstrip("/")


def _headers(target: Target) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {target.channel.key}", "Content-Type": "application/json"}
    plugin = target.channel.config.get("plugin")
    if isinstance(plugin, str) and plugin:
        headers["X-DashScope-Plugin"] = plugin
    return headers


def _vision_content(content: Any) -> list[dict[str, str]]:
    """OpenAI content as DashScope multimodal parts: `{"text": ...}` and `{"image": url or data URL}`."""
    if isinstance(content, str):
        return [{"text": content}]
    parts: list[dict[str, str]] = []
    for part in content if isinstance(content, list) else ():
        url = image_url_of(part)
        if url:
            parts.append({"image": url})
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            parts.append({"text": part["text"]})
    return parts


def chat_messages(messages: list[Any], vision: bool) -> list[dict[str, Any]]:
    """OpenAI messages in DashScope's shape; text models get the text parts only (as in One API)."""
    out: list[dict[str, Any]] = []
    for message in messages:
        role = str(message.get("role", "user")).lower()
        role = "system" if role == "developer" else role
        content = message.get("content")
        converted: dict[str, Any] = {"role": role,
                                     "content": _vision_content(content) if vision else text_of(content, untyped=True)}
        if isinstance(message.get("tool_calls"), list):
            converted["tool_calls"] = message["tool_calls"]
        if role == "tool":
            for name in ("tool_call_id", "name"):
                if isinstance(message.get(name), str):
                    converted[name] = message[name]
        out.append(converted)
    return out


def chat_body(call: Call, target: Target) -> dict[str, Any]:
    """The DashScope generation request of a chat call."""
    body = call.body
    model = target.model
    vision = is_vision(model)
    messages = body["messages"]
    parameters: dict[str, Any] = {"incremental_output": call.stream}
    if not vision:
        parameters["result_format"] = "message"
    for name in _SAME_PARAMETERS:
        if body.get(name) is not None:
            parameters[name] = body[name]
    if isinstance(body.get("functions"), list) and "tools" not in parameters:
        parameters["tools"] = [{"type": "function", "function": f} for f in body["functions"]]
    top_p = body.get("top_p")
    if isinstance(top_p, int | float) and not isinstance(top_p, bool):
        # DashScope requires top_p < 1.
        parameters["top_p"] = min(float(top_p), 0.9999)
    if call.max_tokens:
        parameters["max_tokens"] = call.max_tokens
    if model.endswith(SEARCH_SUFFIX):
        model = model.removesuffix(SEARCH_SUFFIX)
        parameters["enable_search"] = True
    return {"model": model, "input": {"messages": chat_messages(messages, vision)}, "parameters": parameters}


def _embedding_body(call: Call, target: Target) -> dict[str, Any]:
    texts = call.body["input"]
    texts = [texts] if isinstance(texts, str) else texts
    if not all(isinstance(text, str) for text in texts):
        raise InvalidRequest("DashScope embeddings take text input only, not token arrays", param="input")
    body: dict[str, Any] = {"model": target.model, "input": {"texts": texts}}
    dimensions = call.body.get("dimensions")
    if isinstance(dimensions, int) and not isinstance(dimensions, bool):
        body["parameters"] = {"dimension": dimensions}
    return body


def _image_body(call: Call, target: Target) -> dict[str, Any]:
    body = call.body
    prompt: dict[str, Any] = {"prompt": body["prompt"]}
    if isinstance(body.get("negative_prompt"), str):
        prompt["negative_prompt"] = body["negative_prompt"]
    parameters: dict[str, Any] = {"size": str(body.get("size", "1024x1024")).replace("x", "*"),
                                  "n": body.get("n", 1)}
    for name in ("seed", "style", "prompt_extend", "watermark"):
        if body.get(name) is not None:
            parameters[name] = body[name]
    return {"model": target.model.removeprefix("ali-"), "input": prompt, "parameters": parameters}


def _answer_of(status: int, body: bytes) -> dict[str, Any]:
    """The answer object; raises DashScope's error when the body is one (it may come with HTTP 200)."""
    data = json_object(body, "DashScope", "an unexpected answer")
    code = data.get("code")
    if code and not data.get("output"):
        raise ali_error(status, str(code), str(data.get("message") or ""))
    return data


class AliAdaptor(Adaptor):
    """Translator for DashScope's native API."""

    def request(self, call: Call, target: Target) -> UpstreamRequest:
        base, headers = _base(target), _headers(target)
        if call.mode is Mode.CHAT:
            body = chat_body(call, target)
            path = VISION_PATH if is_vision(target.model) else TEXT_PATH
            if call.stream:
                headers["Accept"] = "text/event-stream"
                headers["X-DashScope-SSE"] = "enable"
            return UpstreamRequest("POST", base + path, headers, orjson.dumps(body), stream=call.stream)
        if call.mode is Mode.EMBEDDINGS:
            return UpstreamRequest("POST", base + EMBEDDING_PATH, headers, orjson.dumps(_embedding_body(call, target)))
        if call.mode is Mode.IMAGES:
            headers["X-DashScope-Async"] = "enable"
            return UpstreamRequest("POST", base + IMAGE_PATH, headers, orjson.dumps(_image_body(call, target)))
        raise unsupported(f"channel type {target.type.label} does not support {call.path}")

    def answer(self, call: Call, target: Target, status: int, media_type: str, body: bytes) -> Answer:
        data = _answer_of(status, body)
        if call.mode is Mode.EMBEDDINGS:
            return self._embeddings(call, target, data)
        if call.mode is Mode.IMAGES:
            return self._image_task(call, target, data)
        return self._chat(call, target, data)

    def _chat(self, call: Call, target: Target, data: dict[str, Any]) -> Answer:
        output = obj(data.get("output"))
        raw_choices = [obj(raw) for raw in output.get("choices") or [] if isinstance(raw, dict)]
        if not raw_choices:
            # The legacy text format: `output.text` and `output.finish_reason`.
            raw_choices = [{"message": {"content": output.get("text") or ""},
                            "finish_reason": output.get("finish_reason")}]
        text: list[str] = []
        choices = []
        for index, raw in enumerate(raw_choices):
            said = obj(raw.get("message"))
            content = content_text(said.get("content"))
            reasoning = said.get("reasoning_content")
            reasoning = reasoning if isinstance(reasoning, str) else ""
            calls = tool_calls_of(said.get("tool_calls"))
            text.append(reasoning)
            text.extend(c["function"]["name"] + c["function"]["arguments"] for c in calls)
            text.append(content)
            finish = finish_reason(raw.get("finish_reason"), bool(calls)) or "stop"
            position = raw.get("index")
            reply = assistant_message(content if content or not calls else None, reasoning=reasoning, tool_calls=calls)
            choices.append(choice(position if isinstance(position, int) else index, reply, finish))
        usage = from_openai(data.get("usage"))
        answer_id = f"chatcmpl-{data['request_id']}" if data.get("request_id") else ""
        answer = completion(call, target.model, choices, usage, answer_id=answer_id)
        return Answer(200, answer, "application/json", usage=usage, text="".join(text))

    def _embeddings(self, call: Call, target: Target, data: dict[str, Any]) -> Answer:
        items = [obj(raw) for raw in obj(data.get("output")).get("embeddings") or []]
        vectors = [(item.get("text_index", position), item.get("embedding") or [])
                   for position, item in enumerate(items)]
        usage = Usage(int(obj(data.get("usage")).get("total_tokens") or 0), 0)
        return Answer(200, embeddings(call, target.model, vectors, usage), "application/json", usage=usage)

    def _image_task(self, call: Call, target: Target, data: dict[str, Any]) -> Answer:
        output = obj(data.get("output"))
        state = str(output.get("task_status") or "")
        task_id = str(output.get("task_id") or "")
        if state in _TASK_RUNNING and task_id:
            poll = UpstreamRequest("GET", _base(target) + TASK_PATH + task_id,
                                   {"Authorization": f"Bearer {target.channel.key}"})
            return Answer(200, b"", "", follow=poll, wait=POLL_INTERVAL)
        if state != "SUCCEEDED":
            code = str(output.get("code") or f"task_{state.lower() or 'unknown'}")
            message = str(output.get("message") or f"DashScope image task {task_id} ended as {state or 'UNKNOWN'}")
            raise ali_error(502, code, message)
        images = []
        wants_base64 = call.body.get("response_format") == "b64_json"
        results = [obj(result) for result in output.get("results") or []]
        for result in results:
            if wants_base64 and result.get("b64_image"):
                images.append({"b64_json": result["b64_image"]})
            elif result.get("url"):
                # Without I/O the image cannot be fetched for b64_json, so its URL is returned.
                images.append({"url": result["url"]})
        if not images:
            failed = next((r for r in results if r.get("code")), {})
            raise ali_error(502, str(failed.get("code") or "no_images"),
                            str(failed.get("message") or "DashScope image task succeeded but returned no images"))
        answer = {"created": int(time.time()), "data": images}
        return Answer(200, orjson.dumps(answer), "application/json")

    def translator(self, call: Call, target: Target) -> AliStream:
        return AliStream(call, target.model, incremental=True)

    def error(self, status: int, body: bytes) -> UpstreamError:
        data = json_of(body)
        if isinstance(data, dict) and isinstance(data.get("code"), str) and data["code"]:
            return ali_error(status, data["code"], str(data.get("message") or ""))
        return upstream_error(status, body)
