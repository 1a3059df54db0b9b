"""Anthropic's stop reasons and error types beside their OpenAI and HTTP equivalents, both ways.

The outbound adaptor reads Anthropic answers with the first table of each pair; the inbound Messages API
(`relay/inbound`) writes Anthropic answers with the second.
"""

from __future__ import annotations

from typing import Any

# Anthropic stop_reason → OpenAI finish_reason.
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# OpenAI finish_reason → Anthropic stop_reason. OpenAI does not say whether a stop sequence matched, so
# "stop" is always end_turn.
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}

# Anthropic's error types and the status Tollway answers with (529 overloaded becomes 503 for OpenAI clients).
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "billing_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 503,
    "timeout_error": 504,
}
# HTTP status → the Anthropic error type an Anthropic client expects with it (Anthropic's error documentation).
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def finish_reason(stop_reason: Any) -> str:
    """OpenAI's finish_reason for an Anthropic stop_reason."""
    return FINISH_REASONS.get(str(stop_reason), "stop") if stop_reason else "stop"


def stop_reason(finish: Any) -> str:
    """Anthropic's stop_reason for an OpenAI finish_reason (end_turn for none or an unknown one)."""
    return STOP_REASONS.get(str(finish), "end_turn")


def error_type(status: int) -> str:
    """Anthropic's error type for an HTTP status."""
    return ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
