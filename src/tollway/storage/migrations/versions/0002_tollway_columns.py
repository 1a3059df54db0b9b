"""Tollway's additions to One API's tables: first-byte latency on logs.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if "logs" in inspector.get_table_names():
        columns = {column["name"] for column in inspector.get_columns("logs")}
        if "first_byte_time" not in columns:
            op.add_column("logs", sa.Column("first_byte_time", sa.BigInteger, server_default="0"))
