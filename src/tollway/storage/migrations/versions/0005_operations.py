"""Operations: per-model channel test results, log roll-ups for dashboards, the options marker, log indexes.

Idempotent like 0003: a fresh database already has these tables from 0001 (which creates the current schema),
an older Tollway or a One API database gains them here. Roll-ups are summed from the existing consume logs when
the roll-up table is empty, so dashboards cover the history of an upgraded database too. On the separate log
database (role "logs") only the roll-ups and the log indexes apply.

Revision ID: 0005
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tollway.storage import rollups, schema

revision = "0005"
down_revision = "0003"


def _role() -> str:
    config = op.get_context().config
    return str(config.attributes.get("role", "main")) if config is not None else "main"


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    present = set(inspector.get_table_names())
    main = _role() == "main"
    tables = [schema.log_rollups] + ([schema.channel_tests, schema.markers] if main else [])
    schema.metadata.create_all(bind, tables=tables, checkfirst=True)
    if main and "redemptions" in present:
        columns = {column["name"] for column in inspector.get_columns("redemptions")}
        if "used_user_id" not in columns:
            op.add_column("redemptions", sa.Column("used_user_id", sa.Integer, server_default="0"))
    markers = schema.markers
    if main and bind.execute(sa.select(markers.c.name).where(markers.c.name == "options")).first() is None:
        bind.execute(sa.insert(markers).values(name="options", version=0))
    if "logs" not in present:
        return
    have = {index["name"] for index in inspector.get_indexes("logs")}
    indexes = schema.LOG_INDEXES + (schema.POSTGRES_LOG_INDEXES if bind.dialect.name == "postgresql" else [])
    for index in indexes:
        if index.name not in have:
            op.create_index(index.name, "logs", [column.name for column in index.columns])
    if bind.execute(sa.select(sa.func.count()).select_from(schema.log_rollups)).scalar_one() == 0:
        for statement in rollups.backfill():
            bind.execute(statement)
