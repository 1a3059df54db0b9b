"""Gemini's finish reasons and RPC statuses against OpenAI's finishes and HTTP statuses, both ways."""

from __future__ import annotations

import pytest

from tollway.relay.adaptors.gemini_terms import RPC_STATUSES, finish_reason, gemini_finish, rpc_status


@pytest.mark.parametrize("finish", ["stop", "length", "tool_calls", "content_filter"])
def test_every_openai_finish_comes_back_from_its_finish_reason(finish: str) -> None:
    assert finish_reason(gemini_finish(finish), finish == "tool_calls") == finish


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 501, 503, 504])
def test_every_status_written_reads_back_as_itself(status: int) -> None:
    assert RPC_STATUSES[rpc_status(status)] == status


def test_statuses_google_has_no_name_for() -> None:
    assert (rpc_status(418), rpc_status(502)) == ("FAILED_PRECONDITION", "INTERNAL")
