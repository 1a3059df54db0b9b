"""The sealing key must fit the database: a start with another key stops with a clear message.

Without `ENCRYPTION_KEY`, the key lives in `<data dir>/secret.key`; a start from another working directory (or
after the file was lost) would make a new key, and every channel would silently drop out of routing. So the first
start stores a check value of its key in `tollway_key_checks`, and every later start compares it before anything
else. A database that has none yet (One API's, or an older Tollway's) is judged by its sealed keys instead.
"""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any

import orjson
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tollway.crypto import KeyBox
from tollway.errors import WrongEncryptionKey
from tollway.storage import schema
from tollway.storage.channel_secrets import SECRET_CONFIG

log = logging.getLogger(__name__)

NAME = "channel keys"


def _sealed_values(key: str | None, config: str | None) -> list[str]:
    """A channel's sealed key and sealed secret config fields."""
    values = [key] if key and KeyBox.is_sealed(key) else []
    try:
        parsed: Any = orjson.loads(config) if config else {}
    except orjson.JSONDecodeError:
        parsed = {}
    if isinstance(parsed, dict):
        values += [v for k, v in parsed.items() if k in SECRET_CONFIG and isinstance(v, str) and KeyBox.is_sealed(v)]
    return values


def _refuse(keybox: KeyBox, why: str) -> WrongEncryptionKey:
    origin = keybox.origin
    if origin.created and origin.path is not None:
        # The file was made by this start and has sealed nothing: leaving it would only hide the real key next time.
        origin.path.unlink(missing_ok=True)
    error = WrongEncryptionKey(
        f"the encryption key does not fit this database ({why}), so every upstream key would be unreadable. "
        f"This start took its key from {origin.describe()}. Start with the key used before: set ENCRYPTION_KEY to "
        "it, or start from the directory whose data/secret.key holds it (or set TOLLWAY_DATA_DIR to that "
        "directory). Nothing was changed.")
    log.critical("Tollway cannot start: %s", error.message)
    return error


async def verify(conn: AsyncConnection, keybox: KeyBox, *, record: bool) -> None:
    """Stop with WrongEncryptionKey unless `keybox` is the database's key; store its check value if `record`."""
    table = schema.key_checks
    stored = (await conn.execute(select(table.c.value).where(table.c.name == NAME))).scalar_one_or_none()
    if stored is not None:
        if not hmac.compare_digest(stored, keybox.check_value):
            raise _refuse(keybox, "it is not the key whose check value the database keeps")
        return
    rows = (await conn.execute(select(schema.channels.c.id, schema.channels.c.key, schema.channels.c.config))).all()
    opened, failed = 0, []
    for channel_id, key, config in rows:
        for value in _sealed_values(key, config):
            try:
                keybox.open(value)
                opened += 1
            except ValueError:
                failed.append(channel_id)
    if failed and not opened:
        raise _refuse(keybox, f"none of the sealed upstream keys of {len(set(failed))} channels opens with it")
    if failed:
        log.warning("channels %s hold keys sealed with another ENCRYPTION_KEY; enter their keys again",
                    sorted(set(failed)))
    if record:
        await conn.execute(insert(table).values(name=NAME, value=keybox.check_value, created_at=int(time.time())))
