"""Gemini answers (generateContent, batchEmbedContents) as OpenAI answers; independent of URL and auth (Vertex AI too).

Shared with the stream translator: content parts, usage, tool call ids and the blocked-prompt error.
"""

from __future__ import annotations

from typing import Any

import orjson

from tollway.errors import UpstreamError
from tollway.relay.adaptors.base import Answer
from tollway.relay.adaptors.failures import bad_answer, load_json
from tollway.relay.adaptors.gemini_errors import rpc_error
from tollway.relay.adaptors.gemini_terms import finish_reason
from tollway.relay.adaptors.openai_out import assistant_message, choice, completion, embeddings, tool_call, tool_call_id
from tollway.relay.calls import Call
from tollway.relay.usage import Usage

# Gemini 3 wants each functionCall's thoughtSignature back in the next turn; OpenAI clients only keep the
# tool call id, so the signature travels inside it after this marker.
SIGNATURE_MARK = "__thought__"


def _count(data: dict[str, Any], name: str) -> int:
    value = data.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def gemini_usage(meta: Any) -> Usage | None:
    """OpenAI usage from `usageMetadata`: thoughts are completion tokens (and reasoning tokens)."""
    if not isinstance(meta, dict):
        return None
    # Tokens of tool-use prompts (search grounding) are input the provider bills like the prompt.
    prompt = _count(meta, "promptTokenCount") + _count(meta, "toolUsePromptTokenCount")
    thoughts = _count(meta, "thoughtsTokenCount")
    completion = _count(meta, "candidatesTokenCount") + thoughts
    if not (prompt or completion):
        return None
    return Usage(prompt, completion, _count(meta, "cachedContentTokenCount"), thoughts)


def call_id(part: dict[str, Any]) -> str:
    """A new OpenAI tool call id for a functionCall part (Gemini gives none), carrying its thought signature."""
    signature = part.get("thoughtSignature")
    suffix = f"{SIGNATURE_MARK}{signature}" if isinstance(signature, str) and signature else ""
    return tool_call_id() + suffix


def function_call(part: dict[str, Any]) -> tuple[str, str]:
    """(name, JSON arguments) of a functionCall part; Gemini's `args` is an object, OpenAI's a string."""
    function = part.get("functionCall") or {}
    args = function.get("args")
    return str(function.get("name") or ""), orjson.dumps(args if args is not None else {}).decode()


def part_text(part: dict[str, Any]) -> str | None:
    """The text a part shows the client: its text, or a generated image as a Markdown data-URL image."""
    if isinstance(part.get("text"), str):
        return str(part["text"])
    data = part.get("inlineData")
    if isinstance(data, dict) and data.get("data"):
        # Image-output models (gemini-2.5-flash-image) answer chat with pictures; OpenAI chat has only text.
        return f"![image](data:{data.get('mimeType') or 'image/png'};base64,{data['data']})"
    return None


def blocked_reason(data: dict[str, Any]) -> str:
    """The promptFeedback.blockReason of an answer with no candidates (the prompt itself was refused)."""
    feedback = data.get("promptFeedback")
    reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
    return str(reason) if reason else ""


def blocked_error(reason: str) -> UpstreamError:
    """A refused prompt, reported like OpenAI/Azure report a filtered prompt: 400 with code content_filter."""
    return UpstreamError(f"the prompt was blocked by Gemini's safety filters (blockReason: {reason})",
                         status_code=400, error_type="invalid_request_error", code="content_filter")


def _load(body: bytes) -> dict[str, Any]:
    data = load_json(body)
    if isinstance(data, list):
        data = data[0] if data else {}
    if not isinstance(data, dict):
        raise bad_answer("upstream returned an unexpected JSON body")
    if isinstance(data.get("error"), dict):
        raise rpc_error(data["error"])
    return data


def parts_of(candidate: dict[str, Any]) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """(texts said, texts thought, functionCall parts) of a candidate's content, in order; texts may be empty."""
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    said: list[str] = []
    thought: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in parts if isinstance(parts, list) else ():
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("functionCall"), dict):
            calls.append(part)
        elif (shown := part_text(part)) is not None:
            (thought if part.get("thought") is True else said).append(shown)
    return said, thought, calls


def _message_of(candidate: dict[str, Any], text: list[str]) -> tuple[dict[str, Any], bool]:
    """The OpenAI message of one candidate (collecting its text for local counting) and whether it calls tools."""
    said, thought, parts = parts_of(candidate)
    calls: list[dict[str, Any]] = []
    for part in parts:
        name, arguments = function_call(part)
        calls.append(tool_call(call_id(part), name, arguments))
        text += [name, arguments]
    text += said + thought
    # A text part, even an empty one, makes the content a string next to the tool calls.
    reply = assistant_message("".join(said) if said or not calls else None, reasoning="".join(thought),
                              tool_calls=calls)
    return reply, bool(calls)


def gemini_answer(call: Call, body: bytes) -> Answer:
    """A generateContent answer as an OpenAI chat.completion; raises the provider's error, or a blocked prompt."""
    data = _load(body)
    candidates = data.get("candidates")
    if not isinstance(candidates, list) or not candidates:
        reason = blocked_reason(data)
        if reason:
            raise blocked_error(reason)
        raise UpstreamError("Gemini returned no candidates", status_code=502, code="no_candidates", retryable=True)
    text: list[str] = []
    choices = []
    for position, candidate in enumerate(candidates):
        if not isinstance(candidate, dict):
            continue
        reply, calls = _message_of(candidate, text)
        index = candidate.get("index")
        choices.append(choice(index if isinstance(index, int) else position, reply,
                              finish_reason(candidate.get("finishReason"), calls)))
    usage = gemini_usage(data.get("usageMetadata"))
    response_id = data.get("responseId")
    answer = completion(call, call.model, choices, usage, answer_id=f"chatcmpl-{response_id}" if response_id else "")
    return Answer(200, answer, "application/json", usage=usage, text="".join(text))


def embeddings_answer(call: Call, body: bytes, prompt_tokens: int) -> Answer:
    """A batchEmbedContents answer as an OpenAI embedding list; Gemini reports no usage, so it is counted here."""
    data = _load(body)
    items = data.get("embeddings")
    if not isinstance(items, list):
        raise bad_answer("Gemini returned no embeddings")
    vectors = [(index, item.get("values") or [] if isinstance(item, dict) else []) for index, item in enumerate(items)]
    usage = Usage(prompt_tokens, 0)
    return Answer(200, embeddings(call, call.model, vectors, usage), "application/json", usage=usage)
