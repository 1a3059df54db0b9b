"""Request and response bodies kept with a call's log (AI Proxy's request_details): cut, written, read, expired.

The relay puts a `detail` entry in a log row only when bodies are to be kept (a failed call, or every call with
SAVE_ALL_LOG_DETAIL); the keeper's flush inserts such a log on its own to learn its id and writes the bodies
beside it in the same transaction. Only bodies are kept, never headers, so no credential of the client or of
the upstream is stored; the response of a failed call is the error as the client saw it (redacted).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tollway.storage import log_inserts, schema

_logs, _details = schema.logs, schema.log_details
DETAIL = "detail"  # the log row's entry that carries the bodies (not a column)
_CUT = "..."


@dataclass(frozen=True)
class Limits:
    """How much of each body is kept (bytes): -1 nothing, else at most this many."""

    request: int = 8 * 1024
    response: int = 8 * 1024


def cut(body: bytes | str, limit: int) -> tuple[str, bool]:
    """A body as text of at most `limit` bytes (ending in `...` when cut); whether it was cut.

    Bodies that are not UTF-8 text (an audio upload) are not kept, as AI Proxy drops them.
    """
    if limit < 0:
        return "", bool(body)
    if isinstance(body, str):
        text, raw = body, body.encode()
    else:
        raw = body
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            return "", True
    if len(raw) <= limit:
        return text, False
    return raw[:max(0, limit - len(_CUT))].decode("utf-8", "ignore") + _CUT, True  # never half a character


def detail(request: bytes | str, response: bytes | str, limits: Limits) -> dict[str, Any]:
    """The `detail` entry of a log row."""
    request_body, request_cut = cut(request, limits.request)
    response_body, response_cut = cut(response, limits.response)
    return {"request_body": request_body, "response_body": response_body, "request_body_truncated": request_cut,
            "response_body_truncated": response_cut}


async def insert_logs(conn: AsyncConnection, rows: Sequence[dict[str, Any]], fitted: Sequence[dict[str, Any]]) -> None:
    """Insert log rows in order, those with bodies one by one (for their ids) and their bodies after them."""
    bodies: list[dict[str, Any]] = []
    plain: list[dict[str, Any]] = []
    for row, values in zip(rows, fitted, strict=True):
        kept = row.get(DETAIL)
        if not kept:
            plain.append(values)
            continue
        if plain:
            await log_inserts.insert_fitted(conn, plain)
            plain = []
        result = await conn.execute(insert(_logs).values(**values))
        log_id = result.inserted_primary_key[0]  # type: ignore[index]
        bodies.append({"log_id": log_id, "created_at": values["created_at"] or 0, **kept})
    await log_inserts.insert_fitted(conn, plain)
    if bodies:
        await conn.execute(insert(_details), bodies)


async def read(conn: AsyncConnection, log_id: int) -> dict[str, Any] | None:
    """The bodies kept with a log, or None."""
    row = (await conn.execute(select(_details).where(_details.c.log_id == log_id).limit(1))).mappings().first()
    return dict(row) if row is not None else None


async def delete_before(engine: AsyncEngine, cutoff: int, *, batch: int, pause: float = 0.0,
                        going: Callable[[], bool] = lambda: True) -> int:
    """Delete bodies kept since before `cutoff` (unix seconds), `batch` ids per short transaction; answers how many."""
    old = _details.c.created_at < cutoff
    deleted = 0
    while going():
        async with engine.begin() as conn:
            low, high = (await conn.execute(select(func.min(_details.c.id), func.max(_details.c.id))
                                            .where(old))).one()
            if low is None:
                break
            result = await conn.execute(delete(_details).where(and_(old, _details.c.id >= low,
                                                                    _details.c.id < min(high + 1, low + batch))))
            deleted += result.rowcount or 0
        if pause:
            await asyncio.sleep(pause)
    return deleted
