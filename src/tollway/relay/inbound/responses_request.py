"""OpenAI Responses requests (`POST /v1/responses`) as OpenAI chat requests, for channels that speak only chat.

Only the stateless subset travels: `input` (text or items: messages, function calls and their outputs),
`instructions`, function tools, `tool_choice`, `reasoning.effort`, `text.format`, `max_output_tokens`.
What needs OpenAI's server (stored responses and conversations, background runs, stored prompts, built-in
tools, files by id) is refused with a 400 naming the field, never dropped: `unsupported`, which the pipeline
may still take to an OpenAI channel, where the body passes through. `store` left out is taken as false
(every SDK leaves it out by default); `store: true` asks for storage and is refused. Reasoning items a
client sends back are the model's own earlier thoughts, which chat upstreams do not take: they are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tollway.errors import InvalidRequest, UpstreamError
from tollway.relay.adaptors.failures import unsupported
from tollway.relay.inbound.chat_body import answerable, image_part, integer, number, streamed, tool_list, tool_result

# The request fields a Response object repeats back.
_ECHOED = ("instructions", "max_output_tokens", "metadata", "parallel_tool_calls", "reasoning", "temperature",
           "text", "tool_choice", "tools", "top_p", "truncation", "user", "safety_identifier", "prompt_cache_key",
           "service_tier", "top_logprobs", "max_tool_calls")
_STATEFUL = ("previous_response_id", "conversation", "prompt")


@dataclass(frozen=True)
class ResponsesAsk:
    """What the answer to a Responses request needs: the model, streaming, and the settings it repeats back."""

    model: str
    stream: bool = False
    echo: dict[str, Any] = field(default_factory=dict)


def _refuse(what: str, param: str) -> UpstreamError:
    return unsupported(f"{what} is not supported on this channel (it speaks chat completions only)", param=param)


def _part(part: Any, param: str) -> dict[str, Any]:
    """An OpenAI chat content part of a Responses content part."""
    if isinstance(part, str):
        return {"type": "text", "text": part}
    if not isinstance(part, dict):
        raise InvalidRequest(f"'{param}' must be an object", param=param)
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text", "refusal"):
        text = part.get("refusal" if kind == "refusal" else "text")
        if not isinstance(text, str):
            raise InvalidRequest(f"'{param}.text' must be a string", param=f"{param}.text")
        return {"type": "text", "text": text}
    if kind == "input_image":
        if isinstance(part.get("image_url"), str) and part["image_url"]:
            return image_part(part["image_url"], part.get("detail"))
        raise _refuse("an input_image given by file_id", f"{param}.file_id")
    if kind == "input_file":
        if isinstance(part.get("file_data"), str) and part["file_data"]:
            file = {"file_data": part["file_data"], "filename": str(part.get("filename") or "file")}
            return {"type": "file", "file": file}
        raise _refuse("an input_file given by file_id or file_url", f"{param}.file_id")
    if kind == "input_audio" and isinstance(part.get("input_audio"), dict):
        return {"type": "input_audio", "input_audio": part["input_audio"]}
    raise _refuse(f"content of type {kind!r}", f"{param}.type")


def _parts(content: Any, param: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise InvalidRequest(f"'{param}' must be a string or an array", param=param)
    return [_part(part, f"{param}[{i}]") for i, part in enumerate(content)]


def _text(parts: list[dict[str, Any]], param: str, role: str) -> str:
    if any(part["type"] != "text" for part in parts):
        raise InvalidRequest(f"{role} messages take text only", param=param)
    return "".join(part["text"] for part in parts)


class _Conversation:
    """Builds the chat messages of `input` items, keeping function calls with the assistant turn they belong to."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self._images: list[Any] = []  # pictures from function outputs, sent as a user message after them

    def _flush(self) -> None:
        if self._images:
            self.messages.append({"role": "user", "content": self._images})
            self._images = []

    def _assistant(self) -> dict[str, Any]:
        last = self.messages[-1] if self.messages else None
        if last is None or last["role"] != "assistant":
            last = {"role": "assistant", "content": None}
            self.messages.append(last)
        return last

    def item(self, item: Any, param: str) -> None:
        if not isinstance(item, dict):
            raise InvalidRequest(f"'{param}' must be an object", param=param)
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind != "function_call_output":
            self._flush()
        if kind == "message":
            self._message(item, param)
        elif kind == "function_call":
            name, call_id = item.get("name"), item.get("call_id")
            if not isinstance(name, str) or not isinstance(call_id, str):
                raise InvalidRequest(f"'{param}' needs a string 'name' and 'call_id'", param=param)
            arguments = item.get("arguments")
            call = {"id": call_id, "type": "function",
                    "function": {"name": name, "arguments": arguments if isinstance(arguments, str) else "{}"}}
            self._assistant().setdefault("tool_calls", []).append(call)
        elif kind == "function_call_output":
            output = item.get("output")
            parts = [{"type": "text", "text": output}] if isinstance(output, str) else _parts(output, f"{param}.output")
            message, images = tool_result(str(item.get("call_id") or ""), parts)
            self.messages.append(message)
            self._images += images
        elif kind == "reasoning":
            return
        elif kind == "item_reference":
            raise _refuse("an item_reference (a stored item)", f"{param}.type")
        else:
            raise _refuse(f"an input item of type {kind!r}", f"{param}.type")

    def _message(self, item: dict[str, Any], param: str) -> None:
        role = item.get("role")
        parts = _parts(item.get("content"), f"{param}.content")
        if role == "assistant":
            text = _text(parts, f"{param}.content", "assistant")
            last = self.messages[-1] if self.messages else None
            if last is not None and last["role"] == "assistant" and "tool_calls" not in last:
                last["content"] = (last["content"] or "") + text
            else:
                self.messages.append({"role": "assistant", "content": text})
        elif role in ("system", "developer"):
            # Chat-only upstreams know "system"; "developer" is OpenAI's newer name for it.
            self.messages.append({"role": "system", "content": _text(parts, f"{param}.content", str(role))})
        elif role == "user":
            if len(parts) == 1 and parts[0]["type"] == "text":
                self.messages.append({"role": "user", "content": parts[0]["text"]})
            else:
                self.messages.append({"role": "user", "content": parts})
        else:
            raise InvalidRequest(f"'{param}.role' must be user, assistant, system or developer", param=f"{param}.role")

    def done(self) -> list[dict[str, Any]]:
        self._flush()
        return self.messages


