"""Importing a One API database (MySQL, PostgreSQL or SQLite) into Tollway's: `POST /api/channels/import/oneapi`
(AI Proxy's route, for FastGPT's migration guide) and `tollway import-oneapi DSN`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from tollway.crypto import KeyBox
from tollway.errors import InvalidRequest
from tollway.one_api_import import source
from tollway.one_api_import.copier import Importer, Report

__all__ = ["Report", "import_one_api"]


async def import_one_api(dsn: str, *, engine: AsyncEngine, log_engine: AsyncEngine, keybox: KeyBox,
                         logs: bool = False, lock: asyncio.Lock | None = None) -> Report:
    """Copy a One API database into Tollway's (see copier.py); InvalidRequest when the source cannot be read.

    `lock` is the keeper's: the cached tables are written under it, as every management write is.
    """
    url = source.source_url(dsn)
    if source.same_database(url, engine.url):
        raise InvalidRequest("that DSN is Tollway's own database; Tollway uses a One API database in place, "
                             "without an import", param="dsn")

    def unreadable(exc: BaseException) -> InvalidRequest:
        return InvalidRequest(f"could not read the One API database: {source.safe_message(exc, url)}", param="dsn")

    reader = source.open_source(url)
    try:
        try:
            source_conn = await reader.connect()
        except (SQLAlchemyError, OSError) as exc:
            raise unreadable(exc) from None
        try:
            try:
                importer = Importer(await source.tables(source_conn), source_conn, keybox)
                await importer.load()
            except (SQLAlchemyError, OSError) as exc:
                raise unreadable(exc) from None
            async with lock or _unlocked(), engine.begin() as conn:
                await importer.run(conn)
            if logs:
                await importer.logs(log_engine, f"import:{source.fingerprint(url)}:logs", unreadable)
        finally:
            await source_conn.close()
    finally:
        await reader.dispose()
    return importer.report


@contextlib.asynccontextmanager
async def _unlocked() -> AsyncIterator[None]:
    yield
