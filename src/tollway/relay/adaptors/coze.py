"""Coze bots (channel type 34): the v3 chat API, or the legacy v2 API when the channel's `api_version` is "v2".

The model name is `bot-<bot_id>`. Coze has no system role: system messages are prepended to the next user
message. A whole v3 answer is an asynchronous task: create the chat, poll it until it completes, then
read its messages.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson

from tollway.errors import InvalidRequest, UpstreamError
from tollway.relay.adaptors.base import Adaptor, Answer, Target, UpstreamRequest
from tollway.relay.adaptors.content import image_url_of, text_of
from tollway.relay.adaptors.coze_stream import CozeStream, coze_error, usage_of
from tollway.relay.adaptors.failures import bad_answer, json_object, json_of, obj, unsupported, upstream_error
from tollway.relay.adaptors.openai_out import text_answer
from tollway.relay.calls import Call, Mode
from tollway.relay.usage import Usage

V3_CHAT = "/v3/chat"
V3_RETRIEVE = "/v3/chat/retrieve"
V3_MESSAGES = "/v3/chat/message/list"
V2_CHAT = "/open_api/v2/chat"
DEFAULT_USER = "tollway"

# Seconds between polls of a whole (non-stream) v3 chat; tests set it lower.
POLL_INTERVAL = 1.0

_RUNNING = ("created", "in_progress")


def bot_id(model: str) -> str:
    return model.removeprefix("bot-")


def is_v2(target: Target) -> bool:
    return str(target.channel.config.get("api_version") or "").lower() == "v2"


def _user(call: Call, target: Target) -> str:
    configured = target.channel.config.get("user_id")
    if isinstance(configured, str) and configured:
        return configured
    user = call.body.get("user")
    return user if isinstance(user, str) and user else DEFAULT_USER


def turns(messages: list[Any]) -> list[tuple[str, str, list[str]]]:
    """(role, text, image URLs) per turn; system text goes in front of the next user turn."""
    out: list[tuple[str, str, list[str]]] = []
    system: list[str] = []
    for message in messages:
        role = str(message.get("role", "user"))
        content = message.get("content")
        text = text_of(content, untyped=True)
        if role in ("system", "developer"):
            if text:
                system.append(text)
            continue
        if role == "assistant":
            if text:
                out.append(("assistant", text, []))
            continue
        images = [url for part in content if (url := image_url_of(part))] if isinstance(content, list) else []
        if system:
            text, system = "\n\n".join([*system, text]) if text else "\n\n".join(system), []
        out.append(("user", text, images))
    if system:
        out.append(("user", "\n\n".join(system), []))
    return out


def _v3_message(role: str, text: str, images: list[str]) -> dict[str, Any]:
    if role == "assistant":
        return {"role": "assistant", "type": "answer", "content": text, "content_type": "text"}
    if not images:
        return {"role": "user", "type": "question", "content": text, "content_type": "text"}
    if any(not url.startswith(("http://", "https://")) for url in images):
        raise InvalidRequest("Coze takes images by public URL only; inline data URLs are not supported")
    parts: list[dict[str, str]] = [{"type": "text", "text": text}] if text else []
    parts.extend({"type": "image", "file_url": url} for url in images)
    return {"role": "user", "type": "question", "content": orjson.dumps(parts).decode(),
            "content_type": "object_string"}


def chat_body(call: Call, target: Target) -> dict[str, Any]:
    """The v3 or v2 chat request of a call."""
    conversation = turns(call.body["messages"])
    if is_v2(target):
        history = [{"role": role, "content": text, "content_type": "text", **({"type": "answer"}
                    if role == "assistant" else {})} for role, text, _ in conversation[:-1]]
        body: dict[str, Any] = {"bot_id": bot_id(target.model), "user": _user(call, target),
                                "query": conversation[-1][1] if conversation else "", "stream": call.stream}
        if history:
            body["chat_history"] = history
        return body
    return {"bot_id": bot_id(target.model), "user_id": _user(call, target), "stream": call.stream,
            # A whole answer is read back from the saved conversation, so history must be saved.
            "auto_save_history": True,
            "additional_messages": [_v3_message(*turn) for turn in conversation]}


class CozeAdaptor(Adaptor):
    """Translator for Coze's chat APIs."""

    def _headers(self, target: Target) -> dict[str, str]:
        return {"Authorization": f"Bearer {target.channel.key}", "Content-Type": "application/json"}

    def _url(self, target: Target, path: str, query: dict[str, str] | None = None) -> str:
        base = (target.channel.base_url or target.type.base_url).rstrip("/")
        return base + path + (f"?{urlencode(query)}" if query else "")

    def request(self, call: Call, target: Target) -> UpstreamRequest:
        if call.mode is not Mode.CHAT:
            raise unsupported(f"channel type {target.type.label} does not support {call.path}")
        headers = self._headers(target)
        if call.stream:
            headers["Accept"] = "text/event-stream"
        path = V2_CHAT if is_v2(target) else V3_CHAT
        return UpstreamRequest("POST", self._url(target, path), headers, orjson.dumps(chat_body(call, target)),
                               stream=call.stream)

    def answer(self, call: Call, target: Target, status: int, media_type: str, body: bytes) -> Answer:
        data = json_object(body, "Coze", "an unexpected answer")
        code = data.get("code")
        if code:
            raise coze_error(code, str(data.get("msg") or ""), status)
        if is_v2(target):
            answers = [m for m in data.get("messages") or [] if isinstance(m, dict) and m.get("type") == "answer"]
            text = str(answers[0].get("content") or "") if answers else ""
            return self._whole(call, target, str(data.get("conversation_id") or ""), text, None)
        payload = data.get("data")
        if isinstance(payload, list):
            return self._messages(call, target, payload)
        if isinstance(payload, dict):
            return self._chat_state(target, payload)
        raise bad_answer("Coze answered without a chat")

    def _chat_state(self, target: Target, chat: dict[str, Any]) -> Answer:
        """A chat object (created, or polled): poll again, read its messages, or fail."""
        state = str(chat.get("status") or "")
        ids = {"conversation_id": str(chat.get("conversation_id") or ""), "chat_id": str(chat.get("id") or "")}
        if state in _RUNNING:
            poll = UpstreamRequest("GET", self._url(target, V3_RETRIEVE, ids), self._headers(target))
            return Answer(200, b"", "", follow=poll, wait=POLL_INTERVAL)
        if state == "completed":
            # v3 usage comes with the finished chat but the text with the message list read after it,
            # so the usage travels with that request and comes back as `target.note`.
            usage = usage_of(chat.get("usage"))
            note = {"usage": usage} if usage is not None else {}
            listing = UpstreamRequest("GET", self._url(target, V3_MESSAGES, ids), self._headers(target), note=note)
            return Answer(200, b"", "", follow=listing)
        error = obj(chat.get("last_error"))
        raise coze_error(error.get("code") or 0, str(error.get("msg") or f"Coze chat ended as {state or 'unknown'}"))

    def _messages(self, call: Call, target: Target, messages: list[Any]) -> Answer:
        answers = [m for m in messages if isinstance(m, dict) and m.get("type") == "answer"]
        chat_id = next((str(m["chat_id"]) for m in messages if isinstance(m, dict) and m.get("chat_id")), "")
        text = "".join(str(m.get("content") or "") for m in answers)
        usage = target.note.get("usage")
        return self._whole(call, target, chat_id, text, usage if isinstance(usage, Usage) else None)

    def _whole(self, call: Call, target: Target, answer_id: str, text: str, usage: Usage | None) -> Answer:
        answer = text_answer(call, target.model, text, usage, answer_id=f"chatcmpl-{answer_id}")
        return Answer(200, answer, "application/json", usage=usage, text=text)

    def translator(self, call: Call, target: Target) -> CozeStream:
        return CozeStream(call, target.model, legacy=is_v2(target))

    def error(self, status: int, body: bytes) -> UpstreamError:
        data = json_of(body)
        if isinstance(data, dict) and data.get("code") and isinstance(data.get("msg"), str):
            return coze_error(data["code"], data["msg"], status)
        return upstream_error(status, body)
