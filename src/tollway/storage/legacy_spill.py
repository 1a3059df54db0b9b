"""Replaying `unflushed.json`, the file Tollway 0.1 wrote when it could not reach the database at shutdown.

The journal (storage/journal.py) replaced it; a file left by the older version is still written once.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from tollway.storage import charges
from tollway.storage.charges import Batch

log = logging.getLogger(__name__)


async def replay(engine: AsyncEngine, log_engine: AsyncEngine, path: Path) -> None:
    """Write a spill file's quota and logs, each exactly once, then remove it."""
    if not path.is_file():
        return
    state = orjson.loads(path.read_bytes())
    batch = Batch(users={i: [q, u, n, 0] for i, q, u, n in state["users"]},
                  tokens={i: [r, u, 0] for i, r, u in state["tokens"]},
                  channels={i: u for i, u in state["channels"]})
    if batch.has_quota:
        async with engine.begin() as conn:
            await charges.write_quota(conn, batch)
        if state["logs"]:
            # The quota is committed: keep only the logs on disk, so a failure below never replays it twice.
            state.update(users=[], tokens=[], channels=[])
            partial = path.with_name(path.name + ".partial")
            partial.write_bytes(orjson.dumps(state))
            os.replace(partial, path)
    if state["logs"]:
        async with log_engine.begin() as conn:
            await charges.write_logs(conn, state["logs"])
    path.unlink()
    log.warning("replayed quota and logs saved by an older Tollway's shutdown from %s", path)
