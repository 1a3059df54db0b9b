"""The log benchmark (bench/logs_scale.py) on a small table of each database, and the query plans of the log filters.

The benchmark itself loads a million logs (`python -m bench.logs_scale`); here it runs on TOLLWAY_LOG_ROWS rows
(20,000 by default) so that the suite stays fast, checking that dashboards from the roll-ups equal the logs and
that every filter's page comes back full. Its timings are printed (`pytest -s`), never asserted.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from bench.logs_scale import load, make_rows, measure, request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.storage.conftest import Backend
from tollway.admin import logs
from tollway.storage.log_queries import log_page_query
from tollway.storage.migrate import migrate

ROWS = int(os.environ.get("TOLLWAY_LOG_ROWS", "20000"))


async def test_benchmark_on_a_small_table(backend: Backend) -> None:
    """Dashboards from roll-ups equal the GROUP BY over logs, before and after deleting in batches."""
    engine = backend.logs_engine()
    await migrate(engine, role="logs")
    report = await measure(engine, ROWS, runs=1, backend=backend.name)
    print("\n" + report.show())
    assert all(value is True for name, value in report.facts.items() if isinstance(value, bool)), report.facts
    assert report.facts["pages are full"] is True


# Filter → the column its index must start with. Values are selective, as a user's or a token's logs are.
FILTERS = {"type=4": "type", "username=user77": "username", "token_name=token77": "token_name",
           "model_name=model-7": "model_name", "channel=7": "channel_id"}


async def plan(engine: AsyncEngine, sql: str) -> list[str]:
    async with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            return [str(row[3]) for row in await conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]
        if conn.dialect.name == "postgresql":
            return [str(row[0]) for row in await conn.execute(text(f"EXPLAIN {sql}"))]
        found = (await conn.execute(text(f"EXPLAIN {sql}"))).mappings().all()
        return [f"key={row['key']} extra={row['Extra']}" for row in found]


def serves(lines: list[str], column: str, dialect: str) -> bool:
    """The plan finds the rows through an index rather than by reading the table and sorting it.

    SQLite and MariaDB must use an index on the column that yields ids in order (no sort step). PostgreSQL's
    planner weighs its statistics: it may sort the few rows an index on the column found, or walk the primary key
    backwards until ten rows match; it must never scan the table.
    """
    joined = "\n".join(lines)
    if dialect == "sqlite":
        return f"({column}=?)" in joined and "USING" in joined and "TEMP B-TREE" not in joined
    if dialect == "postgresql":
        on_column = f"Index Cond: (({column})" in joined or f"Index Cond: ({column} = " in joined
        return "Seq Scan" not in joined and (on_column or ("logs_pkey" in joined and "Sort" not in joined))
    return "key=None" not in joined and column.split("_")[0] in joined and "filesort" not in joined


async def test_each_filter_uses_an_index_in_id_order(backend: Backend) -> None:
    """EXPLAIN of GET /api/log/'s query for each equality filter: an index on the column, no sort of its rows."""
    engine = backend.logs_engine()
    await migrate(engine, role="logs")
    await load(engine, make_rows(8000, int(time.time())))
    problems: dict[str, Any] = {}
    for query, column in FILTERS.items():
        compiled = log_page_query(logs.log_filter(request(query)), 0, 10).compile(
            engine.sync_engine, compile_kwargs={"literal_binds": True})
        lines = await plan(engine, str(compiled))
        if not serves(lines, column, engine.dialect.name):
            problems[query] = lines
    own = log_page_query(logs.log_filter(request("type=2"), own_user=77), 0, 10).compile(
        engine.sync_engine, compile_kwargs={"literal_binds": True})
    lines = await plan(engine, str(own))
    if not serves(lines, "user_id", engine.dialect.name) and not serves(lines, "type", engine.dialect.name):
        problems["own logs"] = lines
    if problems:
        pytest.fail(f"{backend.name}: filters without a fitting index: {problems}")
