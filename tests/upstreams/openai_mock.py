"""A mock OpenAI-format upstream: a real HTTP server speaking OpenAI's wire format and its variants' quirks.

Each model name can be given a `Plan` (status, chunks, where usage goes, delays, ...); every request
is recorded so tests can check what Tollway sent.
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.upstreams import responses_mock


@dataclass
class Plan:
    """How the mock answers one model."""

    status: int = 200
    error: dict[str, Any] | bytes | None = None
    pieces: list[str] = field(default_factory=lambda: ["Hello", " from", " the", " mock", "."])
    # "include": usage chunk only when asked (OpenAI); "never"; "every" (SiliconFlow); "in_choice" (Moonshot);
    # "finish" (DeepSeek: on the finish_reason chunk)
    usage: str = "include"
    prompt_tokens: int = 11
    completion_tokens: int | None = None  # reported instead of the number of pieces (absurd usage)
    delay: float = 0.0  # seconds before each stream chunk
    first_delay: float = 0.0  # seconds before the answer starts
    tool_call: bool = False
    azure_preamble: bool = False
    send_done: bool = True
    crlf: bool = False
    no_space: bool = False  # `data:{...}` without the space, as some providers send
    json_for_stream: bool = False  # answer a stream request with a plain JSON body
    break_after: int | None = None  # close the connection after this many chunks
    # Hold the stream after its first content chunk until the test sets this event (proves incremental relay).
    gate: threading.Event | None = None
    # With an error status: fail only the first this many calls, then answer normally (0: fail every call).
    fail_first: int = 0
    failed: int = 0  # calls failed so far
    headers: dict[str, str] = field(default_factory=dict)  # extra headers of an error answer (Retry-After)
    # Answer a stream with HTTP 200 and this error object as its first event, then end (no [DONE]).
    stream_error: dict[str, Any] | None = None
    # Only calls with one of these API keys get this plan (the others a normal answer): one channel of several.
    keys: frozenset[str] | None = None
    # Reasoning text sent before the answer as `reasoning_content` (DeepSeek-R1, SiliconFlow, Qwen).
    reasoning: list[str] = field(default_factory=list)
    # How /v1/rerank reports usage: "meta" (SiliconFlow, Cohere v2: meta.tokens), "usage" (Jina, Xinference:
    # usage.total_tokens), "billed" (Cohere v1: meta.billed_units.search_units only), "none".
    rerank_usage: str = "meta"

    def fails(self) -> bool:
        """Whether this call gets the planned error (counting it)."""
        if self.status < 400 or (self.fail_first and self.failed >= self.fail_first):
            return False
        self.failed += 1
        return True


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class OpenAIMock:
    """State shared between the test thread and the server thread."""

    def __init__(self) -> None:
        self.plans: dict[str, Plan] = {}
        self.requests: list[Recorded] = []
        self.keys: set[str] | None = None  # accepted API keys; None accepts any

    def plan(self, model: str, **kwargs: Any) -> Plan:
        self.plans[model] = Plan(**kwargs)
        return self.plans[model]

    def reset(self) -> None:
        self.plans.clear()
        self.requests.clear()
        self.keys = None

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/v1/chat/completions", self.chat, methods=["POST"]),
            Route("/v1/responses", self.responses, methods=["POST"]),
            Route("/openai/responses", self.responses, methods=["POST"]),
            Route("/chat/completions", self.chat, methods=["POST"]),
            Route("/openai/deployments/{deployment}/chat/completions", self.chat, methods=["POST"]),
            Route("/v1/completions", self.completions, methods=["POST"]),
            Route("/v1/embeddings", self.embeddings, methods=["POST"]),
            Route("/openai/deployments/{deployment}/embeddings", self.embeddings, methods=["POST"]),
            Route("/v1/moderations", self.moderations, methods=["POST"]),
            Route("/v1/images/generations", self.images, methods=["POST"]),
            Route("/v1/audio/speech", self.speech, methods=["POST"]),
            Route("/v1/audio/transcriptions", self.transcription, methods=["POST"]),
            Route("/v1/audio/translations", self.transcription, methods=["POST"]),
            Route("/v1/text/chatcompletion_v2", self.chat, methods=["POST"]),
            Route("/api/v3/chat/completions", self.chat, methods=["POST"]),
            Route("/compatible-mode/v1/chat/completions", self.chat, methods=["POST"]),
            Route("/v1/rerank", self.rerank, methods=["POST"]),
            Route("/rerank", self.rerank, methods=["POST"]),
        ])

    # -- helpers -------------------------------------------------------------------------------------------

    async def _record(self, request: Request) -> tuple[bytes, Response | None]:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(Recorded(request.method, request.url.path, request.url.query, headers, body))
        key = headers.get("api-key") or headers.get("authorization", "").removeprefix("Bearer ")
        if self.keys is not None and key not in self.keys:
            return body, JSONResponse({"error": {"message": "Incorrect API key provided", "type":
                                                 "invalid_request_error", "param": None, "code": "invalid_api_key"}},
                                      status_code=401)
        return body, None

    def _plan(self, model: str, request: Request | None = None) -> Plan:
        plan = self.plans.get(model, Plan())
        if plan.keys is not None and request is not None:
            key = request.headers.get("api-key") or request.headers.get("authorization", "").removeprefix("Bearer ")
            if key not in plan.keys:
                return Plan()
        return plan

    @staticmethod
    def _error(plan: Plan) -> Response:
        if isinstance(plan.error, bytes):
            return Response(plan.error, status_code=plan.status, media_type="application/json",
                            headers=plan.headers)
        body = plan.error or {"error": {"message": f"mock failure {plan.status}", "type": "server_error",
                                        "param": None, "code": None}}
        return JSONResponse(body, status_code=plan.status, headers=plan.headers)

    # -- chat ----------------------------------------------------------------------------------------------

    async def chat(self, request: Request) -> Response:
        raw, refused = await self._record(request)
        if refused:
            return refused
        body = json.loads(raw)
        model = body.get("model") or request.path_params.get("deployment", "")
        plan = self._plan(model, request)
        if plan.first_delay:
            await asyncio.sleep(plan.first_delay)
        if plan.fails():
            return self._error(plan)
        completion = len(plan.pieces) if plan.completion_tokens is None else plan.completion_tokens
        usage = {"prompt_tokens": plan.prompt_tokens, "completion_tokens": completion,
                 "total_tokens": plan.prompt_tokens + completion}
        created = int(time.time())
        if not body.get("stream") or plan.json_for_stream:
            message: dict[str, Any] = {"role": "assistant", "content": "".join(plan.pieces)}
            if plan.reasoning:
                message["reasoning_content"] = "".join(plan.reasoning)
            finish = "stop"
            if plan.tool_call:
                message = {"role": "assistant", "content": None, "tool_calls": [{
                    "id": "call_abc123", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\":\"Boston\"}"}}]}
                finish = "tool_calls"
            answer = {"id": "chatcmpl-mock", "object": "chat.completion", "created": created, "model": model,
                      "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}]}
            if plan.usage != "never":
                answer["usage"] = usage
            return JSONResponse(answer)
        include = (body.get("stream_options") or {}).get("include_usage") is True
        return StreamingResponse(self._chat_stream(plan, model, created, usage, include),
                                 media_type="text/event-stream")

    async def _chat_stream(self, plan: Plan, model: str, created: int, usage: dict[str, int], include: bool) -> Any:
        end = "\r\n" if plan.crlf else "\n"
        prefix = "data:" if plan.no_space else "data: "

        def event(data: dict[str, Any] | str) -> bytes:
            text = data if isinstance(data, str) else json.dumps(data)
            return f"{prefix}{text}{end}{end}".encode()

        base = {"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": created, "model": model}
        if plan.azure_preamble:
            yield event({"choices": [], "created": 0, "id": "", "model": "", "object": "",
                         "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]})
        yield b": keep-alive comment" + end.encode() + end.encode()
        if plan.stream_error is not None:
            yield event(plan.stream_error)  # what some providers send for a key or balance problem
            return
        if plan.tool_call:
            deltas = [{"role": "assistant", "content": None, "tool_calls": [{"index": 0, "id": "call_abc123",
                       "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}]
            deltas += [{"tool_calls": [{"index": 0, "function": {"arguments": part}}]}
                       for part in ["{\"ci", "ty\":", "\"Boston\"}"]]
        else:
            deltas = [{"role": "assistant", "content": ""}] + [{"reasoning_content": piece} for piece in plan.reasoning]
            deltas += [{"content": piece} for piece in plan.pieces]
        for sent, delta in enumerate(deltas):
            if plan.delay:
                await asyncio.sleep(plan.delay)
            if plan.break_after is not None and sent >= plan.break_after:
                raise RuntimeError("mock upstream breaks the stream")
            chunk: dict[str, Any] = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            if plan.usage == "every":
                chunk["usage"] = usage
            yield event(chunk)
            if plan.gate is not None and sent == 1:
                await asyncio.to_thread(plan.gate.wait, 10)
        finish: dict[str, Any] = {**base, "choices": [{"index": 0, "delta": {},
                                                        "finish_reason": "tool_calls" if plan.tool_call else "stop"}]}
        if plan.usage == "finish" or plan.usage == "every":
            finish["usage"] = usage
        if plan.usage == "in_choice":
            finish["choices"][0]["usage"] = usage
        yield event(finish)
        if plan.usage == "include" and include:
            yield event({**base, "choices": [], "usage": usage})
        if plan.send_done:
            yield event("[DONE]")

    # -- responses -----------------------------------------------------------------------------------------

    async def responses(self, request: Request) -> Response:
        """OpenAI's Responses API (Azure's at /openai/responses, which also wants an api-version)."""
        raw, refused = await self._record(request)
        if refused:
            return refused
        body = json.loads(raw)
        wrong = responses_mock.problem(body)
        if request.url.path.startswith("/openai/") and not request.query_params.get("api-version"):
            wrong = "api-version query parameter is required"
        if wrong:
            return JSONResponse({"error": {"message": wrong, "type": "invalid_request_error", "param": None,
                                           "code": None}}, status_code=400)
        plan = self._plan(body["model"], request)
        if plan.fails():
            return self._error(plan)
        if not body.get("stream"):
            return JSONResponse(responses_mock.response(plan, body["model"], body))

        async def sse() -> Any:
            for number, event in enumerate(responses_mock.events(plan, body["model"], body)):
                if plan.break_after is not None and number >= plan.break_after:
                    raise RuntimeError("mock upstream breaks the stream")
                data = json.dumps({**event, "sequence_number": number})
                yield f"event: {event['type']}\ndata: {data}\n\n".encode()

        return StreamingResponse(sse(), media_type="text/event-stream")

    # -- other endpoints ----------------------------------------------------------------------------------------

    async def completions(self, request: Request) -> Response:
        raw, refused = await self._record(request)
        if refused:
            return refused
        body = json.loads(raw)
        plan = self._plan(body["model"], request)
        if plan.fails():
            return self._error(plan)
        return JSONResponse({"id": "cmpl-mock", "object": "text_completion", "created": int(time.time()),
                             "model": body["model"], "choices": [{"text": "".join(plan.pieces), "index": 0,
                                                                  "logprobs": None, "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": plan.prompt_tokens, "completion_tokens": len(plan.pieces),
                                       "total_tokens": plan.prompt_tokens + len(plan.pieces)}})

    async def embeddings(self, request: Request) -> Response:
        raw, refused = await self._record(request)
        if refused:
            return refused
        body = json.loads(raw)
        plan = self._plan(body.get("model", ""), request)
        if plan.fails():
            return self._error(plan)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        vector: Any = [0.1, -0.2, 0.3]
        if body.get("encoding_format") == "base64":  # OpenAI's: float32 little-endian, base64
            vector = base64.b64encode(struct.pack("<3f", *vector)).decode()
        return JSONResponse({"object": "list", "model": body.get("model"),
                             "data": [{"object": "embedding", "index": i, "embedding": vector}
                                      for i, _ in enumerate(inputs)],
                             "usage": {"prompt_tokens": 8 * len(inputs), "total_tokens": 8 * len(inputs)}})

    async def rerank(self, request: Request) -> Response:
        """Jina/Cohere/SiliconFlow rerank; results come in document order (not sorted), scores by document length."""
        raw, refused = await self._record(request)
        if refused:
            return refused
        body = json.loads(raw)
        plan = self._plan(body.get("model", ""), request)
        if plan.fails():
            return self._error(plan)
        documents = [d if isinstance(d, str) else d.get("text", "") for d in body["documents"]]
        results: list[dict[str, Any]] = [{"index": i, "relevance_score": round(1 / (1 + len(text)), 6)}
                                         for i, text in enumerate(documents)]
        if body.get("return_documents"):
            for result in results:
                result["document"] = {"text": documents[result["index"]]}
        if body.get("top_n"):
            results = sorted(results, key=lambda r: -r["relevance_score"])[:body["top_n"]]
            results.sort(key=lambda r: r["index"])
        answer: dict[str, Any] = {"id": "rerank-mock", "results": results}
        tokens = plan.prompt_tokens
        if plan.rerank_usage == "meta":
            answer["meta"] = {"billed_units": {"input_tokens": tokens}, "tokens": {"input_tokens": tokens,
                                                                                    "output_tokens": 0}}
        elif plan.rerank_usage == "usage":
            answer["usage"] = {"total_tokens": tokens}
        elif plan.rerank_usage == "billed":
            answer["meta"] = {"api_version": {"version": "1"}, "billed_units": {"search_units": 1}}
        return JSONResponse(answer)

    async def moderations(self, request: Request) -> Response:
        raw, refused = await self._record(request)
        if refused:
            return refused
        body = json.loads(raw)
        return JSONResponse({"id": "modr-mock", "model": body.get("model"), "results": [
            {"flagged": False, "categories": {"violence": False}, "category_scores": {"violence": 0.01}}]})

    async def images(self, request: Request) -> Response:
        raw, refused = await self._record(request)
        if refused:
            return refused
        body = json.loads(raw)
        return JSONResponse({"created": int(time.time()),
                             "data": [{"url": f"https://images.example/{i}.png"} for i in range(body.get("n", 1))]})

    async def speech(self, request: Request) -> Response:
        _, refused = await self._record(request)
        if refused:
            return refused
        return Response(b"ID3" + b"\x00" * 2048, media_type="audio/mpeg")

    async def transcription(self, request: Request) -> Response:
        _, refused = await self._record(request)
        if refused:
            return refused
        form = await request.form()
        text = "The quick brown fox jumps over the lazy dog."
        if form.get("response_format") == "text":
            return Response(text, media_type="text/plain")
        return JSONResponse({"text": text})
