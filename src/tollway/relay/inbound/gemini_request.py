"""Gemini native requests (`generateContent`, `streamGenerateContent`, `countTokens`) as OpenAI chat requests.

Google's JSON parser takes camelCase and snake_case field names alike, and google-genai mixes them (its
`thinkingConfig` holds `thinking_budget`, its `inlineData` holds `mime_type`), so every field is read under
both. The system prompt is read from `systemInstruction` whatever role it claims (google-genai says "user").
Embeddings (`embedContent`, `batchEmbedContents`) are in gemini_embeddings.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from tollway.billing.tokenizer import Counter
from tollway.errors import InvalidRequest, UpstreamError
from tollway.relay.adaptors.failures import unsupported
from tollway.relay.adaptors.gemini_request import THINKING_BUDGETS
from tollway.relay.inbound.chat_body import (
    answerable,
    data_url,
    effort_of,
    image_part,
    integer,
    number,
    streamed,
    strings,
    tool_result,
)
from tollway.relay.inbound.gemini_schema import json_schema

_EFFORTS = ("minimal", "low", "medium", "high")
_MODES = {"AUTO": "auto", "ANY": "required", "VALIDATED": "auto", "NONE": "none"}
_AUDIO = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/mp3": "mp3", "audio/mpeg": "mp3"}
_STANDARD_BASE64 = str.maketrans("-_", "+/")


@dataclass(frozen=True)
class GeminiAsk:
    """What the answer to a Gemini request needs: the model, streaming, and whether thoughts are wanted."""

    model: str
    stream: bool = False
    thoughts: bool = False


@functools.cache
def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def field(data: Mapping[str, Any], name: str) -> Any:
    """A field by its camelCase name or its snake_case spelling."""
    value = data.get(name)
    return value if value is not None else data.get(_snake(name))


def key_of(data: Mapping[str, Any], name: str) -> str:
    """The spelling of a field the object uses: camelCase unless only the snake_case one is there."""
    return name if name in data or _snake(name) not in data else _snake(name)


def model_name(path_model: str) -> str:
    """The model of a `models/{model}:action` path, with or without the `models/` prefix."""
    return path_model.removeprefix("models/")


def refuse(what: str, param: str) -> UpstreamError:
    """A well-formed request a chat channel cannot serve; a Gemini channel, which takes it as it is, may."""
    return unsupported(f"{what} cannot be translated for this channel; use a Gemini channel", param=param)


def _object(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRequest(f"'{param}' must be an object", param=param)
    return value


def _media(part: dict[str, Any], param: str) -> dict[str, Any]:
    """An OpenAI content part of an inlineData or fileData part."""
    inline = field(part, "inlineData")
    if isinstance(inline, dict):
        mime, data = str(field(inline, "mimeType") or ""), field(inline, "data")
        if not isinstance(data, str):
            raise InvalidRequest(f"'{param}.inlineData.data' must be base64 text", param=f"{param}.inlineData.data")
        # google-genai writes bytes in URL-safe base64, which Google takes; data URLs and OpenAI take the standard one.
        data = data.translate(_STANDARD_BASE64)
        if mime.startswith("image/"):
            return image_part(data_url(mime, data))
        if mime in _AUDIO:
            return {"type": "input_audio", "input_audio": {"data": data, "format": _AUDIO[mime]}}
        return {"type": "file", "file": {"file_data": data_url(mime or "application/octet-stream", data),
                                         "filename": str(field(inline, "displayName") or "file")}}
    file = _object(field(part, "fileData"), f"{param}.fileData")
    uri, mime = str(field(file, "fileUri") or ""), str(field(file, "mimeType") or "")
    if uri.startswith(("https://", "http://")) and (mime.startswith("image/") or not mime):
        return image_part(uri)
    raise refuse(f"a fileData part of type {mime or 'unknown'} ({uri[:40]})", f"{param}.fileData")


class _Conversation:
    """Builds chat messages of Gemini contents, pairing each functionResponse with the functionCall it answers."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self._waiting: dict[str, list[str]] = {}  # function name → ids of its calls not answered yet
        self._count = 0

    def _call(self, call: dict[str, Any]) -> dict[str, Any]:
        name = str(field(call, "name") or "")
        call_id = field(call, "id")
        if not isinstance(call_id, str) or not call_id:
            self._count += 1
            call_id = f"call_{self._count}"
        self._waiting.setdefault(name, []).append(call_id)
        args = field(call, "args")
        return {"id": call_id, "type": "function",
                "function": {"name": name, "arguments": orjson.dumps(args if isinstance(args, dict) else {}).decode()}}

    def _answer(self, response: dict[str, Any], param: str) -> tuple[dict[str, Any], list[Any]]:
        name = str(field(response, "name") or "")
        waiting = self._waiting.get(name) or []
        call_id = field(response, "id")
        if isinstance(call_id, str) and call_id in waiting:
            waiting.remove(call_id)
        else:
            call_id = waiting.pop(0) if waiting else f"call_{name}"
        result = field(response, "response")
        parts: list[dict[str, Any]] = [{"type": "text", "text": orjson.dumps(result if result is not None else {})
                                        .decode()}]
        extra = field(response, "parts")
        for j, part in enumerate(extra if isinstance(extra, list) else ()):
            parts.append(_media(_object(part, f"{param}.parts[{j}]"), f"{param}.parts[{j}]"))
        return tool_result(call_id, parts)

    def content(self, content: Any, param: str) -> None:
        content = _object(content, param)
        role = content.get("role") or "user"
        if role not in ("user", "model", "function"):
            raise InvalidRequest(f"'{param}.role' must be 'user' or 'model'", param=f"{param}.role")
        parts = field(content, "parts")
        if not isinstance(parts, list):
            raise InvalidRequest(f"'{param}.parts' must be an array", param=f"{param}.parts")
        said: list[dict[str, Any]] = []
        calls: list[dict[str, Any]] = []
        answers: list[dict[str, Any]] = []
        images: list[Any] = []
        for j, part in enumerate(parts):
            where = f"{param}.parts[{j}]"
            part = _object(part, where)
            if isinstance(part.get("text"), str):
                if part.get("thought") is not True:  # the model's earlier thoughts: chat upstreams take none back
                    said.append({"type": "text", "text": part["text"]})
            elif isinstance(field(part, "functionCall"), dict):
                calls.append(self._call(field(part, "functionCall")))
            elif isinstance(field(part, "functionResponse"), dict):
                message, spilled = self._answer(field(part, "functionResponse"), f"{where}.functionResponse")
                answers.append(message)
                images += spilled
            elif field(part, "inlineData") is not None or field(part, "fileData") is not None:
                said.append(_media(part, where))
            elif not (set(part) - {"thought", "thoughtSignature", "thought_signature", "videoMetadata",
                                   "video_metadata", "partMetadata", "part_metadata"}):
                continue  # a signature or metadata alone carries nothing for the model
            else:
                raise refuse(f"a part with {', '.join(sorted(part))}", where)
        self._add(role, said, calls, answers, images)

    def _add(self, role: str, said: list[dict[str, Any]], calls: list[dict[str, Any]],
             answers: list[dict[str, Any]], images: list[Any]) -> None:
        if role == "model":
            if any(part["type"] != "text" for part in said):
                raise refuse("pictures or files in a model turn", "contents")
            if said or calls:
                message: dict[str, Any] = {"role": "assistant", "content": "".join(p["text"] for p in said) or None}
                if calls:
                    message["tool_calls"] = calls
                self.messages.append(message)
            return
        self.messages += answers
        said = images + said
        if len(said) == 1 and said[0]["type"] == "text":
            self.messages.append({"role": "user", "content": said[0]["text"]})
        elif said:
            self.messages.append({"role": "user", "content": said})


