"""Alembic environment: runs on the connection that `tollway.storage.migrate` hands over."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table="tollway_version", render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
