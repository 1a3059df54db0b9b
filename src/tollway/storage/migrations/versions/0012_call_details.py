"""Call logs as AI Proxy keeps them: status code, attempt, client address, endpoint and cached tokens on `logs`,
request/response bodies (`tollway_log_details`) and the per-channel summaries of the monitoring dashboard.

Idempotent like 0003: a fresh database has all of it from 0001 (which creates the current schema); a One API
database, an older Tollway and the separate log database (role "logs") gain it here. The new log columns are
nullable without a server default, so adding them to a table of millions of rows does not rewrite it; a One API
binary on the same database ignores them.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tollway.storage import schema

revision = "0012"
down_revision = "0011"

_LOG_COLUMNS = ("code", "retry_times", "ip", "endpoint", "cached_tokens")


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    schema.metadata.create_all(bind, tables=[schema.log_details, schema.call_minutes, schema.call_quarters],
                               checkfirst=True)
    if "logs" not in inspector.get_table_names():
        return
    have = {column["name"] for column in inspector.get_columns("logs")}
    for name in _LOG_COLUMNS:
        if name not in have:
            kind = schema.logs.c[name].type
            op.add_column("logs", sa.Column(name, kind, nullable=True))
    indexes = {index["name"] for index in inspector.get_indexes("logs")}
    index = schema.LOG_REQUEST_ID_INDEX
    if index.name not in indexes:
        op.create_index(index.name, "logs", [column.name for column in index.columns])