def _system(body: dict[str, Any]) -> str:
    system = field(body, "systemInstruction")
    if system is None:
        return ""
    if isinstance(system, str):
        return system
    parts = field(_object(system, "systemInstruction"), "parts")
    return "\n".join(str(part.get("text") or "") for part in parts if isinstance(part, dict)) \
        if isinstance(parts, list) else ""


def _tools(chat: dict[str, Any], body: dict[str, Any]) -> None:
    tools = field(body, "tools")
    if tools is not None and not isinstance(tools, list):
        raise InvalidRequest("'tools' must be an array", param="tools")
    declared: list[dict[str, Any]] = []
    for i, tool in enumerate(tools or ()):
        tool = _object(tool, f"tools[{i}]")
        for key in tool:
            if key not in ("functionDeclarations", "function_declarations"):
                raise refuse(f"Gemini's built-in tool {key}", f"tools[{i}].{key}")
        declarations = field(tool, "functionDeclarations")
        if not isinstance(declarations, list):
            raise InvalidRequest(f"'tools[{i}].functionDeclarations' must be an array",
                                 param=f"tools[{i}].functionDeclarations")
        for j, declaration in enumerate(declarations):
            where = f"tools[{i}].functionDeclarations[{j}]"
            declaration = _object(declaration, where)
            name = field(declaration, "name")
            if not isinstance(name, str) or not name:
                raise InvalidRequest(f"'{where}.name' is required", param=f"{where}.name")
            function: dict[str, Any] = {"name": name}
            if field(declaration, "description"):
                function["description"] = str(field(declaration, "description"))
            schema = field(declaration, "parametersJsonSchema")
            openapi = field(declaration, "parameters")
            function["parameters"] = schema if isinstance(schema, dict) else \
                json_schema(openapi) if isinstance(openapi, dict) else {"type": "object", "properties": {}}
            declared.append({"type": "function", "function": function})
    if not declared:
        return
    config = field(body, "toolConfig")
    calling = field(config, "functionCallingConfig") if isinstance(config, dict) else None
    mode = str(field(calling, "mode") or "AUTO").upper() if isinstance(calling, dict) else "AUTO"
    allowed = field(calling, "allowedFunctionNames") if isinstance(calling, dict) else None
    if isinstance(allowed, list) and allowed:
        declared = [tool for tool in declared if tool["function"]["name"] in allowed]
    chat["tools"] = declared
    choice = _MODES.get(mode, "auto")
    if choice == "required" and len(declared) == 1:
        chat["tool_choice"] = {"type": "function", "function": {"name": declared[0]["function"]["name"]}}
    elif choice != "auto":
        chat["tool_choice"] = choice


