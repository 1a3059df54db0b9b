"""Every translator, fed odd data anywhere, answers or raises a Tollway error; nothing else escapes (no 500s).

The documented requests and the recorded answers of the other tests are mutated deterministically: each
value in turn is replaced by values of other types.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.relay.inbound import test_anthropic_request, test_gemini_request, test_responses_request
from tests.relay.inbound.cases import MIXED_STREAM, TEXT_STREAM, THOUGHTFUL, TOOL_CALL
from tollway.billing.tokenizer import Counter
from tollway.errors import TollwayError
from tollway.relay.inbound import (
    anthropic_reply,
    anthropic_request,
    anthropic_stream,
    gemini_embeddings,
    gemini_reply,
    gemini_request,
    gemini_stream,
    responses_reply,
    responses_request,
    responses_stream,
)
from tollway.relay.usage import Usage

_ODD: list[Any] = [None, 0, -1, 1.5, True, "", "x", [], [None], {}, {"type": None}]


def _mutations(value: Any) -> Iterator[Any]:
    """Copies of a JSON value with one sub-value replaced by each odd value, for every sub-value in turn."""
    paths: list[list[Any]] = []

    def walk(node: Any, path: list[Any]) -> None:
        paths.append(path)
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in children:
            walk(child, [*path, key])

    walk(value, [])
    for path in paths[1:]:
        for odd in _ODD:
            mutated = copy.deepcopy(value)
            node = mutated
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = odd
            yield mutated


def _survives(translate: Callable[[Any], object], body: Any) -> None:
    with contextlib.suppress(TollwayError):
        translate(body)


def _requests(cases: list[tuple[str, dict[str, Any], dict[str, Any]]], base: dict[str, Any]) -> list[Any]:
    return [{**base, **body} for _, body, _ in cases]


@pytest.mark.parametrize("body", _requests(test_anthropic_request.DOCUMENTED, {"model": "m", "max_tokens": 9}))
def test_anthropic_requests(body: dict[str, Any]) -> None:
    counter = Counter("gpt-4o")
    for mutated in _mutations(body):
        _survives(anthropic_request.chat_request, mutated)
        _survives(lambda b: anthropic_request.count_tokens(b, counter), mutated)


@pytest.mark.parametrize("body", _requests(test_responses_request.DOCUMENTED, {"model": "m"}))
def test_responses_requests(body: dict[str, Any]) -> None:
    for mutated in _mutations(body):
        _survives(responses_request.chat_request, mutated)


@pytest.mark.parametrize("body", _requests(test_gemini_request.DOCUMENTED, {}))
def test_gemini_requests(body: dict[str, Any]) -> None:
    counter = Counter("gpt-4o")
    for mutated in _mutations(body):
        _survives(lambda b: gemini_request.chat_request(b, "models/gemini-2.5-flash"), mutated)
        _survives(lambda b: gemini_request.count_tokens(b, "gemini-2.5-flash", counter), mutated)


def test_gemini_embedding_requests() -> None:
    body = {"requests": [{"model": "models/m", "content": {"parts": [{"text": "a"}]}, "outputDimensionality": 8}]}
    for mutated in _mutations(body):
        _survives(lambda b: gemini_embeddings.embeddings_request(b, "m", batch=True), mutated)
        _survives(lambda b: gemini_embeddings.embeddings_request(b, "m", batch=False), mutated["requests"]
                  if isinstance(mutated.get("requests"), dict) else mutated)


_MESSAGES_ASK = anthropic_request.MessagesAsk("m", thinking=True)
_RESPONSES_ASK = responses_request.chat_request({"model": "m", "input": "x", "tools": [
    {"type": "function", "name": "f"}], "metadata": {"a": "b"}})[1]
_GEMINI_ASK = gemini_request.GeminiAsk("m", thoughts=True)
_EMBED_ASK = gemini_embeddings.EmbedAsk("m", batch=True)
_REPLIES: list[Callable[[bytes], object]] = [
    lambda body: anthropic_reply.message_answer(body, _MESSAGES_ASK, Usage(1, 1)),
    lambda body: responses_reply.response_answer(body, _RESPONSES_ASK),
    lambda body: gemini_reply.generate_answer(body, _GEMINI_ASK),
    lambda body: gemini_embeddings.embeddings_answer(body, _EMBED_ASK),
]


@pytest.mark.parametrize("answer", [TOOL_CALL, THOUGHTFUL], ids=["tool call", "reasoning"])
@pytest.mark.parametrize("reply", _REPLIES, ids=["anthropic", "responses", "gemini", "gemini embeddings"])
def test_whole_answers(answer: bytes, reply: Callable[[bytes], object]) -> None:
    for mutated in _mutations(json.loads(answer)):
        _survives(reply, json.dumps(mutated).encode())


_STREAMS: list[Callable[[], Any]] = [
    lambda: anthropic_stream.MessagesStream(_MESSAGES_ASK),
    lambda: responses_stream.ResponsesStream(_RESPONSES_ASK),
    lambda: gemini_stream.GeminiStream(_GEMINI_ASK),
]


@pytest.mark.parametrize("stream", [TEXT_STREAM, MIXED_STREAM], ids=["text", "mixed"])
@pytest.mark.parametrize("make", _STREAMS, ids=["anthropic", "responses", "gemini"])
def test_streams(stream: bytes, make: Callable[[], Any]) -> None:
    frames = [json.loads(frame[6:]) for frame in stream.split(b"\n\n") if frame and frame != b"data: [DONE]"]
    for position, frame in enumerate(frames):
        for mutated in _mutations(frame):
            translator = make()
            for other in [*frames[:position], mutated, *frames[position + 1:]]:
                translator.feed(b"data: " + json.dumps(other).encode() + b"\n\n")
            translator.close(None)  # a stream translator never raises: failures are events
