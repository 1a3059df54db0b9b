"""Widen One API's columns that Tollway's values outgrow, on every engine that enforces sizes.

A database made by One API before v0.6.2 has `channels.key varchar(191) NOT NULL` with an index `idx_channels_key`
(on PostgreSQL and SQLite the index even survives One API's own upgrades): a sealed key is longer than the plain
one, so a modern key no longer fits the column on MySQL, and a sealed service-account JSON exceeds PostgreSQL's
B-tree row limit. The index goes first (One API has not used it since v0.6.2), then each column narrower than
Tollway's schema is widened: strings to the schema's length or to TEXT, 32-bit integers (users.quota before v0.6.2)
to BIGINT. SQLite enforces neither lengths nor integer widths, so only the index is dropped there.

Every step checks before it acts: MySQL commits each ALTER at once, so a start that fails halfway finishes the
rest on the next start.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from alembic import op

from tollway.storage import schema

revision = "0007"
down_revision = "0006"

log = logging.getLogger(__name__)
LEGACY_KEY_INDEX = "idx_channels_key"


def _wider(have: Any, want: Any) -> Any:
    """The type to widen a column of type `have` to so that `want`'s values fit, or None if they already do."""
    if isinstance(want, sa.BigInteger):
        return sa.BigInteger() if isinstance(have, sa.Integer) and not isinstance(have, sa.BigInteger) else None
    if not isinstance(want, sa.String) or not isinstance(have, sa.String) or have.length is None:
        return None  # not text, or already unbounded (TEXT, LONGTEXT)
    if isinstance(want, sa.Text) or want.length is None:
        return sa.Text()
    return sa.String(want.length) if have.length < want.length else None


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    present = set(inspector.get_table_names())
    if "channels" in present and LEGACY_KEY_INDEX in {i["name"] for i in inspector.get_indexes("channels")}:
        op.drop_index(LEGACY_KEY_INDEX, table_name="channels")
    if bind.dialect.name == "sqlite":
        return
    mysql = bind.dialect.name in ("mysql", "mariadb")
    for table in schema.metadata.sorted_tables:
        if table.name not in present:
            continue
        reflected = {column["name"]: column for column in inspector.get_columns(table.name)}
        indexed = {name for index in inspector.get_indexes(table.name) for name in index["column_names"] if name}
        for column in table.columns:
            have = reflected.get(column.name)
            target = _wider(have["type"], column.type) if have is not None and not column.primary_key else None
            if have is None or target is None:
                continue
            if mysql and isinstance(target, sa.Text) and column.name in indexed:
                # MySQL cannot index TEXT without a prefix length; an operator's own index is left alone.
                log.warning("%s.%s is indexed; not widening it to TEXT", table.name, column.name)
                continue
            default = have.get("default")
            op.alter_column(
                table.name, column.name, type_=target, existing_type=have["type"], existing_nullable=have["nullable"],
                existing_server_default=sa.text(default) if default is not None else None,
                # MySQL's TEXT takes no literal default (MariaDB's would); Tollway always writes these columns.
                **({"server_default": None} if mysql and isinstance(target, sa.Text) else {}),
            )
