"""`POST /v1/rerank` (Cohere/Jina format) as FastGPT's knowledge base calls it, on the channel types that offer it."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from tests.admin.support import dicts
from tests.harness import ROOT_TOKEN, Gateway
from tests.upstreams.openai_mock import OpenAIMock
from tollway.billing import pricing
from tollway.relay.adaptors.base import Target
from tollway.relay.adaptors.rerank import RerankAdaptor
from tollway.relay.calls import Mode, parse_json
from tollway.routing import channel_types
from tollway.storage.cache import ChannelEntry

MODEL = "BAAI/bge-reranker-v2-m3"
DOCUMENTS = ["a long passage about gateways and the channels behind them", "short", "a medium passage"]


def rerank(gateway: Gateway, body: dict[str, Any], key: str = "sk-" + ROOT_TOKEN) -> httpx.Response:
    """FastGPT's reRankRecall: axios.post(`${baseUrl}/rerank`, {model, query, documents, ...defaultConfig})."""
    return httpx.post(f"{gateway.url}/v1/rerank", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {key}", "Accept": "application/json, text/plain, */*",
                               "Content-Type": "application/json", "User-Agent": "axios/1.8.4"})


@pytest.mark.parametrize(("channel_type", "base", "usage"), [
    (44, "", "meta"),  # SiliconFlow: meta.tokens.input_tokens
    (50, "/v1", "usage"),  # an OpenAI-compatible server (Xinference, Jina): usage.total_tokens
    (8, "", "usage"),  # Custom
    (35, "", "billed"),  # Cohere v1: search units only, so Tollway counts the tokens
])
def test_rerank_is_sorted_and_billed_by_input_tokens(gateway: Gateway, mock: OpenAIMock, mock_url: str,
                                                     channel_type: int, base: str, usage: str) -> None:
    gateway.add_channel(mock_url + base, type=channel_type, models=MODEL)
    mock.plan(MODEL, rerank_usage=usage, prompt_tokens=42)
    answer = rerank(gateway, {"model": MODEL, "query": "what is a gateway?", "documents": DOCUMENTS})
    assert answer.status_code == 200, answer.text
    data = answer.json()
    scores = [result["relevance_score"] for result in data["results"]]
    assert scores == sorted(scores, reverse=True) and sorted(r["index"] for r in data["results"]) == [0, 1, 2]
    assert data["results"][0]["index"] == 1  # the mock scores the shortest document best
    tokens = data["meta"]["tokens"]["input_tokens"]
    assert tokens == 42 if usage != "billed" else tokens > 10
    assert mock.requests[-1].path == "/v1/rerank"
    gateway.flush()
    [logged] = dicts(gateway, "SELECT quota, prompt_tokens, completion_tokens, endpoint FROM logs WHERE type = 2")
    options = gateway.services.cache.options
    expected = pricing.text_cost(pricing.price_of(options, MODEL, channel_type, "default"), tokens, 0)
    assert logged == {"quota": expected, "prompt_tokens": tokens, "completion_tokens": 0, "endpoint": "/v1/rerank"}


def test_top_n_documents_and_the_mapped_model_reach_the_upstream(gateway: Gateway, mock: OpenAIMock,
                                                                 mock_url: str) -> None:
    channel = gateway.add_channel(mock_url, type=44, models="rerank-alias")
    gateway.api("PUT", "/api/channel/", json={"id": channel, "model_mapping": {"rerank-alias": MODEL}})
    answer = rerank(gateway, {"model": "rerank-alias", "query": "q", "documents": [{"text": "x"}, "yy", "zzz"],
                              "top_n": 2, "return_documents": True}).json()
    assert len(answer["results"]) == 2 and answer["results"][0]["document"] == {"text": "x"}
    sent = mock.requests[-1].json
    assert sent["model"] == MODEL and sent["top_n"] == 2 and sent["return_documents"] is True


def test_types_without_rerank_do_not_serve_it(gateway: Gateway, mock: OpenAIMock, mock_url: str) -> None:
    gateway.add_channel(mock_url, type=14, models=MODEL)  # Anthropic
    answer = rerank(gateway, {"model": MODEL, "query": "q", "documents": ["a"]})
    assert answer.status_code == 400 and "does not serve /v1/rerank" in answer.json()["error"]["message"]
    assert mock.requests == []


@pytest.mark.parametrize(("body", "param"), [
    ({"model": MODEL, "documents": ["a"]}, "query"),
    ({"model": MODEL, "query": "q", "documents": []}, "documents"),
    ({"model": MODEL, "query": "q", "documents": [1, 2]}, "documents"),
    ({"model": MODEL, "query": "q", "documents": ["a"], "top_n": 0}, "top_n"),
])
def test_bad_rerank_requests(gateway: Gateway, mock: OpenAIMock, mock_url: str, body: dict[str, Any],
                             param: str) -> None:
    gateway.add_channel(mock_url, type=44, models=MODEL)
    answer = rerank(gateway, body)
    assert answer.status_code == 400 and answer.json()["error"]["param"] == param
    assert mock.requests == []


def test_without_usage_tollway_counts_the_input(gateway: Gateway, mock: OpenAIMock, mock_url: str) -> None:
    gateway.add_channel(mock_url, type=44, models=MODEL)
    mock.plan(MODEL, rerank_usage="none")
    answer = rerank(gateway, {"model": MODEL, "query": "q", "documents": ["a"], "top_n": 1})
    assert answer.status_code == 200 and answer.json()["meta"]["tokens"]["input_tokens"] == 2


@pytest.mark.parametrize("body", [b'{"results": []}', b'{"id": "x"}', b'{"results": null}'])
def test_no_results_is_an_answer(body: bytes) -> None:
    """FastGPT treats an empty or missing `results` as nothing relevant, not as an error."""
    call = parse_json(Mode.RERANK, orjson.dumps({"model": MODEL, "query": "q", "documents": ["a"]}))
    channel = ChannelEntry(id=1, type=44, key="k", status=1, name="c", weight=0, priority=0, base_url="", models=[],
                           groups=["default"], model_mapping={}, config={}, system_prompt="")
    answer = RerankAdaptor().answer(call, Target(channel, channel_types.get(44), MODEL), 200, "application/json", body)
    assert orjson.loads(answer.content)["results"] == [] and answer.usage is None
