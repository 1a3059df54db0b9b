"""`python -m bench.logs_scale [--rows 1000000] [--database URL]`: log queries and dashboards on a big log table.

Loads `rows` logs (30 days, 2,000 users, one of them heavy, 40 models, 20 channels, 3% non-consume types)
into a fresh database (a temporary SQLite file unless --database names an empty PostgreSQL or MySQL one),
builds the dashboard roll-ups the way a migration does, then times the management API's own query code:
dashboards from the roll-ups (and, for comparison, straight from the logs), each log filter, the quota sums,
a flush of new logs with their roll-ups, and deleting the oldest tenth in batches. Each figure is the median
of several runs. tests/storage/test_logs_scale.py runs the same code on a small table and checks results.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request

from tollway.admin import dashboard, logs
from tollway.crypto import KeyBox
from tollway.settings import Settings
from tollway.storage import log_queries, rollups, schema
from tollway.storage.cache import Cache
from tollway.storage.database import create_engine, database_url, sqlite_url
from tollway.storage.keeper import Keeper
from tollway.storage.log_deletion import delete_before
from tollway.storage.migrate import migrate

DAY = 86400
DAYS = 30
USERS, MODELS, CHANNELS = 2000, 40, 20
HEAVY_USER = 1  # a fifth of all calls, like a busy integration
CHUNK = 5000


@dataclass
class Report:
    """Timings in milliseconds (median of runs) and facts found on the way."""

    rows: int
    backend: str
    times: dict[str, float] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    def show(self) -> str:
        lines = [f"{self.rows:,} logs on {self.backend}", ""]
        width = max(len(name) for name in self.times)
        lines += [f"  {name:<{width}}  {ms:10.1f} ms" for name, ms in self.times.items()]
        lines += ["", *(f"  {name}: {value}" for name, value in self.facts.items())]
        return "\n".join(lines)


def make_rows(count: int, now: int, seed: int = 1) -> list[dict[str, Any]]:
    """Log rows shaped like the relay's, spread over the last DAYS days, oldest first (ids follow time)."""
    rng = random.Random(seed)
    start = now - DAYS * DAY
    step = DAYS * DAY / max(count, 1)
    made = []
    for n in range(count):
        user = HEAVY_USER if rng.random() < 0.2 else rng.randint(2, USERS)
        kind = 2 if rng.random() < 0.97 else rng.choice((1, 3, 4, 5))
        prompt, completion = rng.randint(5, 2000), rng.randint(1, 800)
        made.append({
            "user_id": user, "created_at": int(start + n * step), "type": kind, "content": "ratio 1.0",
            "username": f"user{user}", "token_name": f"token{user % 200}",
            "model_name": f"model-{rng.randint(1, MODELS)}",
            "quota": prompt + 2 * completion, "prompt_tokens": prompt, "completion_tokens": completion,
            "channel_id": rng.randint(1, CHANNELS), "request_id": f"{n:016x}", "elapsed_time": rng.randint(200, 9000),
            "is_stream": n % 3 == 0, "system_prompt_reset": False, "first_byte_time": rng.randint(50, 900),
        })
    return made


async def load(engine: AsyncEngine, rows: list[dict[str, Any]]) -> None:
    """Insert the logs in chunks, then sum the roll-ups as the migration of an existing database does."""
    for offset in range(0, len(rows), CHUNK):
        async with engine.begin() as conn:
            await conn.execute(insert(schema.logs), rows[offset:offset + CHUNK])
    async with engine.begin() as conn:
        for statement in rollups.backfill():
            await conn.execute(statement)
        if conn.dialect.name == "postgresql":
            await conn.execute(text("ANALYZE logs"))
            await conn.execute(text("ANALYZE log_rollups"))
        elif conn.dialect.name == "sqlite":
            await conn.execute(text("ANALYZE"))
        else:
            await conn.execute(text("ANALYZE TABLE logs, log_rollups"))


def request(query: str = "") -> Request:
    """A management request carrying only a query string, for the route modules' own filter code."""
    return Request({"type": "http", "method": "GET", "path": "/", "query_string": query.encode(), "headers": []})


