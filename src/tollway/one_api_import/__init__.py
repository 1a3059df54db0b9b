"""Importing a One API database (MySQL, PostgreSQL or SQLite) into Tollway's: `POST /api/channels/import/oneapi`
(AI Proxy's route, for FastGPT's migration guide) and `tollway import-oneapi DSN`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from tollway.crypto import KeyBox
from tollway.errors import InvalidRequest
from tollway.one_api_import.copier import Importer, Report
from tollway.storage import one_api_source as source
from tollway.storage.database import DatabaseError, Engine
from tollway.storage.one_api_target import import_transaction

__all__ = ["Report", "import_one_api"]


async def import_one_api(dsn: str, *, engine: Engine, log_engine: Engine, keybox: KeyBox,
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

    reader = source.OneApiSource(url)
    try:
        try:
            await reader.open()
            importer = Importer(reader, keybox)
            await importer.load()
        except (DatabaseError, OSError) as exc:
            raise unreadable(exc) from None
        async with lock or _unlocked(), import_transaction(engine) as target:
            await importer.run(target)
        if logs:
            await importer.logs(log_engine, f"import:{source.fingerprint(url)}:logs", unreadable)
    finally:
        await reader.close()
    return importer.report


@contextlib.asynccontextmanager
async def _unlocked() -> AsyncIterator[None]:
    yield
