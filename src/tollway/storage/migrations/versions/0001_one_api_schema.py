"""One API's tables, created where missing.

A fresh database gets every table at the current schema; a One API database keeps its tables and gains
only what it lacks. Later migrations therefore check before they add, so both paths meet at head.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op

from tollway.storage import schema

revision = "0001"
down_revision = None


def upgrade() -> None:
    config = op.get_context().config
    role = config.attributes.get("role", "main") if config is not None else "main"
    tables = [schema.logs] if role == "logs" else list(schema.metadata.sorted_tables)
    schema.metadata.create_all(op.get_bind(), tables=tables, checkfirst=True)
