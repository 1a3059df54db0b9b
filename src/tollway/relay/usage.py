"""Token usage as providers report it, normalised to OpenAI's fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Usage:
    """Prompt and completion tokens of one call, with the cached and reasoning counts where known."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    # Why the counts were lowered from what the upstream reported (relay/usage_limits.py), for the consume log.
    clamped: str = ""

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_openai(self) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }
        if self.cached_tokens:
            usage["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        if self.reasoning_tokens:
            usage["completion_tokens_details"] = {"reasoning_tokens": self.reasoning_tokens}
        return usage


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def from_openai(data: Any) -> Usage | None:
    """Read an OpenAI-style `usage` object; None when absent or empty (as in most stream chunks)."""
    if not isinstance(data, dict):
        return None
    prompt = _int(data.get("prompt_tokens")) or _int(data.get("input_tokens"))
    completion = _int(data.get("completion_tokens")) or _int(data.get("output_tokens"))
    total = _int(data.get("total_tokens"))
    if not (prompt or completion or total):
        return None
    if total and not completion and total > prompt:
        # Some upstreams (embeddings, a few compatible servers) give only the total.
        completion = total - prompt if prompt else 0
        prompt = prompt or total
    prompt_details = data.get("prompt_tokens_details") or data.get("input_tokens_details") or {}
    completion_details = data.get("completion_tokens_details") or data.get("output_tokens_details") or {}
    cached = _int(prompt_details.get("cached_tokens")) if isinstance(prompt_details, dict) else 0
    cached = cached or _int(data.get("prompt_cache_hit_tokens"))
    reasoning = _int(completion_details.get("reasoning_tokens")) if isinstance(completion_details, dict) else 0
    return Usage(prompt, completion, cached, reasoning)
