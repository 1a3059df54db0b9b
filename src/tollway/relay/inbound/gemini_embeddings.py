"""Gemini's `embedContent` and `batchEmbedContents` as an OpenAI embeddings request, and the answer back.

google-genai sends even a single text through batchEmbedContents.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from typing import Any

import orjson

from tollway.errors import InvalidRequest
from tollway.relay.adaptors.failures import bad_answer, json_object
from tollway.relay.inbound.chat_body import integer
from tollway.relay.inbound.gemini_request import field, key_of, model_name, refuse


@dataclass(frozen=True)
class EmbedAsk:
    """What the answer to an embeddings request needs: one vector (embedContent) or a list (batch)."""

    model: str
    batch: bool


def _text(request: Any, param: str) -> tuple[str, int | None]:
    """(the text, the outputDimensionality) of one EmbedContentRequest."""
    if not isinstance(request, dict):
        raise InvalidRequest(f"'{param}' must be an object", param=param)
    content = field(request, "content")
    parts = field(content, "parts") if isinstance(content, dict) else None
    if not isinstance(parts, list) or not parts:
        raise InvalidRequest(f"'{param}.content.parts' must be a non-empty array", param=f"{param}.content.parts")
    texts = []
    for j, part in enumerate(parts):
        if not isinstance(part, dict) or not isinstance(part.get("text"), str):
            raise refuse("embedding parts other than text", f"{param}.content.parts[{j}]")
        texts.append(part["text"])
    dimensions = integer(request, key_of(request, "outputDimensionality"), f"{param}.outputDimensionality")
    return "\n".join(texts), dimensions


def embeddings_request(body: Any, path_model: str, *, batch: bool) -> tuple[dict[str, Any], EmbedAsk]:
    """(the OpenAI embeddings body, what its answer needs) of an embedContent or batchEmbedContents request."""
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object")
    model = model_name(path_model)
    if batch:
        requests = field(body, "requests")
        if not isinstance(requests, list) or not requests:
            raise InvalidRequest("'requests' must be a non-empty array", param="requests")
        read = [_text(request, f"requests[{i}]") for i, request in enumerate(requests)]
    else:
        read = [_text(body, "body")]
    sizes = {dimensions for _, dimensions in read}
    if len(sizes) > 1:
        raise InvalidRequest("every request must ask for the same outputDimensionality", param="requests")
    embeddings: dict[str, Any] = {"model": model, "input": [text for text, _ in read]}
    dimensions = sizes.pop()
    if dimensions:
        embeddings["dimensions"] = dimensions
    return embeddings, EmbedAsk(model, batch)


def _values(item: Any) -> list[float]:
    vector = item.get("embedding") if isinstance(item, dict) else None
    if isinstance(vector, str):  # base64 little-endian float32, if an upstream answered so
        raw = base64.b64decode(vector)
        return list(struct.unpack(f"<{len(raw) // 4}f", raw[: len(raw) // 4 * 4]))
    if isinstance(vector, list):
        return [float(value) for value in vector if isinstance(value, int | float)]
    raise bad_answer("upstream returned an embedding without a vector")


def embeddings_answer(body: bytes, ask: EmbedAsk) -> bytes:
    """Gemini's `{"embedding": {"values"}}` (or `{"embeddings": [...]}` for a batch) of an OpenAI embeddings list."""
    data = json_object(body)
    items = data.get("data")
    if not isinstance(items, list) or not items:
        raise bad_answer("upstream returned no embeddings")
    ordered = sorted((item for item in items if isinstance(item, dict)),
                     key=lambda item: item["index"] if isinstance(item.get("index"), int) else 0)
    vectors = [{"values": _values(item)} for item in ordered]
    if ask.batch:
        return orjson.dumps({"embeddings": vectors})
    return orjson.dumps({"embedding": vectors[0]})
