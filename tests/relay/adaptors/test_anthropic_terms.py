"""Anthropic's stop reasons and error types against OpenAI's finishes and HTTP statuses, both ways."""

from __future__ import annotations

import pytest

from tollway.relay.adaptors.anthropic_terms import ERROR_STATUS, ERROR_TYPES, error_type, finish_reason, stop_reason


@pytest.mark.parametrize("finish", ["stop", "length", "tool_calls", "content_filter"])
def test_every_openai_finish_comes_back_from_its_stop_reason(finish: str) -> None:
    assert finish_reason(stop_reason(finish)) == finish


def test_every_error_type_written_is_one_anthropic_has() -> None:
    assert set(ERROR_TYPES.values()) <= set(ERROR_STATUS)
    assert error_type(418) == "invalid_request_error" and error_type(502) == "api_error"


@pytest.mark.parametrize("kind", ["invalid_request_error", "authentication_error", "permission_error",
                                  "not_found_error", "request_too_large", "rate_limit_error", "api_error",
                                  "overloaded_error", "timeout_error"])
def test_every_error_type_read_is_written_back_for_its_status(kind: str) -> None:
    assert error_type(ERROR_STATUS[kind]) == kind
