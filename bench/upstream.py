"""A fast mock OpenAI upstream: fixed chat completions, whole or as an SSE stream, with no artificial delay by default.

It is a bare ASGI callable rather than a Starlette app so that the upstream's own cost, which every
target pays, stays as small as the stack allows. Run it with `python -m bench.upstream --port N`.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.types import Message, Receive, Scope, Send

PIECES = ["Hello", "!", " How", " can", " I", " help", " you", " today", "?", " Ask", " me", " anything", "."]
PROMPT_TOKENS = 9

_JSON_HEADERS = [(b"content-type", b"application/json")]
_SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
_NOT_FOUND = b'{"error":{"message":"not found","type":"invalid_request_error","param":null,"code":null}}'
_DONE = b"data: [DONE]\n\n"


def _event(data: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


@dataclass
class Answers:
    """The pre-rendered answers for one model name: the JSON body, the stream events and the usage event."""

    whole: bytes
    events: list[bytes]
    usage_event: bytes


@dataclass
class Upstream:
    """The ASGI app; answers are rendered once per model name and then only copied out."""

    pieces: list[str] = field(default_factory=lambda: list(PIECES))
    delay: float = 0.0
    chunk_delay: float = 0.0
    _answers: dict[str, Answers] = field(default_factory=dict)

    def answers(self, model: str) -> Answers:
        found = self._answers.get(model)
        if found is None:
            found = self._answers[model] = self._render(model)
        return found

    def _render(self, model: str) -> Answers:
        created = int(time.time())
        usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": len(self.pieces),
                 "total_tokens": PROMPT_TOKENS + len(self.pieces)}
        whole = orjson.dumps({
            "id": "chatcmpl-bench", "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(self.pieces)},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": usage,
        })
        base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": created, "model": model}
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
        deltas += [{"content": piece} for piece in self.pieces]
        events = [_event({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
                  for delta in deltas]
        events.append(_event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
        return Answers(whole, events, _event({**base, "choices": [], "usage": usage}))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await _body(receive)
        if scope["method"] != "POST" or not scope["path"].endswith("/chat/completions"):
            await _whole(send, 404, _NOT_FOUND)
            return
        request = orjson.loads(body)
        answers = self.answers(str(request.get("model") or "gpt-4o-mini"))
        if self.delay:
            await asyncio.sleep(self.delay)
        if request.get("stream") is not True:
            await _whole(send, 200, answers.whole)
            return
        options = request.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
        # One body message per event, as a real upstream flushes each token as it is generated.
        for event in answers.events:
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            await send({"type": "http.response.body", "body": event, "more_body": True})
        if include_usage:
            await send({"type": "http.response.body", "body": answers.usage_event, "more_body": True})
        await send({"type": "http.response.body", "body": _DONE, "more_body": False})


async def _body(receive: Receive) -> bytes:
    message: Message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        return body
    parts = [body]
    while message.get("more_body"):
        message = await receive()
        parts.append(message.get("body", b""))
    return b"".join(parts)


async def _whole(send: Send, status: int, body: bytes) -> None:
    headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main(argv: list[str] | None = None) -> None:
    """Serve the mock upstream on 127.0.0.1 until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m bench.upstream", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=len(PIECES), help="content chunks per stream")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer starts")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds before each stream event")
    args = parser.parse_args(argv)
    pieces = [PIECES[i % len(PIECES)] for i in range(max(1, args.chunks))]
    app = Upstream(pieces=pieces, delay=args.delay, chunk_delay=args.chunk_delay)
    uvicorn.run(app, host=args.host, port=args.port, loop="uvloop", http="httptools", lifespan="off",
                log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
