"""Fixtures: a gateway with AI Proxy's ADMIN_KEY, and FastGPT's server pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.aiproxy.fastgpt import FastGPT
from tests.harness import Gateway, settings_for

ADMIN_KEY = "fastgpt-aiproxy-token-7d1c"


@pytest.fixture
def aiproxy(tmp_path: Path) -> Iterator[Gateway]:
    """A fresh gateway with ADMIN_KEY set, as FastGPT's compose file sets it."""
    gateway = Gateway(settings_for(tmp_path, ADMIN_KEY=ADMIN_KEY, RETRY_TIMES="3", BILLING_ENABLED="false",
                                   LOG_DETAIL_STORAGE_HOURS="1", DISABLE_MODEL_CONFIG="true"))
    yield gateway
    gateway.close()


@pytest.fixture
def fastgpt(aiproxy: Gateway) -> Iterator[FastGPT]:
    """FastGPT's server with AIPROXY_API_ENDPOINT = the gateway and AIPROXY_API_TOKEN = the admin key."""
    client = FastGPT(aiproxy.url, ADMIN_KEY)
    yield client
    client.close()
