"""Fixtures for the management API tests: a cast of users with different roles on a fresh gateway."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.admin.support import PASSWORD, Cast, make_cast
from tests.harness import Gateway


@pytest.fixture
def cast(gateway: Gateway) -> Iterator[Cast]:
    """Anonymous, alice and bob (common), an admin and root, all signed in on the test's gateway."""
    people = make_cast(gateway)
    yield people
    people.close()


@pytest.fixture
def alice(gateway: Gateway) -> Iterator[tuple[int, httpx.Client]]:
    """A common user with quota 1,000,000, signed in by session cookie."""
    user_id, client = gateway.create_user("alice", quota=1_000_000, password=PASSWORD)
    yield user_id, client
    client.close()
