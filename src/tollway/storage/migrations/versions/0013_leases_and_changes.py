"""Several workers and nodes on one database: quota leases (`leased` on users and tokens, `tollway_leases`), the
change log every process polls (`tollway_changes`) and shared operation states (`tollway_state`).

Idempotent like 0010: a fresh database already has all of it from 0001 (which creates the current schema), an older
Tollway or a One API database gains it here. `leased` is NOT NULL with a default of 0, so rows One API inserts
(going back) still work.

Revision ID: 0013
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tollway.storage import schema

revision = "0013"
down_revision = "0012"


def _role() -> str:
    config = op.get_context().config
    return str(config.attributes.get("role", "main")) if config is not None else "main"


def upgrade() -> None:
    if _role() != "main":
        return
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    present = set(inspector.get_table_names())
    for table in ("users", "tokens"):
        if table in present and "leased" not in {column["name"] for column in inspector.get_columns(table)}:
            op.add_column(table, sa.Column("leased", sa.BigInteger, nullable=False, server_default="0"))
    schema.metadata.create_all(bind, tables=[schema.leases, schema.changes, schema.state], checkfirst=True)
