"""Gemini's finish reasons and Google RPC statuses beside their OpenAI and HTTP equivalents, both ways.

The outbound adaptor reads Gemini answers with the first table of each pair; the inbound Gemini API
(`relay/inbound`) writes Gemini answers with the second.
"""

from __future__ import annotations

from typing import Any

# Gemini finishReason → OpenAI finish_reason.
FINISH_REASONS: dict[str, str] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}
# OpenAI finish_reason → Gemini finishReason; Gemini ends a function call with STOP.
GEMINI_FINISH: dict[str, str] = {
    "stop": "STOP",
    "tool_calls": "STOP",
    "function_call": "STOP",
    "length": "MAX_TOKENS",
    "content_filter": "SAFETY",
}

# RPC status → the HTTP status an OpenAI client should see.
RPC_STATUSES: dict[str, int] = {
    "INVALID_ARGUMENT": 400,
    "OUT_OF_RANGE": 400,
    # Unsupported region or billing not enabled: the channel cannot serve, another may.
    "FAILED_PRECONDITION": 403,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 502,
    "UNKNOWN": 500,
    "INTERNAL": 500,
    "DATA_LOSS": 500,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
# HTTP status → the RPC status Google sends with it (google.rpc.Code's HTTP mapping).
STATUS_RPC: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def finish_reason(reason: Any, has_tool_calls: bool) -> str:
    """OpenAI's finish_reason for a Gemini finishReason; a function call finishes with STOP, so it is checked first."""
    if has_tool_calls:
        return "tool_calls"
    return FINISH_REASONS.get(str(reason), "stop")


def gemini_finish(finish: Any) -> str:
    """Gemini's finishReason for an OpenAI finish_reason (STOP for none, OTHER for one Gemini has no word for)."""
    return GEMINI_FINISH.get(str(finish), "OTHER") if finish else "STOP"


def rpc_status(status: int) -> str:
    """The RPC status name of an HTTP status."""
    return STATUS_RPC.get(status) or ("INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