def _output(chat: dict[str, Any], config: dict[str, Any]) -> None:
    modalities = field(config, "responseModalities")
    for modality in modalities if isinstance(modalities, list) else ():
        if str(modality).upper() != "TEXT":
            raise refuse(f"a response in {modality}", "generationConfig.responseModalities")
    if field(config, "responseMimeType") != "application/json":
        return
    schema = field(config, "responseJsonSchema")
    openapi = field(config, "responseSchema")
    if not isinstance(schema, dict) and isinstance(openapi, dict):
        schema = json_schema(openapi)
    chat["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}} \
        if isinstance(schema, dict) else {"type": "json_object"}


def _thinking(chat: dict[str, Any], config: dict[str, Any]) -> bool:
    """Set reasoning_effort from thinkingConfig; whether the client wants thoughts back."""
    thinking = field(config, "thinkingConfig")
    if not isinstance(thinking, dict):
        return False
    level = str(field(thinking, "thinkingLevel") or "").lower()
    budget = integer(thinking, key_of(thinking, "thinkingBudget"), "generationConfig.thinkingConfig.thinkingBudget")
    if level in _EFFORTS:
        chat["reasoning_effort"] = level
    elif budget is not None and budget > 0:
        chat["reasoning_effort"] = effort_of(budget, THINKING_BUDGETS)
    # A budget of 0 turns thinking off; -1 leaves it to the model: neither has an effort to ask for.
    return field(thinking, "includeThoughts") is True


def _generation(chat: dict[str, Any], body: dict[str, Any]) -> bool:
    config = field(body, "generationConfig")
    if config is None:
        return False
    config = _object(config, "generationConfig")
    for name, key in (("temperature", "temperature"), ("topP", "top_p"), ("topK", "top_k"),
                      ("presencePenalty", "presence_penalty"), ("frequencyPenalty", "frequency_penalty")):
        value = number(config, key_of(config, name), f"generationConfig.{name}")
        if value is not None:
            chat[key] = int(value) if key == "top_k" else value  # google-genai writes topK as a float
    for name, key in (("maxOutputTokens", "max_tokens"), ("seed", "seed"), ("candidateCount", "n")):
        value = integer(config, key_of(config, name), f"generationConfig.{name}")
        if value is not None and (key != "n" or value > 1):
            chat[key] = value
    stops = strings(field(config, "stopSequences"), "generationConfig.stopSequences")
    if stops:
        chat["stop"] = stops
    _output(chat, config)
    return _thinking(chat, config)


def chat_request(body: Any, path_model: str, *, stream: bool = False) -> tuple[dict[str, Any], GeminiAsk]:
    """(the OpenAI chat body, what its answer needs) of a generateContent request for the model in the path."""
    body = _object(body, "body")
    model = model_name(path_model)
    if not model:
        raise InvalidRequest("the model is missing from the path", param="model")
    if field(body, "cachedContent"):
        raise refuse("cachedContent (a cache kept by Gemini)", "cachedContent")
    contents = field(body, "contents")
    if not isinstance(contents, list) or not contents:
        raise InvalidRequest("'contents' must be a non-empty array", param="contents")
    conversation = _Conversation()
    system = _system(body)
    if system:
        conversation.messages.append({"role": "system", "content": system})
    for i, content in enumerate(contents):
        conversation.content(content, f"contents[{i}]")
    chat: dict[str, Any] = {"model": model, "messages": answerable(conversation.messages, "contents")}
    _tools(chat, body)
    thoughts = _generation(chat, body)
    return streamed(chat, stream), GeminiAsk(model, stream, thoughts)


def count_tokens(body: Any, path_model: str, counter: Counter) -> bytes:
    """`countTokens`'s answer `{"totalTokens": n}`, counted here (for channels that cannot count)."""
    body = _object(body, "body")
    inner = field(body, "generateContentRequest")
    chat, _ = chat_request(inner if isinstance(inner, dict) else body, path_model)
    total = counter.prompt(chat)
    if chat.get("tools"):
        total += counter.text(orjson.dumps(chat["tools"]).decode())
    return orjson.dumps({"totalTokens": total})
