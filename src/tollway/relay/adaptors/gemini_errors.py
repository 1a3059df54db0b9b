"""Google RPC errors (`{"error": {"code", "message", "status", "details"}}`) as OpenAI-style UpstreamErrors.

Gemini, PaLM and Vertex AI all answer failures this way, with HTTP status and RPC status that do not always
agree with what an OpenAI client expects (an invalid API key is a 400 INVALID_ARGUMENT).
"""

from __future__ import annotations

from typing import Any

from tollway.errors import UpstreamError
from tollway.relay.adaptors.failures import json_of, provider_error, upstream_error
from tollway.relay.adaptors.gemini_terms import RPC_STATUSES

_BAD_KEY_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_NOT_FOUND"})


def _reasons(error: dict[str, Any]) -> set[str]:
    details = error.get("details")
    return {str(item.get("reason")) for item in details if isinstance(item, dict) and item.get("reason")} \
        if isinstance(details, list) else set()


def rpc_error(error: dict[str, Any], status: int = 0) -> UpstreamError:
    """The UpstreamError of one Google RPC error object; `status` is the HTTP status it came with (0 if none)."""
    rpc = str(error.get("status") or "")
    message = str(error.get("message") or "") or f"upstream error {rpc or status}"
    code = error.get("code")
    http = RPC_STATUSES.get(rpc) or (code if isinstance(code, int) and code >= 400 else 0) or status
    http = http if http >= 400 else 502
    kind = rpc.lower() or f"upstream_{http}"
    if _reasons(error) & _BAD_KEY_REASONS or (http == 400 and "API key not valid" in message):
        http, kind = 401, "invalid_api_key"
    return provider_error(message, http, kind)


def google_error(status: int, body: bytes) -> UpstreamError:
    """Translate a failed Google answer; bodies of other shapes fall back to the generic reader."""
    data = json_of(body)
    if isinstance(data, list) and data:
        # streamGenerateContent without alt=sse wraps everything, errors included, in a JSON array.
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return upstream_error(status, body)
    return rpc_error(error, status)
