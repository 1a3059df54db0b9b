"""The pipeline's services to adaptors: credential exchanges, polling, WebSockets, stream/whole conversion, images.

A small test adaptor (registered for the PaLM family, channel type 11) drives each seam against a local
server; the OpenAI SDK is the client throughout.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import openai
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from tests.harness import Gateway, ServerThread
from tollway.errors import UpstreamError
from tollway.relay import sse
from tollway.relay.adaptors.base import (
    Adaptor,
    Answer,
    Exchange,
    StreamState,
    StreamTranslator,
    Target,
    UpstreamRequest,
)
from tollway.relay.calls import Call
from tollway.relay.usage import Usage

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/x8AAwMCAO+ip1sAAAAASUVORK5CYII=")


class Upstream:
    """A provider with odd habits: tokens, tasks, sockets, whole answers, errors inside streams."""

    def __init__(self) -> None:
        self.token_calls = 0
        self.polls = 0
        self.seen: list[dict[str, Any]] = []

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/token", self.token, methods=["POST"]),
            Route("/chat", self.chat, methods=["POST"]),
            Route("/task", self.submit, methods=["POST"]),
            Route("/task/{id}", self.poll, methods=["GET"]),
            Route("/bad-stream", self.bad_stream, methods=["POST"]),
            Route("/image.png", self.image, methods=["GET"]),
            WebSocketRoute("/ws", self.socket),
        ])

    async def token(self, request: Request) -> Response:
        self.token_calls += 1
        return JSONResponse({"access_token": f"tok-{self.token_calls}", "expires_in": 3600})

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        self.seen.append({"authorization": request.headers.get("authorization"), "body": body})
        return JSONResponse(completion("whole answer"))

    async def submit(self, request: Request) -> Response:
        return JSONResponse({"task": "t1", "status": "pending"})

    async def poll(self, request: Request) -> Response:
        self.polls += 1
        if self.polls < 3:
            return JSONResponse({"task": "t1", "status": "pending"})
        return JSONResponse({"task": "t1", "status": "done", "result": "polled answer"})

    async def bad_stream(self, request: Request) -> Response:
        async def events() -> Iterator[bytes]:
            yield b'data: {"error": {"message": "overloaded", "code": "busy"}}\n\n'

        return StreamingResponse(events(), media_type="text/event-stream")

    async def image(self, request: Request) -> Response:
        return Response(PNG, media_type="image/png")

    async def socket(self, websocket: WebSocket) -> None:
        await websocket.accept()
        question = await websocket.receive_text()
        for index, word in enumerate(["socket", " says", f" {question}"]):
            await websocket.send_text(json.dumps({"text": word, "last": index == 2}))
        await websocket.close()


def completion(text: str) -> dict[str, Any]:
    return {"id": "c1", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}


class SocketTranslator(StreamTranslator):
    """Frames `{"text", "last"}` become OpenAI chunks."""

    def __init__(self) -> None:
        self.state = StreamState()

    def feed(self, data: bytes) -> list[bytes]:
        frame = json.loads(data)
        self.state.text.append(frame["text"])
        chunk = {"id": "s1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                 "choices": [{"index": 0, "delta": {"content": frame["text"]},
                              "finish_reason": "stop" if frame["last"] else None}]}
        return [sse.frame(orjson.dumps(chunk))]

    def close(self, usage: Usage | None) -> list[bytes]:
        return [sse.DONE]


class ErrorFirst(SocketTranslator):
    def feed(self, data: bytes) -> list[bytes]:
        self.state.error = UpstreamError("overloaded", status_code=503, retryable=True)
        return []


class SeamAdaptor(Adaptor):
    """Chooses a seam by model name."""

    inline_images = True

    def __init__(self, base: str) -> None:
        self.base = base

    def credential(self, target: Target) -> Exchange | None:
        if target.model != "exchange":
            return None

        def read(status: int, body: bytes) -> tuple[str, float]:
            data = json.loads(body)
            return data["access_token"], float(data["expires_in"])

        return Exchange(f"seam:{target.channel.id}", UpstreamRequest("POST", self.base + "/token", {}), read)

    def request(self, call: Call, target: Target) -> UpstreamRequest:
        body = orjson.dumps({"messages": call.body["messages"]})
        if target.model == "poll":
            return UpstreamRequest("POST", self.base + "/task", {}, body)
        if target.model == "socket":
            return UpstreamRequest("GET", self.base.replace("http", "ws") + "/ws", {}, stream=True,
                                   transport="websocket", frames=["hello"])
        if target.model == "error-first" and target.channel.name == "bad":
            return UpstreamRequest("POST", self.base + "/bad-stream", {}, body, stream=True)
        headers = {"Authorization": f"Bearer {target.credential}"} if target.credential else {}
        return UpstreamRequest("POST", self.base + "/chat", headers, body)

    def answer(self, call: Call, target: Target, status: int, media_type: str, body: bytes) -> Answer:
        data = json.loads(body)
        if data.get("status") == "pending":
            return Answer(status, b"", "", follow=UpstreamRequest("GET", f"{self.base}/task/{data['task']}", {}),
                          wait=0.01)
        if data.get("status") == "done":
            data = completion(data["result"])
        return Answer(200, orjson.dumps(data), "application/json", usage=Usage(3, 2))

    def translator(self, call: Call, target: Target) -> StreamTranslator:
        return ErrorFirst() if target.channel.name == "bad" else SocketTranslator()


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[Upstream, str]]:
    state = Upstream()
    server = ServerThread(state.app(), lifespan="off").start()
    yield state, server.url
    server.stop()


@pytest.fixture
def seams(gateway: Gateway, upstream: tuple[Upstream, str]) -> Gateway:
    url = upstream[1]
    gateway.services.relay.adaptors.register("palm", SeamAdaptor(url))
    gateway.add_channel(url, type=11, name="good", models="exchange,poll,socket,whole,error-first")
    return gateway


HI = [{"role": "user", "content": "hi"}]


def test_credential_is_exchanged_once_and_reused(seams: Gateway, upstream: tuple[Upstream, str]) -> None:
    state, _ = upstream
    before = state.token_calls
    for _ in range(3):
        seams.openai().chat.completions.create(model="exchange", messages=HI)
    assert state.token_calls == before + 1
    assert state.seen[-1]["authorization"] == f"Bearer tok-{before + 1}"


def test_follow_ups_poll_until_done(seams: Gateway, upstream: tuple[Upstream, str]) -> None:
    upstream[0].polls = 0
    answer = seams.openai().chat.completions.create(model="poll", messages=HI)
    assert answer.choices[0].message.content == "polled answer" and upstream[0].polls == 3


def test_websocket_stream_and_whole(seams: Gateway) -> None:
    stream = seams.openai().chat.completions.create(model="socket", messages=HI, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "socket says hello"
    # The same stream-only upstream answers a client that wants one whole answer.
    whole = seams.openai().chat.completions.create(model="socket", messages=HI)
    assert whole.choices[0].message.content == "socket says hello" and whole.choices[0].finish_reason == "stop"


def test_whole_answer_replayed_as_a_stream(seams: Gateway) -> None:
    chunks = list(seams.openai().chat.completions.create(model="whole", messages=HI, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "whole answer"
    assert [c.usage.total_tokens for c in chunks if c.usage] == [5]


def test_error_as_first_stream_event_is_retried(seams: Gateway, upstream: tuple[Upstream, str]) -> None:
    seams.add_channel(upstream[1], type=11, name="bad", models="error-first", priority=10)
    seams.api("PUT", "/api/option/", json={"key": "RetryTimes", "value": "1"})
    stream = seams.openai().chat.completions.create(model="error-first", messages=HI, stream=True)
    # The bad channel's error came before any output, so nothing reached the client and the good one served it.
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "whole answer"


def test_image_urls_are_inlined_for_adaptors_that_need_it(tmp_path: Any, upstream: tuple[Upstream, str]) -> None:
    from pathlib import Path

    from tests.harness import settings_for

    state, url = upstream
    gateway = Gateway(settings_for(Path(str(tmp_path)), USER_CONTENT_ALLOW_PRIVATE="true"))
    try:
        gateway.services.relay.adaptors.register("palm", SeamAdaptor(url))
        gateway.add_channel(url, type=11, models="whole")
        content = [{"type": "text", "text": "what?"}, {"type": "image_url", "image_url": {"url": url + "/image.png"}}]
        gateway.openai().chat.completions.create(model="whole", messages=[{"role": "user", "content": content}])
        sent = state.seen[-1]["body"]["messages"][0]["content"][1]["image_url"]["url"]
        assert sent == "data:image/png;base64," + base64.b64encode(PNG).decode()
    finally:
        gateway.close()


def test_private_image_urls_are_refused_by_default(seams: Gateway, upstream: tuple[Upstream, str]) -> None:
    content = [{"type": "image_url", "image_url": {"url": upstream[1] + "/image.png"}}]
    with pytest.raises(openai.BadRequestError, match="non-public"):
        seams.openai().chat.completions.create(model="whole", messages=[{"role": "user", "content": content}])
