"""Run the Alembic migrations on the main database and, when separate, on the log database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"


def _upgrade(connection: Connection, role: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    config.attributes["role"] = role
    # "heads": independent branches of migrations (tables added by separate features) all apply.
    command.upgrade(config, "heads")


async def migrate(engine: AsyncEngine, *, role: str = "main") -> None:
    """Bring `engine`'s database to the latest schema; role "logs" creates only the logs table."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade, role)
