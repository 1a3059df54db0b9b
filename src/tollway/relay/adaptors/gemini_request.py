"""OpenAI requests as Gemini bodies (generateContent, batchEmbedContents); independent of URL and auth (Vertex too)."""

from __future__ import annotations

import mimetypes
from typing import Any

import orjson

from tollway.billing.tokenizer import encoding
from tollway.errors import UpstreamError
from tollway.relay.adaptors.content import data_url, image_url_of, text_of
from tollway.relay.adaptors.gemini_answer import SIGNATURE_MARK
from tollway.relay.calls import Call

# Every text harm category Gemini filters on (CIVIC_INTEGRITY is deprecated and refused with some thresholds).
HARM_CATEGORIES = (
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
)
MAX_IMAGES = 16
# reasoning_effort → thinking budget (tokens) of the Gemini 2.5+ thinking models.
THINKING_BUDGETS = {"none": 0, "minimal": 0, "low": 1024, "medium": 8192, "high": 24576}
_THINKING_MODELS = ("gemini-2.5", "gemini-3", "gemini-flash-latest", "gemini-pro-latest")
_TOOL_MODES = {"none": "NONE", "auto": "AUTO", "required": "ANY"}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _media(url: str, fallback: str) -> dict[str, Any]:
    inline = data_url(url)
    if inline is not None:
        return {"inlineData": {"mimeType": inline[0], "data": inline[1]}}
    # A URL that was not inlined (gs:// or a Gemini File API URI) is passed by reference.
    return {"fileData": {"mimeType": mimetypes.guess_type(url)[0] or fallback, "fileUri": url}}


class _Parts:
    """Converts OpenAI content parts, counting images against Gemini's limit per request."""

    def __init__(self) -> None:
        self.images = 0

    def of(self, content: Any) -> list[dict[str, Any]]:
        if isinstance(content, str):
            return [{"text": content}] if content else []
        parts: list[dict[str, Any]] = []
        for part in content if isinstance(content, list) else ():
            if not isinstance(part, dict):
                continue
            kind = part.get("type")
            if kind == "text" and isinstance(part.get("text"), str):
                parts.append({"text": part["text"]})
            elif kind == "image_url":
                url = image_url_of(part)
                self.images += 1
                if url is not None and self.images <= MAX_IMAGES:  # One API drops images past the limit
                    parts.append(_media(url, "image/jpeg"))
            elif kind == "input_audio" and isinstance(part.get("input_audio"), dict):
                audio = part["input_audio"]
                parts.append({"inlineData": {"mimeType": f"audio/{audio.get('format') or 'wav'}",
                                             "data": str(audio.get("data") or "")}})
            elif kind == "file" and isinstance(part.get("file"), dict):
                data = part["file"].get("file_data")
                if isinstance(data, str):
                    parts.append(_media(data, "application/pdf"))
        return parts


def function_args(text: Any) -> Any:
    """Gemini's `args` object for OpenAI's arguments string (what does not parse to an object is wrapped)."""
    try:
        value = orjson.loads(text) if isinstance(text, str) and text else {}
    except orjson.JSONDecodeError:
        return {"arguments": text}
    return value if isinstance(value, dict) else {"value": value}


def _function_call(name: Any, arguments: Any, call_id: Any) -> dict[str, Any]:
    part: dict[str, Any] = {"functionCall": {"name": str(name or ""), "args": function_args(arguments)}}
    if isinstance(call_id, str) and SIGNATURE_MARK in call_id:
        part["thoughtSignature"] = call_id.split(SIGNATURE_MARK, 1)[1]
    return part


def _function_response(name: str, content: Any) -> dict[str, Any]:
    text = text_of(content)
    try:
        value = orjson.loads(text) if text else ""
    except orjson.JSONDecodeError:
        value = text
    # `response` must be an object; other results are wrapped the way Google's own SDKs wrap them.
    return {"functionResponse": {"name": name, "response": value if isinstance(value, dict) else {"result": value}}}


def _model_parts(message: dict[str, Any], parts: _Parts) -> list[dict[str, Any]]:
    converted = parts.of(message.get("content"))
    for tool_call in message.get("tool_calls") or ():
        function = tool_call.get("function") if isinstance(tool_call, dict) else None
        if isinstance(function, dict):
            converted.append(_function_call(function.get("name"), function.get("arguments"), tool_call.get("id")))
    legacy = message.get("function_call")
    if isinstance(legacy, dict):
        converted.append(_function_call(legacy.get("name"), legacy.get("arguments"), None))
    return converted


