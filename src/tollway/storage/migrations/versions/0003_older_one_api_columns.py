"""Columns that a database from an older One API release lacks.

One API's GORM AutoMigrate added columns over its releases (users.lark_id and oidc_id, channels.config and
system_prompt, tokens.models and subnet, logs.request_id, elapsed_time, is_stream, system_prompt_reset);
Tollway selects every column of its schema, so such a database gains the missing ones with their defaults.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tollway.storage import schema

revision = "0003"
down_revision = "0002"


def _server_default(column: sa.Column[object]) -> str | None:
    """The column's scalar default as SQL text for existing rows; TEXT columns cannot have one on MySQL."""
    default = column.default
    if not isinstance(default, sa.ColumnDefault) or not default.is_scalar or isinstance(column.type, sa.Text):
        return None
    value = default.arg
    return str(int(value)) if isinstance(value, bool) else str(value)


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    present = set(inspector.get_table_names())
    for table in schema.metadata.sorted_tables:
        if table.name not in present:
            continue
        have = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in have:
                op.add_column(table.name, sa.Column(column.name, column.type, nullable=True,
                                                    server_default=_server_default(column)))
