"""`POST /v1/rerank` in the Cohere/Jina format, for the channel types that offer it.

Cohere (type 35), SiliconFlow (44) and every OpenAI-compatible server that has the route (Jina, Xinference,
text-embeddings servers behind an OpenAI-compatible or custom channel) take the same body:
`{model, query, documents, top_n?, return_documents?}` and answer `{results: [{index, relevance_score}], ...}`.
The answer reaches the client sorted by `relevance_score`, best first (FastGPT keeps the first hit per document),
with the input tokens it was billed for in `meta.tokens.input_tokens` however the provider reported them.
"""

from __future__ import annotations

from typing import Any

import orjson

from tollway.relay.adaptors.base import Adaptor, Answer, StreamTranslator, Target, UpstreamRequest
from tollway.relay.adaptors.failures import bad_answer, body_error, json_object, not_served, obj, upstream_error
from tollway.relay.adaptors.openai import request_url
from tollway.relay.calls import Call
from tollway.relay.usage import Usage
from tollway.routing.channel_types import OPENAI, ChannelType

PATH = "/v1/rerank"
COHERE, AZURE = 35, 3


def offers_rerank(kind: ChannelType) -> bool:
    """Cohere, and the OpenAI-format types whose servers may have the route (Azure and fixed-route types have not)."""
    if kind.id == COHERE:
        return True
    return kind.family == OPENAI and kind.id != AZURE and (not kind.only or PATH in kind.only)


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def input_tokens(data: dict[str, Any]) -> int:
    """The input tokens a provider reported: `meta.tokens` (Cohere v2, SiliconFlow) or `usage` (Jina, Xinference)."""
    tokens = obj(obj(data.get("meta")).get("tokens"))
    usage = obj(data.get("usage"))
    return (_count(tokens.get("input_tokens")) or _count(usage.get("prompt_tokens"))
            or _count(usage.get("total_tokens")) or _count(usage.get("input_tokens")))


def _set_tokens(data: dict[str, Any], tokens: int) -> None:
    meta = obj(data.get("meta"))
    data["meta"] = {**meta, "tokens": {**obj(meta.get("tokens")), "input_tokens": tokens}}


def with_input_tokens(content: bytes, tokens: int) -> bytes:
    """The answer with `meta.tokens.input_tokens` set (when the provider left it out and Tollway counted)."""
    data = orjson.loads(content)
    _set_tokens(data, tokens)
    return orjson.dumps(data)


class RerankAdaptor(Adaptor):
    """The body passes as it came (with the model mapped); the answer is sorted and its usage read."""

    def request(self, call: Call, target: Target) -> UpstreamRequest:
        kind = target.type
        if not offers_rerank(kind):
            raise not_served(kind.label, PATH)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {target.channel.key}",
                   **kind.headers}
        content = call.raw if target.model == call.model else orjson.dumps({**call.body, "model": target.model})
        return UpstreamRequest("POST", request_url(call, target), headers, content)

    def answer(self, call: Call, target: Target, status: int, media_type: str, body: bytes) -> Answer:
        data = json_object(body)
        if body_error(data) is not None:
            raise upstream_error(502 if status < 400 else status, body)
        results = data.get("results")
        if results is None:
            results = []  # no results is an answer (FastGPT treats it as "nothing relevant")
        if not isinstance(results, list) or not all(isinstance(item, dict) for item in results):
            raise bad_answer("upstream returned rerank results that are not a list of objects")
        data["results"] = sorted(results, key=lambda item: _number(item.get("relevance_score")), reverse=True)
        tokens = input_tokens(data)
        if tokens:
            _set_tokens(data, tokens)
        return Answer(status, orjson.dumps(data), "application/json", usage=Usage(tokens, 0) if tokens else None)

    def translator(self, call: Call, target: Target) -> StreamTranslator:
        raise not_served(target.type.label, f"{PATH} as a stream")
