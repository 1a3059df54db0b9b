"""Tollway's `logs.upstream_model`: the model a call was sent upstream as, after the channel's model mapping.

Idempotent like 0002: a fresh database already has the column from 0001; a One API database, an older Tollway and
a separate log database (role "logs") gain it, NULL for the logs already written.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if "logs" in inspector.get_table_names():
        columns = {column["name"] for column in inspector.get_columns("logs")}
        if "upstream_model" not in columns:
            op.add_column("logs", sa.Column("upstream_model", sa.String(191), nullable=True))
