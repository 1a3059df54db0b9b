"""Tollway's `tollway_key_checks`: the check value of the key that seals upstream keys (see storage/key_check.py).

Created only where missing (a fresh database already has it from 0001); never on a separate log database.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

from tollway.storage import schema

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    config = op.get_context().config
    if config is not None and config.attributes.get("role", "main") == "logs":
        return
    schema.metadata.create_all(op.get_bind(), tables=[schema.key_checks], checkfirst=True)
