"""Bounds on the usage an upstream may report for one call, so a broken or hostile provider cannot drain quota.

The rule, generous enough never to touch an honest count:

- prompt tokens ≤ the bytes sent upstream (no tokenizer makes more than one token per byte) + 8,192 for what
  the provider adds (special tokens, tool formatting, a channel's system prompt), + 20,000 per image part and
  1,000,000 per audio, video or file part; and never more than 10,000,000 (the largest context offered);
- completion tokens ≤ (max_tokens or max_completion_tokens, when the client gave one, + 16 for stop tokens and
  + the reasoning tokens the provider reported, as DeepSeek's reasoner does not count them in max_tokens), or
  262,144 when it gave none, times the number of choices (n, best_of); embeddings and moderations complete
  nothing;
- cached tokens ≤ prompt tokens, reasoning tokens ≤ completion tokens.

`bounded` returns the usage unchanged when it is within bounds, else a clamped copy whose `clamped` says what
the upstream reported, for the consume log.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tollway.relay.adaptors.base import UpstreamRequest
from tollway.relay.calls import Call, Mode
from tollway.relay.usage import Usage

PROMPT_OVERHEAD = 8_192
IMAGE_TOKENS = 20_000
MEDIA_TOKENS = 1_000_000
PROMPT_CEILING = 10_000_000
COMPLETION_SLACK = 16
COMPLETION_CEILING = 262_144
_IMAGE_PARTS = frozenset({"image_url", "image"})
_MEDIA_PARTS = frozenset({"input_audio", "audio", "audio_url", "video_url", "video", "file", "input_file"})


def _parts(body: dict[str, Any]) -> tuple[int, int]:
    """(image parts, audio/video/file parts) in a chat body's messages."""
    images = media = 0
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else ():
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else ():
            kind = part.get("type") if isinstance(part, dict) else None
            images += kind in _IMAGE_PARTS
            media += kind in _MEDIA_PARTS
    return images, media


def _choices(body: dict[str, Any]) -> int:
    counts = [body.get(name) for name in ("n", "best_of")]
    return max([1] + [c for c in counts if isinstance(c, int) and not isinstance(c, bool) and 0 < c <= 128])


def sent_bytes(call: Call, request: UpstreamRequest | None) -> int:
    """The size of what went upstream for a call (its body, or its WebSocket frames), at least the client's body."""
    if request is None:
        return len(call.raw)
    return max(len(call.raw), len(request.content), sum(len(frame.encode()) for frame in request.frames))


def prompt_limit(call: Call, size: int) -> int:
    images, media = _parts(call.body)
    return min(PROMPT_CEILING, size + PROMPT_OVERHEAD + images * IMAGE_TOKENS + media * MEDIA_TOKENS)


def completion_limit(call: Call, reasoning: int) -> int:
    if call.mode in (Mode.EMBEDDINGS, Mode.MODERATIONS):
        return 0
    asked = call.max_tokens
    per_choice = COMPLETION_CEILING if not asked else min(COMPLETION_CEILING, asked + COMPLETION_SLACK + reasoning)
    return per_choice * _choices(call.body)


def bounded(usage: Usage | None, call: Call, request: UpstreamRequest | None) -> Usage | None:
    """The usage, or a copy clamped to what the call could plausibly have used (None stays None)."""
    if usage is None:
        return None
    size = sent_bytes(call, request)
    # The usual honest count is within the bounds without looking at the call's parts (no images counted, one
    # choice): nothing to work out.
    asked = call.max_tokens
    ceiling = COMPLETION_CEILING
    if asked:
        ceiling = min(ceiling, asked + COMPLETION_SLACK + usage.reasoning_tokens)
    if (usage.prompt_tokens <= size + PROMPT_OVERHEAD and usage.reasoning_tokens <= COMPLETION_CEILING
            and (usage.completion_tokens == 0 or (call.mode not in (Mode.EMBEDDINGS, Mode.MODERATIONS)
                                                  and usage.completion_tokens <= ceiling))):
        return usage
    prompt = min(usage.prompt_tokens, prompt_limit(call, size))
    reasoning = min(usage.reasoning_tokens, COMPLETION_CEILING)
    completion = min(usage.completion_tokens, completion_limit(call, reasoning))
    if (prompt, completion) == (usage.prompt_tokens, usage.completion_tokens):
        return usage
    note = (f"upstream reported {usage.prompt_tokens} prompt and {usage.completion_tokens} completion tokens, "
            f"implausible for this request: billed {prompt} and {completion}")
    return dataclasses.replace(usage, prompt_tokens=prompt, completion_tokens=completion,
                               cached_tokens=min(usage.cached_tokens, prompt),
                               reasoning_tokens=min(reasoning, completion), clamped=note)