def contents_of(messages: list[Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """Gemini `contents` and the system texts of OpenAI messages; consecutive turns of one role are merged."""
    names = {str(tc.get("id")): str((tc.get("function") or {}).get("name") or "")
             for m in messages if isinstance(m, dict) for tc in m.get("tool_calls") or () if isinstance(tc, dict)}
    parts = _Parts()
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(text_of(message.get("content")))
            continue
        if role in ("tool", "function"):
            call = str(message.get("tool_call_id") or "")
            name = message.get("name") or names.get(call) or call
            turn, converted = "user", [_function_response(str(name), message.get("content"))]
        elif role == "assistant":
            turn, converted = "model", _model_parts(message, parts)
        else:
            turn, converted = "user", parts.of(message.get("content"))
        if not converted:
            continue  # Gemini refuses turns without parts
        if contents and contents[-1]["role"] == turn:
            contents[-1]["parts"].extend(converted)
        else:
            contents.append({"role": turn, "parts": converted})
    return contents, system


def _declaration(function: Any) -> dict[str, Any] | None:
    if not isinstance(function, dict) or not function.get("name"):
        return None
    declaration: dict[str, Any] = {"name": function["name"]}
    if function.get("description"):
        declaration["description"] = function["description"]
    schema = function.get("parameters")
    if isinstance(schema, dict) and (schema.get("properties") or schema.get("type") not in (None, "object")):
        # JSON Schema as OpenAI clients write it; `parameters` would take only Google's OpenAPI subset.
        declaration["parametersJsonSchema"] = schema
    return declaration


def _tools(body: dict[str, Any]) -> dict[str, Any]:
    functions = [tool.get("function") for tool in body.get("tools") or () if isinstance(tool, dict)]
    functions += list(body.get("functions") or ())
    declarations = [d for d in map(_declaration, functions) if d is not None]
    if not declarations:
        return {}
    found: dict[str, Any] = {"tools": [{"functionDeclarations": declarations}]}
    choice = body.get("tool_choice", body.get("function_call"))
    config: dict[str, Any] = {}
    if isinstance(choice, str) and choice in _TOOL_MODES:
        config = {"mode": _TOOL_MODES[choice]}
    elif isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name") if choice.get("type") == "function" else choice.get("name")
        if name:
            config = {"mode": "ANY", "allowedFunctionNames": [name]}
    if config:
        found["toolConfig"] = {"functionCallingConfig": config}
    return found


def generation_config(call: Call, model: str) -> dict[str, Any]:
    """generationConfig from OpenAI's sampling, length, stop, format and reasoning options."""
    body = call.body
    config: dict[str, Any] = {}
    for name, key in (("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK"),
                      ("presence_penalty", "presencePenalty"), ("frequency_penalty", "frequencyPenalty")):
        if _number(body.get(name)):
            config[key] = body[name]
    if isinstance(body.get("seed"), int) and not isinstance(body["seed"], bool):
        config["seed"] = body["seed"]
    if isinstance(body.get("n"), int) and not isinstance(body["n"], bool) and body["n"] > 1:
        config["candidateCount"] = body["n"]
    if call.max_tokens:
        config["maxOutputTokens"] = call.max_tokens
    stop = body.get("stop")
    if isinstance(stop, str) and stop:
        config["stopSequences"] = [stop]
    elif isinstance(stop, list) and stop:
        config["stopSequences"] = [s for s in stop if isinstance(s, str)]
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        schema = (response_format.get("json_schema") or {}).get("schema")
        if isinstance(schema, dict):
            config["responseJsonSchema"] = schema
    effort = body.get("reasoning_effort")
    if isinstance(effort, str) and effort in THINKING_BUDGETS and model.startswith(_THINKING_MODELS):
        budget = THINKING_BUDGETS[effort]
        if budget == 0 and "-pro" in model:
            budget = 128  # Pro models cannot stop thinking; 128 is the least they take
        config["thinkingConfig"] = {"thinkingBudget": budget, "includeThoughts": budget > 0}
    return config


def gemini_body(call: Call, model: str, *, safety: str = "BLOCK_NONE") -> dict[str, Any]:
    """The generateContent body of an OpenAI chat call."""
    contents, system = contents_of(call.body["messages"])
    body: dict[str, Any] = {"contents": contents}
    if any(system):
        body["systemInstruction"] = {"parts": [{"text": "\n".join(s for s in system if s)}]}
    body.update(_tools(call.body))
    body["safetySettings"] = [{"category": category, "threshold": safety} for category in HARM_CATEGORIES]
    config = generation_config(call, model)
    if config:
        body["generationConfig"] = config
    return body


def _inputs(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        value = [value]  # one input given as token ids
    texts = []
    for item in value if isinstance(value, list) else ():
        if isinstance(item, str):
            texts.append(item)
            continue
        try:
            # Clients such as LangChain send token ids (cl100k_base); Gemini takes text only.
            texts.append(encoding("cl100k_base").decode(item))
        except (TypeError, ValueError, KeyError, OverflowError):
            raise UpstreamError("'input' must be a string, an array of strings or of token arrays",
                                status_code=400, error_type="invalid_request_error", param="input") from None
    return texts


def embedding_body(call: Call, model: str) -> dict[str, Any]:
    """The batchEmbedContents body of an OpenAI embeddings call: one request per input."""
    extra: dict[str, Any] = {}
    dimensions = call.body.get("dimensions")
    if isinstance(dimensions, int) and not isinstance(dimensions, bool) and dimensions > 0:
        extra["outputDimensionality"] = dimensions
    return {"requests": [{"model": f"models/{model}", "content": {"parts": [{"text": text}]}, **extra}
                         for text in _inputs(call.body.get("input"))]}
