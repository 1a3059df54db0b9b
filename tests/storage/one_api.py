"""A database as One API leaves it: its tables as GORM AutoMigrate creates them on each backend, with rows.

Types follow GORM's mapping of One API's models (reference/one-api.md §2): Go `int` is bigint, an indexed
or unique `string` is varchar(191) on MySQL, other strings are longtext (MySQL) or text, bool is numeric
on SQLite. There is no `logs.first_byte_time` and no `tollway_version` table: Tollway has never run here.
"""

from __future__ import annotations

from typing import Any

import bcrypt
from sqlalchemy import column, insert, table, text
from sqlalchemy.ext.asyncio import AsyncConnection

# Column kinds mapped to each backend's type, as GORM renders them.
_TYPES: dict[str, dict[str, str]] = {
    "sqlite": {"pk": "integer PRIMARY KEY AUTOINCREMENT", "int": "integer", "int32": "integer", "str": "text",
               "istr": "text", "bool": "numeric", "float": "real", "text": "text"},
    "postgresql": {"pk": "bigserial PRIMARY KEY", "int": "bigint", "int32": "integer", "str": "text",
                   "istr": "text", "bool": "boolean", "float": "decimal", "text": "text"},
    "mysql": {"pk": "bigint AUTO_INCREMENT PRIMARY KEY", "int": "bigint", "int32": "int", "str": "longtext",
              "istr": "varchar(191)", "bool": "boolean", "float": "double", "text": "text"},
}

# Columns that only later One API releases added; an older One API database lacks them.
NEWER = {
    "users": {"lark_id", "oidc_id"},
    "channels": {"config", "system_prompt"},
    "tokens": {"models", "subnet"},
    "logs": {"request_id", "elapsed_time", "is_stream", "system_prompt_reset"},
}

# table -> [(column, kind or explicit type, extra SQL)]
_TABLES: dict[str, list[tuple[str, str, str]]] = {
    "users": [
        ("id", "pk", ""), ("username", "istr", "UNIQUE"), ("password", "str", "NOT NULL"),
        ("display_name", "istr", ""), ("role", "int32", "DEFAULT 1"), ("status", "int32", "DEFAULT 1"),
        ("email", "istr", ""), ("github_id", "istr", ""), ("wechat_id", "istr", ""), ("lark_id", "istr", ""),
        ("oidc_id", "istr", ""), ("access_token", "char(32)", "UNIQUE"), ("quota", "int", "DEFAULT 0"),
        ("used_quota", "int", "DEFAULT 0"), ("request_count", "int32", "DEFAULT 0"),
        ("group", "varchar(32)", "DEFAULT 'default'"), ("aff_code", "varchar(32)", "UNIQUE"),
        ("inviter_id", "int32", ""),
    ],
    "channels": [
        ("id", "pk", ""), ("type", "int", "DEFAULT 0"), ("key", "text", ""), ("status", "int", "DEFAULT 1"),
        ("name", "istr", ""), ("weight", "int", "DEFAULT 0"), ("created_time", "int", ""),
        ("test_time", "int", ""), ("response_time", "int", ""), ("base_url", "istr", "DEFAULT ''"),
        ("other", "str", ""), ("balance", "float", ""), ("balance_updated_time", "int", ""),
        ("models", "str", ""), ("group", "varchar(32)", "DEFAULT 'default'"), ("used_quota", "int", "DEFAULT 0"),
        ("model_mapping", "varchar(1024)", "DEFAULT ''"), ("priority", "int", "DEFAULT 0"), ("config", "str", ""),
        ("system_prompt", "text", ""),
    ],
    "tokens": [
        ("id", "pk", ""), ("user_id", "int", ""), ("key", "char(48)", "UNIQUE"), ("status", "int", "DEFAULT 1"),
        ("name", "istr", ""), ("created_time", "int", ""), ("accessed_time", "int", ""),
        ("expired_time", "int", "DEFAULT -1"), ("remain_quota", "int", "DEFAULT 0"),
        ("unlimited_quota", "bool", "DEFAULT false"), ("used_quota", "int", "DEFAULT 0"), ("models", "text", ""),
        ("subnet", "istr", "DEFAULT ''"),
    ],
    "redemptions": [
        ("id", "pk", ""), ("user_id", "int", ""), ("key", "char(32)", "UNIQUE"), ("status", "int", "DEFAULT 1"),
        ("name", "istr", ""), ("quota", "int", "DEFAULT 100"), ("created_time", "int", ""),
        ("redeemed_time", "int", ""),
    ],
    "logs": [
        ("id", "pk", ""), ("user_id", "int", ""), ("created_at", "int", ""), ("type", "int", ""),
        ("content", "str", ""), ("username", "istr", "DEFAULT ''"), ("token_name", "istr", "DEFAULT ''"),
        ("model_name", "istr", "DEFAULT ''"), ("quota", "int", "DEFAULT 0"), ("prompt_tokens", "int", "DEFAULT 0"),
        ("completion_tokens", "int", "DEFAULT 0"), ("channel_id", "int", ""), ("request_id", "istr", "DEFAULT ''"),
        ("elapsed_time", "int", "DEFAULT 0"), ("is_stream", "bool", "DEFAULT false"),
        ("system_prompt_reset", "bool", "DEFAULT false"),
    ],
    "options": [("key", "istr", "PRIMARY KEY"), ("value", "str", "")],
    "abilities": [
        ("group", "varchar(32)", ""), ("model", "istr", ""), ("channel_id", "int", ""), ("enabled", "bool", ""),
        ("priority", "int", "DEFAULT 0"),
    ],
}