def _tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for i, tool in enumerate(tool_list(body)):
        if not isinstance(tool, dict):
            raise InvalidRequest(f"'tools[{i}]' must be an object", param=f"tools[{i}]")
        if tool.get("type") != "function":
            raise _refuse(f"the built-in tool {tool.get('type')!r}", f"tools[{i}].type")
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise InvalidRequest(f"'tools[{i}].name' is required", param=f"tools[{i}].name")
        function: dict[str, Any] = {"name": tool["name"]}
        for name in ("description", "parameters", "strict"):
            if tool.get(name) is not None:
                function[name] = tool[name]
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(chat: dict[str, Any], choice: Any) -> None:
    if choice is None:
        return
    if choice in ("auto", "none", "required"):
        chat["tool_choice"] = choice
        return
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "function" and isinstance(choice.get("name"), str):
        chat["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    elif kind == "allowed_tools" and isinstance(choice.get("tools"), list):
        names = [tool.get("name") for tool in choice["tools"] if isinstance(tool, dict)]
        allowed = {name for name in names if isinstance(name, str)}
        chat["tools"] = [tool for tool in chat["tools"] if tool["function"]["name"] in allowed]
        chat["tool_choice"] = "required" if choice.get("mode") == "required" else "auto"
    else:
        raise _refuse(f"a tool_choice of type {kind!r}", "tool_choice.type" if kind else "tool_choice")


def _format(chat: dict[str, Any], text: Any) -> None:
    spec = text.get("format") if isinstance(text, dict) else None
    kind = spec.get("type") if isinstance(spec, dict) else None
    if kind == "json_object":
        chat["response_format"] = {"type": "json_object"}
    elif kind == "json_schema" and isinstance(spec, dict):
        if not isinstance(spec.get("schema"), dict):
            raise InvalidRequest("'text.format.schema' must be an object", param="text.format.schema")
        schema = {name: spec[name] for name in ("name", "schema", "strict", "description")
                  if spec.get(name) is not None}
        chat["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", **schema}}
    elif kind not in (None, "text"):
        raise _refuse(f"a text.format of type {kind!r}", "text.format.type")


def chat_request(body: Any) -> tuple[dict[str, Any], ResponsesAsk]:
    """(the OpenAI chat body, what its answer needs) of a Responses request; refuses what chat cannot carry."""
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' is required and must be a string", param="model")
    for name in _STATEFUL:
        if body.get(name) is not None:
            raise _refuse(f"'{name}' (state kept by OpenAI)", name)
    if body.get("background") is True:
        raise _refuse("'background' (a response run and stored by OpenAI)", "background")
    if body.get("store") is True:
        raise _refuse("'store': true (storing the response for later)", "store")
    conversation = _Conversation()
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        conversation.messages.append({"role": "system", "content": instructions})
    source = body.get("input")
    if isinstance(source, str):
        conversation.messages.append({"role": "user", "content": source})
    elif isinstance(source, list):
        for i, item in enumerate(source):
            conversation.item(item, f"input[{i}]")
    else:
        raise InvalidRequest("'input' must be a string or an array of items", param="input")
    chat: dict[str, Any] = {"model": model, "messages": answerable(conversation.done(), "input")}
    chat["tools"] = _tools(body)
    _tool_choice(chat, body.get("tool_choice"))
    if not chat["tools"]:
        # Upstreams refuse an empty tool list, and a tool_choice without tools.
        del chat["tools"]
        chat.pop("tool_choice", None)
    elif isinstance(body.get("parallel_tool_calls"), bool):
        chat["parallel_tool_calls"] = body["parallel_tool_calls"]
    _format(chat, body.get("text"))
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and isinstance(reasoning.get("effort"), str):
        chat["reasoning_effort"] = reasoning["effort"]
    limit = integer(body, "max_output_tokens")
    if limit is not None:
        chat["max_tokens"] = limit
    for name in ("temperature", "top_p"):
        value = number(body, name)
        if value is not None:
            chat[name] = value
    user = body.get("safety_identifier") or body.get("user")
    if isinstance(user, str) and user:
        chat["user"] = user
    stream = body.get("stream") is True
    echo = {name: body[name] for name in _ECHOED if name in body}
    return streamed(chat, stream), ResponsesAsk(model, stream, echo)
