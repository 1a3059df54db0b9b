"""The stored result of each tested model of each channel (`channel_tests`, AI Proxy's): read, and forgotten."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tollway.storage import schema

_results = schema.channel_tests


async def test_results(engine: AsyncEngine, channel_id: int | None = None) -> list[dict[str, Any]]:
    """Every stored result (or one channel's) by channel and model, each with every column of `channel_tests`."""
    query = select(_results).order_by(_results.c.channel_id, _results.c.model)
    if channel_id is not None:
        query = query.where(_results.c.channel_id == channel_id)
    async with engine.connect() as conn:
        # Plain `str` names: a column's is a `quoted_name`, which JSON encoders refuse as a key.
        return [{str(name): value for name, value in row.items()} for row in (await conn.execute(query)).mappings()]


async def forget_test_results(engine: AsyncEngine, channel_ids: Sequence[int]) -> None:
    """Drop the stored results of deleted channels."""
    if channel_ids:
        async with engine.begin() as conn:
            await conn.execute(delete(_results).where(_results.c.channel_id.in_(list(channel_ids))))
