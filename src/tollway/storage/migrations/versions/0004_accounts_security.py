"""Tollway's session and single-use code tables (sign-in, email verification, password reset, OAuth state).

Created only where missing, so a database that 0001 already built at the current schema is left as it is.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

from tollway.storage import schema

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    config = op.get_context().config
    role = config.attributes.get("role", "main") if config is not None else "main"
    if role == "logs":
        return
    schema.metadata.create_all(op.get_bind(), tables=[schema.sessions, schema.codes], checkfirst=True)
