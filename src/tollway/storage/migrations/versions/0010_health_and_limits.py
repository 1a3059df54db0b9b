"""Channel health and relay rate limits: why and when a channel's status changed on its own; per-token RPM/TPM.

Idempotent like 0003: a fresh database already has these columns from 0001 (which creates the current schema),
an older Tollway or a One API database gains them here. All are nullable, so One API keeps working on the
same database.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"

_COLUMNS: dict[str, tuple[tuple[str, Any], ...]] = {
    "channels": (("status_reason", sa.Text), ("status_time", sa.BigInteger)),
    "tokens": (("rpm_limit", sa.Integer), ("tpm_limit", sa.BigInteger)),
}


def _role() -> str:
    config = op.get_context().config
    return str(config.attributes.get("role", "main")) if config is not None else "main"


def upgrade() -> None:
    if _role() != "main":
        return
    inspector = sa.inspect(op.get_bind())
    present = set(inspector.get_table_names())
    for table, columns in _COLUMNS.items():
        if table not in present:
            continue
        have = {column["name"] for column in inspector.get_columns(table)}
        for name, kind in columns:
            if name not in have:
                op.add_column(table, sa.Column(name, kind, nullable=True))
