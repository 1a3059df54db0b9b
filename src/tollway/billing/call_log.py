"""The rows a relay call writes to `logs`: one consume log per settled call, one error log per failed attempt."""

from __future__ import annotations

import time
from typing import Any

CONTENT_MAX = 1000  # characters of an error message kept in a log, as AI Proxy keeps 1 KB


def call_row(*, kind: int, content: str, user_id: int, username: str, token_name: str, model: str,
             upstream_model: str, channel_id: int, request_id: str, prompt_tokens: int, completion_tokens: int,
             cached_tokens: int, elapsed_ms: int, first_byte_ms: int, stream: bool, system_prompt_reset: bool,
             code: int, retry: int, ip: str, endpoint: str, inbound_api: str | None) -> dict[str, Any]:
    """A log row of one call (its quota is filled in when it is charged, by billing/ledger.py)."""
    row: dict[str, Any] = {
        "user_id": user_id,
        "created_at": int(time.time()),
        "type": kind,
        "content": content,
        "username": username,
        "token_name": token_name,
        "model_name": model,
        "upstream_model": upstream_model,
        "quota": 0,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "channel_id": channel_id,
        "request_id": request_id,
        "elapsed_time": elapsed_ms,
        "is_stream": stream,
        "system_prompt_reset": system_prompt_reset,
        "first_byte_time": first_byte_ms,
        "code": code,
        "retry_times": retry,
        "ip": ip,
        "endpoint": endpoint,
        "cached_tokens": cached_tokens,
    }
    if inbound_api is not None:
        row["inbound_api"] = inbound_api  # the API the client spoke (OpenAI's own when absent)
    return row
