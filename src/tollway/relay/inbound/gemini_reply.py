"""OpenAI chat answers as Gemini answers (GenerateContentResponse): candidates, finish reasons, usage, errors."""

from __future__ import annotations

from typing import Any

import orjson

from tollway.errors import NoChannel, TollwayError
from tollway.relay.adaptors.gemini_request import function_args
from tollway.relay.adaptors.gemini_terms import gemini_finish, rpc_status
from tollway.relay.inbound.chat_answer import read_completion
from tollway.relay.inbound.gemini_request import GeminiAsk
from tollway.relay.inbound.ids import object_id
from tollway.relay.usage import Usage


def usage_metadata(usage: Usage | None) -> dict[str, Any]:
    """Gemini's usageMetadata: thoughts are counted apart from the candidates, and both in the total."""
    used = usage or Usage()
    meta: dict[str, Any] = {"promptTokenCount": used.prompt_tokens,
                            "candidatesTokenCount": max(used.completion_tokens - used.reasoning_tokens, 0),
                            "totalTokenCount": used.total_tokens}
    if used.reasoning_tokens:
        meta["thoughtsTokenCount"] = used.reasoning_tokens
    if used.cached_tokens:
        meta["cachedContentTokenCount"] = used.cached_tokens
    return meta


def function_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    """A functionCall part; its id is the upstream's call id, which the client may send back with the result."""
    return {"functionCall": {"id": call_id, "name": name, "args": function_args(arguments)}}


def finish_of(finish: str | None, called: bool) -> str:
    """Gemini's finishReason: a choice that called functions and stopped finished with STOP."""
    return gemini_finish("stop" if called and finish in (None, "tool_calls") else finish)


def candidate(index: int, parts: list[dict[str, Any]], finish: str | None = None) -> dict[str, Any]:
    """One candidate; Gemini puts no finishReason on the chunks before the last."""
    found: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": index}
    if finish is not None:
        found["finishReason"] = finish
    return found


def chunk(ask: GeminiAsk, response_id: str, candidates: list[dict[str, Any]],
          usage: dict[str, Any] | None = None) -> dict[str, Any]:
    """A GenerateContentResponse: the whole answer, or one event of a stream."""
    found: dict[str, Any] = {"candidates": candidates}
    if usage is not None:
        found["usageMetadata"] = usage
    found["modelVersion"] = ask.model
    found["responseId"] = response_id
    return found


def generate_answer(body: bytes, ask: GeminiAsk, usage: Usage | None = None) -> bytes:
    """The GenerateContentResponse of a whole chat.completion (`usage`: the pipeline's, when the upstream gave none)."""
    completion = read_completion(body)
    candidates = []
    for choice in completion.choices:
        parts: list[dict[str, Any]] = []
        if choice.reasoning and ask.thoughts:
            parts.append({"text": choice.reasoning, "thought": True})
        if choice.text:
            parts.append({"text": choice.text})
        parts += [function_call(call.id, call.name, call.arguments) for call in choice.calls]
        candidates.append(candidate(choice.index, parts, finish_of(choice.finish, bool(choice.calls))))
    answer = chunk(ask, object_id("resp").removeprefix("resp_"), candidates,
                   usage_metadata(completion.usage or usage))
    return orjson.dumps(answer)


def error_status(error: TollwayError) -> int:
    """The status a Gemini client gets: Google's 404 NOT_FOUND (its answer for an unknown model) for no channel."""
    # A missing channel does not appear on a retry, and Google's clients that retry do so on 5xx.
    return 404 if isinstance(error, NoChannel) else error.status_code


def error_object(error: TollwayError, request_id: str = "") -> dict[str, Any]:
    """Google's error body `{"error": {"code", "message", "status"}}`."""
    status = error_status(error)
    message = f"{error.message} (request id: {request_id})" if request_id else error.message
    return {"error": {"code": status, "message": message, "status": rpc_status(status)}}


def error_answer(error: TollwayError, request_id: str = "") -> tuple[int, bytes]:
    """(status, body) of a failed Gemini request."""
    return error_status(error), orjson.dumps(error_object(error, request_id))