# GORM's index names, which are not the names Tollway's schema would give them.
_INDEXES = [
    ("idx_users_display_name", "users", "display_name"), ("idx_channels_name", "channels", "name"),
    ("idx_tokens_name", "tokens", "name"), ("idx_created_at_type", "logs", "created_at, type"),
    ("idx_logs_user_id", "logs", "user_id"), ("idx_abilities_channel_id", "abilities", "channel_id"),
]

PLAIN_CHANNEL_KEY = "sk-one-api-plain-upstream-key"
TOKEN_KEY = "T" * 48
ROOT_PASSWORD_HASH = bcrypt.hashpw(b"123456", bcrypt.gensalt(rounds=4)).decode()

ROWS: dict[str, list[dict[str, Any]]] = {
    "users": [
        {"id": 1, "username": "root", "password": ROOT_PASSWORD_HASH, "display_name": "Root User", "role": 100,
         "status": 1, "access_token": "b" * 32, "quota": 500, "used_quota": 70, "request_count": 3,
         "group": "default", "aff_code": "Ab12"},
        {"id": 2, "username": "bob", "password": ROOT_PASSWORD_HASH, "display_name": "Bob", "role": 1,
         "status": 1, "access_token": "c" * 32, "quota": 1000, "used_quota": 0, "request_count": 0,
         "group": "vip", "aff_code": "Cd34"},
    ],
    "tokens": [{"id": 7, "user_id": 2, "key": TOKEN_KEY, "status": 1, "name": "bob key", "created_time": 1,
                "accessed_time": 1, "expired_time": -1, "remain_quota": 400, "unlimited_quota": False,
                "used_quota": 25}],
    "channels": [{"id": 3, "type": 1, "key": PLAIN_CHANNEL_KEY, "status": 1, "name": "openai", "weight": 0,
                  "created_time": 1, "base_url": "", "models": "gpt-4o-mini,gpt-3.5-turbo", "group": "default,vip",
                  "used_quota": 95, "model_mapping": "", "priority": 5, "balance": 1.5}],
    "abilities": [{"group": g, "model": m, "channel_id": 3, "enabled": True, "priority": 5}
                  for g in ("default", "vip") for m in ("gpt-4o-mini", "gpt-3.5-turbo")],
    "logs": [{"id": 11, "user_id": 2, "created_at": 1_700_000_000, "type": 2, "content": "old consume",
              "username": "bob", "token_name": "bob key", "model_name": "gpt-4o-mini", "quota": 25,
              "prompt_tokens": 10, "completion_tokens": 20, "channel_id": 3}],
    "options": [{"key": "QuotaPerUnit", "value": "500000"}, {"key": "LogConsumeEnabled", "value": "true"}],
    "redemptions": [{"id": 1, "user_id": 1, "key": "d" * 32, "status": 1, "name": "gift", "quota": 100,
                     "created_time": 1}],
}


def _dialect(conn: AsyncConnection) -> str:
    name = conn.dialect.name
    return "mysql" if name in {"mysql", "mariadb"} else name


def _create_table(dialect: str, name: str, columns: list[tuple[str, str, str]]) -> str:
    quote = '"' if dialect == "postgresql" else "`"
    parts = []
    for col, kind, extra in columns:
        sql_type = _TYPES[dialect].get(kind, kind)
        parts.append(f"{quote}{col}{quote} {sql_type} {extra}".rstrip())
    if name == "abilities":
        parts.append(f"PRIMARY KEY ({quote}group{quote}, {quote}model{quote}, {quote}channel_id{quote})")
    return f"CREATE TABLE {quote}{name}{quote} ({', '.join(parts)})"


async def create_one_api_database(conn: AsyncConnection, *, older: bool = False,
                                  only: tuple[str, ...] | None = None) -> None:
    """Create One API's tables (or `only` some of them) with GORM's DDL and fill them with `ROWS`."""
    dialect = _dialect(conn)
    for name, columns in _TABLES.items():
        if only is not None and name not in only:
            continue
        skipped = NEWER.get(name, set()) if older else set()
        kept = [spec for spec in columns if spec[0] not in skipped]
        await conn.execute(text(_create_table(dialect, name, kept)))
        for index, table_name, cols in _INDEXES:
            if table_name == name:
                await conn.execute(text(f"CREATE INDEX {index} ON {table_name} ({cols})"))
        rows = [{k: v for k, v in row.items() if k not in skipped} for row in ROWS[name]]
        target = table(name, *(column(key) for key in rows[0]))
        await conn.execute(insert(target), rows)
    if dialect == "postgresql":
        # Explicit ids leave PostgreSQL's sequences behind, so move them on as GORM's own inserts would have.
        for name in ("users", "tokens", "channels", "logs", "redemptions"):
            if only is None or name in only:
                await conn.execute(text(f"SELECT setval('{name}_id_seq', (SELECT MAX(id) FROM {name}))"))