async def timed(runs: int, job: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    """Median milliseconds of `runs` runs, and the last result."""
    spent, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = await job()
        spent.append((time.perf_counter() - started) * 1000)
    return statistics.median(spent), result


async def raw_dashboard(engine: AsyncEngine, user_id: int | None, first: int, last: int) -> list[tuple[Any, ...]]:
    """The dashboard computed from the logs themselves (One API's SearchLogsByDayAndModel), for comparison."""
    where = [schema.logs.c.created_at >= first, schema.logs.c.created_at < last + DAY]
    if user_id is not None:
        where.append(schema.logs.c.user_id == user_id)
    query = rollups.grouped(True).where(*where)
    async with engine.connect() as conn:
        found = (await conn.execute(query)).mappings().all()
    totals: dict[tuple[int, str], list[int]] = {}
    for row in found:
        entry = totals.setdefault((int(row["day"]), str(row["model_name"])), [0, 0, 0, 0])
        for index, name in enumerate(("request_count", "quota", "prompt_tokens", "completion_tokens")):
            entry[index] += int(row[name])
    return sorted((rollups.day_label(day), model, *sums) for (day, model), sums in totals.items())


def as_tuples(found: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted((r["Day"], r["ModelName"], r["RequestCount"], r["Quota"], r["PromptTokens"], r["CompletionTokens"])
                  for r in found)


async def usage(engine: AsyncEngine, user_id: int, first: int | None = None, last: int | None = None
                ) -> list[dict[str, Any]]:
    """The dashboard's rows (One API's LogStatistic JSON) from the roll-ups, as GET /api/log/dashboard answers."""
    return dashboard.statistics(await log_queries.daily_usage(engine, user_id, first, last))


async def measure(engine: AsyncEngine, rows: int, *, runs: int = 5, backend: str = "") -> Report:
    """Load `rows` logs into a migrated, empty database and time what the management API does with them."""
    report = Report(rows, backend or engine.dialect.name)
    now = int(time.time())
    started = time.perf_counter()
    made = make_rows(rows, now)
    await load(engine, made)
    report.facts["load and roll-up build (s)"] = round(time.perf_counter() - started, 1)
    first, last = rollups.day_of(now) - 6 * DAY, rollups.day_of(now)
    times = report.times

    for name, owner in (("user dashboard, heavy user (roll-ups)", HEAVY_USER),
                        ("admin dashboard, everyone (roll-ups)", rollups.EVERYONE)):
        times[name], found = await timed(runs, lambda o=owner: usage(engine, o, first, last))
        user = HEAVY_USER if "heavy" in name else None
        slow_name = name.replace("(roll-ups)", "(GROUP BY over logs)")
        times[slow_name], direct = await timed(max(1, runs // 2), lambda u=user: raw_dashboard(engine, u, first, last))
        report.facts[f"{name} matches the logs"] = as_tuples(found) == direct

    filters = {
        "logs page 0, no filter": "", "logs page 50, no filter": "p=50", "logs of a rare type": "type=4",
        "logs of a user by username": "username=user77", "logs of the heavy user": f"username=user{HEAVY_USER}",
        "logs of a token": "token_name=token77", "logs of a model": "model_name=model-7",
        "logs of a channel": "channel=7", "logs of the last day": f"start_timestamp={now - DAY}&end_timestamp={now}",
        "logs of a model in a day 20 days ago": f"model_name=model-7&start_timestamp={now - 20 * DAY}"
                                               f"&end_timestamp={now - 19 * DAY}",
    }
    for name, query in filters.items():
        req = request(query)
        offset = 500 if "p=50" in query else 0
        times[name], found = await timed(
            runs, lambda r=req, o=offset: log_queries.log_page(engine, logs.log_filter(r), o, 10))
        report.facts.setdefault("pages are full", True)
        report.facts["pages are full"] &= len(found) == 10
    self_where = logs.log_filter(request("type=2"), own_user=HEAVY_USER)
    times["own logs of the heavy user, consume type"], _ = await timed(
        runs, lambda: log_queries.log_page(engine, self_where, 0, 10))
    for name, query in (("quota sum of a user (stat)", "username=user77"),
                        ("quota sum of the heavy user (stat)", f"username=user{HEAVY_USER}"),
                        ("quota sum of the last day (stat)", f"start_timestamp={now - DAY}")):
        where = logs.log_filter(request(query), by_type=False)
        times[name], _ = await timed(max(1, runs // 2), lambda w=where: log_queries.consume_quota_sum(engine, w))

    keeper = Keeper(engine, engine, Cache(KeyBox(b"k" * 32)), flush_interval=3600, sync_interval=3600,
                    spill_dir=Path(tempfile.mkdtemp()))
    fresh = make_rows(1000, now + 60, seed=2)
    for row in fresh:
        keeper.add_log(row)
    times["flush of 1,000 new logs with their roll-ups"], _ = await timed(1, keeper.flush)

    async with engine.connect() as conn:
        before = (await conn.execute(select(func.count()).select_from(schema.logs))).scalar_one()
    cutoff = now - DAYS * DAY + 3 * DAY  # the oldest tenth
    started = time.perf_counter()
    deleted = await delete_before(engine, cutoff)
    times["delete the oldest tenth in batches of 1,000"] = (time.perf_counter() - started) * 1000
    report.facts["deleted"] = f"{deleted:,} of {before:,}"
    everything = await usage(engine, rollups.EVERYONE)
    report.facts["roll-ups still match after deleting"] = as_tuples(everything) == await raw_dashboard(
        engine, None, 0, now + DAY)
    return report


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database", default="", help="an empty PostgreSQL or MySQL database (default: SQLite)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env({"SQLITE_PATH": str(Path(tmp) / "logs.db")}, dotenv=None)
        url = database_url(args.database) if args.database else sqlite_url(Path(tmp) / "logs.db")
        engine = create_engine(url, settings)
        try:
            await migrate(engine, role="logs")
            report = await measure(engine, args.rows, runs=args.runs,
                                   backend=make_url(str(url)).get_backend_name())
        finally:
            await engine.dispose()
    print(report.show())


if __name__ == "__main__":
    asyncio.run(main())
