"""Log rows made fit for every database, and inserted by the thousand with a statement compiled once per database.

A flush writes thousands of logs. Through SQLAlchemy's executemany every row's parameters are processed on the event
loop, and SQLite's driver then gives up the GIL and takes it back for every row it steps: the busy event loop holds
the writer thread up for up to a switch interval (5 ms) each time, so a flush of a few thousand rows took seconds
and stalled requests whenever it got the GIL. Here each row becomes a plain tuple once, SQLite gets many rows per
`INSERT … VALUES (…), (…)` statement (one GIL hand-over per statement), and PostgreSQL's and MySQL's drivers get one
executemany, which they batch themselves.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from tollway.storage import schema

_logs = schema.logs
# Rows per SQLite statement: 23 columns × 1000 rows stays under SQLite's default limit of 32,766 bound variables
# (since 3.32; older builds allow 999).
_SQLITE_ROWS = 1000 if sqlite3.sqlite_version_info >= (3, 32) else 999 // len(_logs.columns)


def _log_columns() -> tuple[dict[str, Any], tuple[tuple[str, int], ...]]:
    """Every log column but the id with its default, and the text columns with their lengths, worked out once."""
    defaults: dict[str, Any] = {}
    texts = []
    for column in _logs.columns:
        if column.name == "id":
            continue
        default = column.default.arg if column.default is not None else None  # type: ignore[attr-defined]
        defaults[column.name] = None if callable(default) else default
        length = getattr(column.type, "length", None)
        if length:
            texts.append((column.name, int(length)))
    return defaults, tuple(texts)


_DEFAULTS, _TEXTS = _log_columns()
COLUMNS = tuple(_DEFAULTS)


def fit(row: dict[str, Any]) -> dict[str, Any]:
    """A log row every database accepts: all columns present and text clipped to its column's length.

    One over-long model name must not make the whole batch (and every later flush) fail.
    """
    fitted = {**_DEFAULTS, **row}
    if len(fitted) != len(_DEFAULTS) or None in fitted.values():
        fitted = {name: default if row.get(name) is None else row[name] for name, default in _DEFAULTS.items()}
    for name, length in _TEXTS:
        value = fitted[name]
        if value.__class__ is str and len(value) > length:
            fitted[name] = value[:length]
    return fitted


@dataclass(frozen=True)
class _Statement:
    """The INSERT of one log row as one database's driver takes it."""

    sql: str
    order: tuple[str, ...] | None  # the columns in parameter order; None for a driver that takes named parameters
    values: str  # the `(…)` of one row, repeated for a multi-row INSERT

    @classmethod
    def compile(cls, dialect: Dialect) -> _Statement:
        compiled = insert(_logs).compile(dialect=dialect, column_keys=list(COLUMNS))
        sql = str(compiled)
        order = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
        return cls(sql, order, sql[sql.rindex(" VALUES ") + len(" VALUES "):])


_STATEMENTS: dict[str, _Statement] = {}  # compiled once per dialect


async def insert_fitted(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows made by `fit`, in order."""
    if not rows:
        return
    dialect = conn.dialect
    statement = _STATEMENTS.get(dialect.name)
    if statement is None:
        statement = _STATEMENTS[dialect.name] = _Statement.compile(dialect)
    order = statement.order
    if order is None:
        await conn.exec_driver_sql(statement.sql, list(rows))
    elif dialect.name == "sqlite" and order == COLUMNS:
        for start in range(0, len(rows), _SQLITE_ROWS):
            part = rows[start:start + _SQLITE_ROWS]
            sql = statement.sql + (", " + statement.values) * (len(part) - 1)
            await conn.exec_driver_sql(sql, tuple(value for row in part for value in row.values()))
    else:
        await conn.exec_driver_sql(statement.sql, [tuple(row[name] for name in order) for row in rows])
