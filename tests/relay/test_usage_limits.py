"""Usage an upstream reports is clamped to what the call could have used, and the consume log says so."""

from __future__ import annotations

import math

import orjson
import pytest

from tests.harness import Gateway
from tests.relay.test_billing import figures
from tests.upstreams.openai_mock import OpenAIMock
from tollway.relay.adaptors.base import UpstreamRequest
from tollway.relay.calls import Call, Mode, parse_json
from tollway.relay.usage import Usage
from tollway.relay.usage_limits import COMPLETION_CEILING, PROMPT_CEILING, PROMPT_OVERHEAD, bounded

HI = [{"role": "user", "content": "hi"}]
ABSURD = 10**15


def chat(**body: object) -> tuple[bytes, Call]:
    raw = orjson.dumps({"model": "gpt-4o-mini", "messages": HI, **body})
    return raw, parse_json(Mode.CHAT, raw)


def clamp(usage: Usage, call: Call, sent: UpstreamRequest | None = None) -> Usage:
    clamped = bounded(usage, call, sent)
    assert clamped is not None
    return clamped


def test_honest_usage_is_untouched() -> None:
    _, call = chat(max_tokens=100)
    usage = Usage(12, 100, cached_tokens=4)
    assert bounded(usage, call, None) is usage
    assert bounded(None, call, None) is None


def test_prompt_is_bounded_by_what_was_sent() -> None:
    raw, call = chat()
    clamped = clamp(Usage(ABSURD, 3, cached_tokens=ABSURD), call)
    assert clamped.prompt_tokens == len(raw) + PROMPT_OVERHEAD and clamped.cached_tokens == clamped.prompt_tokens
    assert clamped.completion_tokens == 3 and str(ABSURD) in clamped.clamped
    # The upstream body counts when it is larger than the client's (inlined images, a channel's system prompt).
    sent = UpstreamRequest("POST", "http://upstream", {}, b"x" * 100_000)
    assert clamp(Usage(ABSURD, 3), call, sent).prompt_tokens == 100_000 + PROMPT_OVERHEAD


def test_media_parts_allow_more_prompt_but_never_past_the_ceiling() -> None:
    image = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    video = {"type": "video_url", "video_url": {"url": "https://example.com/a.mp4"}}
    _, call = chat(messages=[{"role": "user", "content": [image, image]}])
    assert clamp(Usage(30_000, 1), call).prompt_tokens == 30_000
    _, call = chat(messages=[{"role": "user", "content": [video] * 20}])
    assert clamp(Usage(ABSURD, 1), call).prompt_tokens == PROMPT_CEILING


def test_completion_is_bounded_by_max_tokens_choices_and_a_ceiling() -> None:
    _, call = chat(max_tokens=50)
    assert clamp(Usage(5, ABSURD), call).completion_tokens == 66
    _, call = chat(max_completion_tokens=50, n=3)
    assert clamp(Usage(5, ABSURD), call).completion_tokens == 3 * 66
    # Reasoning a provider does not count in max_tokens (DeepSeek's reasoner) is allowed on top.
    _, call = chat(max_tokens=50)
    assert clamp(Usage(5, 1066, reasoning_tokens=1000), call).completion_tokens == 1066
    _, call = chat()
    assert clamp(Usage(5, ABSURD), call).completion_tokens == COMPLETION_CEILING
    embed = parse_json(Mode.EMBEDDINGS, orjson.dumps({"model": "text-embedding-3-small", "input": "hi"}))
    assert clamp(Usage(2, 40), embed).completion_tokens == 0


@pytest.mark.parametrize("stream", [False, True])
def test_absurd_upstream_usage_cannot_drain_a_token(relay: Gateway, mock: OpenAIMock, stream: bool) -> None:
    """10^15 reported tokens charge no more than the bound, and the consume log says the usage was clamped."""
    user_id, client = relay.create_user("vera", quota=10_000_000)
    key = relay.create_token(client, unlimited_quota=False, remain_quota=1_000_000)
    mock.plan("gpt-4o-mini", prompt_tokens=ABSURD, completion_tokens=ABSURD, usage="every" if stream else "include")
    answer = relay.openai(key).chat.completions.create(model="gpt-4o-mini", messages=HI, max_tokens=20,
                                                       stream=stream)
    if stream:
        assert "".join(c.choices[0].delta.content or "" for c in answer if c.choices) == "Hello from the mock."
    after = figures(relay, user_id)
    body = len(orjson.dumps({"messages": HI, "model": "gpt-4o-mini", "max_tokens": 20, "stream": stream})) + 200
    bound = math.ceil(((body + PROMPT_OVERHEAD) + (20 + 16) * 4) * 0.075)
    assert 0 < after["used"] <= bound and after["token_remain"] == 1_000_000 - after["used"]
    [log] = relay.api("GET", "/api/log/self", client, params={"type": 2})
    assert log["completion_tokens"] == 36 and log["prompt_tokens"] <= body + PROMPT_OVERHEAD
    assert f"upstream reported {ABSURD} prompt and {ABSURD} completion tokens" in log["content"]
    assert "implausible" in log["content"]
