"""Journal marks on the separate log database: `tollway_markers` there too (the main database has it since 0005).

The keeper records, in the same transaction as each batch of logs, the last journal sequence number the
batch covers (storage/journal.py), so a replay after a crash writes every log exactly once.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

from tollway.storage import schema

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    schema.metadata.create_all(op.get_bind(), tables=[schema.markers], checkfirst=True)

