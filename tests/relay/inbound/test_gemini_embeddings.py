"""Gemini embedContent and batchEmbedContents as OpenAI embeddings requests, and the vectors back."""

from __future__ import annotations

import base64
import json
import struct

import pytest

from tests.relay.inbound.loopback import Upstream, genai_client
from tollway.errors import InvalidRequest, UpstreamError
from tollway.relay.inbound.gemini_embeddings import EmbedAsk, embeddings_answer, embeddings_request

OPENAI_LIST = json.dumps({"object": "list", "model": "text-embedding-3-small",
                          "data": [{"object": "embedding", "index": 1, "embedding": [0.5, -0.5]},
                                   {"object": "embedding", "index": 0, "embedding": [0.25, 0.75]}],
                          "usage": {"prompt_tokens": 8, "total_tokens": 8}}).encode()


def test_embed_content_of_the_documented_example() -> None:
    body = {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "What is the meaning of life?"}]}}
    request, ask = embeddings_request(body, "models/gemini-embedding-001", batch=False)
    assert request == {"model": "gemini-embedding-001", "input": ["What is the meaning of life?"]}
    assert ask == EmbedAsk("gemini-embedding-001", batch=False)
    assert json.loads(embeddings_answer(OPENAI_LIST, ask)) == {"embedding": {"values": [0.25, 0.75]}}


def test_batch_embed_contents_keeps_the_order_and_the_dimensions() -> None:
    body = {"requests": [
        {"model": "models/text-embedding-004", "content": {"parts": [{"text": "a"}]}, "output_dimensionality": 2,
         "taskType": "RETRIEVAL_DOCUMENT"},
        {"model": "models/text-embedding-004", "content": {"parts": [{"text": "b"}, {"text": "c"}]},
         "outputDimensionality": 2}]}
    request, ask = embeddings_request(body, "text-embedding-004", batch=True)
    assert request == {"model": "text-embedding-004", "input": ["a", "b\nc"], "dimensions": 2}
    assert json.loads(embeddings_answer(OPENAI_LIST, ask)) == {"embeddings": [{"values": [0.25, 0.75]},
                                                                              {"values": [0.5, -0.5]}]}


def test_base64_vectors_are_decoded() -> None:
    packed = base64.b64encode(struct.pack("<2f", 0.5, 2.0)).decode()
    body = json.dumps({"data": [{"index": 0, "embedding": packed}]}).encode()
    assert json.loads(embeddings_answer(body, EmbedAsk("m", batch=False))) == {"embedding": {"values": [0.5, 2.0]}}


@pytest.mark.parametrize(("body", "batch", "param"), [
    ({}, False, "body.content.parts"),
    ({"requests": []}, True, "requests"),
    ({"requests": ["x"]}, True, "requests[0]"),
    ({"requests": [{"content": {"parts": [{"text": "a"}]}, "outputDimensionality": 2},
                   {"content": {"parts": [{"text": "b"}]}, "outputDimensionality": 3}]}, True, "requests"),
])
def test_malformed_requests(body: object, batch: bool, param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        embeddings_request(body, "m", batch=batch)
    assert caught.value.param == param


def test_non_text_parts_are_refused_for_another_channel() -> None:
    body = {"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "iV"}}]}}
    with pytest.raises(UpstreamError) as caught:
        embeddings_request(body, "m", batch=False)
    assert caught.value.retryable and caught.value.param == "body.content.parts[0]"


@pytest.mark.parametrize("body", [b"[]", b"{}", b'{"data": []}', b'{"data": [{"index": 0}]}'])
def test_unreadable_answers_are_upstream_errors(body: bytes) -> None:
    with pytest.raises(UpstreamError):
        embeddings_answer(body, EmbedAsk("m", batch=True))


def test_google_genai_embeds_even_one_text_in_a_batch() -> None:
    upstream = Upstream(whole=OPENAI_LIST)
    result = genai_client(upstream).models.embed_content(model="gemini-embedding-001", contents=["a", "b"])
    assert upstream.urls[0].endswith("/v1/models/gemini-embedding-001:batchEmbedContents")
    assert upstream.chat == [{"model": "gemini-embedding-001", "input": ["a", "b"]}]
    assert result.embeddings is not None and [e.values for e in result.embeddings] == [[0.25, 0.75], [0.5, -0.5]]
