"""Tollway's `logs.inbound_api`: the API a call's client spoke (Anthropic Messages, OpenAI Responses, Gemini).

Idempotent like 0006: a fresh database already has the column from 0001; a One API database, an older Tollway and
a separate log database (role "logs") gain it, NULL (OpenAI's own API) for the logs already written. Nullable, so
One API keeps working on the same database.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if "logs" in inspector.get_table_names():
        columns = {column["name"] for column in inspector.get_columns("logs")}
        if "inbound_api" not in columns:
            op.add_column("logs", sa.Column("inbound_api", sa.String(32), nullable=True))
