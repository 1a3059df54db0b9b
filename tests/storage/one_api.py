"""Databases as One API leaves them: its GORM models of several releases, turned into each backend's DDL by GORM's
own rules (gorm.io/gorm, driver/sqlite, driver/mysql, driver/postgres at the versions each release's go.mod pins),
filled with rows.

The models are One API's `model/*.go` structs (Go field name, Go type, gorm tag) with the release that introduced
or changed each field. GORM's rules applied here: Go `int`/`int64`/`uint` are 64-bit integers (bigint; SQLite
integer), `type:` tags are used verbatim, a string is `text` (PostgreSQL, SQLite) or, on MySQL, `varchar(191)`
when it is a key, has a default or an index, else `longtext`; `index` makes `idx_<table>_<snake Go name>`, a
`unique` tag is inline `UNIQUE` before GORM 1.25.7 and a `uni_<table>_<column>` constraint after; the `id` primary
key autoincrements (inline `PRIMARY KEY AUTOINCREMENT` only from driver/sqlite 1.5.5). None of these databases has
`logs.first_byte_time` or a `tollway_version` table: Tollway has never run there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import bcrypt
from sqlalchemy import column, insert, table, text
from sqlalchemy.ext.asyncio import AsyncConnection

V050, V061, V0610, V0611 = (0, 5, 0), (0, 6, 1), (0, 6, 10), (0, 6, 11)


@dataclass(frozen=True)
class Release:
    """One API release: its models' version and the GORM behaviour its go.mod pins."""

    name: str
    models: tuple[int, int, int]
    sqlite_inline_pk: bool  # gorm.io/driver/sqlite >= 1.5.5
    unique_constraint: bool  # gorm.io/gorm >= 1.25.7
    postgres: bool = True  # One API could run on PostgreSQL (from v0.5.9)


RELEASES = {
    # 2023-07: gorm 1.24.0, driver/sqlite 1.4.3, driver/mysql 1.4.3, no PostgreSQL driver yet.
    "v0.5.0": Release("v0.5.0", V050, sqlite_inline_pk=False, unique_constraint=False, postgres=False),
    # 2024-03, the last release before v0.6.2: channels.key is `not null;index`, users.quota a 32-bit int.
    "v0.6.1": Release("v0.6.1", V061, sqlite_inline_pk=False, unique_constraint=False),
    # 2024-12: gorm 1.25.10, driver/sqlite 1.5.5, driver/mysql 1.5.6, driver/postgres 1.5.7.
    "v0.6.10": Release("v0.6.10", V0610, sqlite_inline_pk=True, unique_constraint=True),
    # v0.6.11-preview.7 (2025): logs gain request_id, elapsed_time, is_stream, system_prompt_reset; driver/sqlite 1.5.1.
    "v0.6.11": Release("v0.6.11", V0611, sqlite_inline_pk=False, unique_constraint=True),
}
NEWEST = "v0.6.11"


@dataclass(frozen=True)
class Field:
    go: str  # Go field name (GORM derives index names from it)
    kind: str  # Go type
    tags: str = ""  # the gorm struct tag
    since: tuple[int, int, int] = V050
    until: tuple[int, int, int] = (99, 0, 0)  # first release without this form of the field


_STR, _INT = "string", "int"
MODELS: dict[str, list[Field]] = {
    "channels": [
        Field("Id", _INT), Field("Type", _INT, "default:0"),
        Field("Key", _STR, "not null;index", until=V0610), Field("Key", _STR, "type:text", since=V0610),
        Field("Status", _INT, "default:1"), Field("Name", _STR, "index"),
        Field("Weight", _INT, until=V061), Field("Weight", "*uint", "default:0", since=V061),
        Field("CreatedTime", "int64", "bigint"), Field("TestTime", "int64", "bigint"), Field("ResponseTime", _INT),
        Field("BaseURL", _STR, "column:base_url", until=V061),
        Field("BaseURL", "*string", "column:base_url;default:''", since=V061),
        Field("Other", _STR), Field("Balance", "float64"), Field("BalanceUpdatedTime", "int64", "bigint"),
        Field("Models", _STR), Field("Group", _STR, "type:varchar(32);default:'default'"),
        Field("UsedQuota", "int64", "bigint;default:0"), Field("ModelMapping", _STR, "type:varchar(1024);default:''"),
        Field("Priority", "*int64", "bigint;default:0", since=V061), Field("Config", _STR, since=V061),
        Field("SystemPrompt", "*string", "type:text", since=V0610),
    ],
    "tokens": [
        Field("Id", _INT), Field("UserId", _INT), Field("Key", _STR, "type:char(48);uniqueIndex"),
        Field("Status", _INT, "default:1"), Field("Name", _STR, "index"), Field("CreatedTime", "int64", "bigint"),
        Field("AccessedTime", "int64", "bigint"), Field("ExpiredTime", "int64", "bigint;default:-1"),
        Field("RemainQuota", _INT, "default:0"), Field("UnlimitedQuota", "bool", "default:false"),
        Field("UsedQuota", _INT, "default:0"), Field("Models", "*string", "type:text", since=V0610),
        Field("Subnet", "*string", "default:''", since=V0610),
    ],
    "users": [
        Field("Id", _INT), Field("Username", _STR, "unique;index"), Field("Password", _STR, "not null;"),
        Field("DisplayName", _STR, "index"), Field("Role", _INT, "type:int;default:1"),
        Field("Status", _INT, "type:int;default:1"), Field("Email", _STR, "index"),
        Field("GitHubId", _STR, "column:github_id;index"), Field("WeChatId", _STR, "column:wechat_id;index"),
        Field("LarkId", _STR, "column:lark_id;index", since=V0610),
        Field("OidcId", _STR, "column:oidc_id;index", since=V0610),
        Field("AccessToken", _STR, "type:char(32);column:access_token;uniqueIndex"),
        Field("Quota", _INT, "type:int;default:0", until=V0610),
        Field("Quota", "int64", "bigint;default:0", since=V0610),
        Field("UsedQuota", _INT, "type:int;default:0;column:used_quota", until=V0610),
        Field("UsedQuota", "int64", "bigint;default:0;column:used_quota", since=V0610),
        Field("RequestCount", _INT, "type:int;default:0;"), Field("Group", _STR, "type:varchar(32);default:'default'"),
        Field("AffCode", _STR, "type:varchar(32);column:aff_code;uniqueIndex"),
        Field("InviterId", _INT, "type:int;column:inviter_id;index"),
    ],
    "options": [Field("Key", _STR, "primaryKey"), Field("Value", _STR)],
    "redemptions": [
        Field("Id", _INT), Field("UserId", _INT), Field("Key", _STR, "type:char(32);uniqueIndex"),
        Field("Status", _INT, "default:1"), Field("Name", _STR, "index"), Field("Quota", _INT, "default:100"),
        Field("CreatedTime", "int64", "bigint"), Field("RedeemedTime", "int64", "bigint"),
    ],
    "abilities": [
        Field("Group", _STR, "type:varchar(32);primaryKey;autoIncrement:false"),
        Field("Model", _STR, "primaryKey;autoIncrement:false"),
        Field("ChannelId", _INT, "primaryKey;autoIncrement:false;index"), Field("Enabled", "bool"),
        Field("Priority", "*int64", "bigint;default:0;index", since=V061),
    ],
    "logs": [
        Field("Id", _INT), Field("UserId", _INT, until=V061), Field("UserId", _INT, "index", since=V061),
        Field("CreatedAt", "int64", "bigint;index", until=V061),
        Field("CreatedAt", "int64", "bigint;index:idx_created_at_type", since=V061),
        Field("Type", _INT, "index", until=V061), Field("Type", _INT, "index:idx_created_at_type", since=V061),
        Field("Content", _STR), Field("Username", _STR, "index;default:''", until=V061),
        Field("Username", _STR, "index:index_username_model_name,priority:2;default:''", since=V061),
        Field("TokenName", _STR, "index;default:''"), Field("ModelName", _STR, "index;default:''", until=V061),
        Field("ModelName", _STR, "index;index:index_username_model_name,priority:1;default:''", since=V061),
        Field("Quota", _INT, "default:0"), Field("PromptTokens", _INT, "default:0"),
        Field("CompletionTokens", _INT, "default:0"), Field("ChannelId", _INT, "index", since=V061),
        Field("RequestId", _STR, "default:''", since=V0611), Field("ElapsedTime", "int64", "default:0", since=V0611),
        Field("IsStream", "bool", "default:false", since=V0611),
        Field("SystemPromptReset", "bool", "default:false", since=V0611),
    ],
}

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


# -- GORM's schema rules --------------------------------------------------------------------------------------------


def _snake(name: str) -> str:
    """GORM's NamingStrategy for these names: GitHubId -> git_hub_id, BaseURL -> base_url."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _tags(field: Field) -> dict[str, str]:
    settings: dict[str, str] = {}
    for part in field.tags.split(";"):
        if part.strip():
            key, _, value = part.partition(":")
            settings.setdefault(key.strip().upper(), value)  # a repeated INDEX keeps both, see _indexes
    return settings


def column_name(field: Field) -> str:
    return _tags(field).get("COLUMN") or _snake(field.go)


def fields(release: Release, name: str) -> list[Field]:
    """The fields of one table as that release declares them."""
    return [f for f in MODELS[name] if f.since <= release.models < f.until]


def columns(release: Release, name: str) -> list[str]:
    return [column_name(f) for f in fields(release, name)]


def _autoincrement(release: Release, name: str, field: Field) -> bool:
    return field.go == "Id" and field.kind == _INT and "AUTOINCREMENT" not in _tags(field)


def _data_type(dialect: str, release: Release, name: str, field: Field) -> str:
    tags = _tags(field)
    auto = _autoincrement(release, name, field)
    kind = field.kind.lstrip("*")
    if "TYPE" in tags:
        sql = tags["TYPE"]
        return sql + " AUTO_INCREMENT" if dialect == "mysql" and auto else sql
    if kind == "bool":
        return {"sqlite": "numeric", "postgresql": "boolean", "mysql": "boolean"}[dialect]
    if kind == "float64":
        return {"sqlite": "real", "postgresql": "decimal", "mysql": "double"}[dialect]
    if kind in ("int", "int64", "uint"):
        if dialect == "sqlite":
            return "integer PRIMARY KEY AUTOINCREMENT" if auto and release.sqlite_inline_pk else "integer"
        if dialect == "postgresql":
            return "bigserial" if auto else "bigint"
        return "bigint" + (" unsigned" if kind == "uint" else "") + (" AUTO_INCREMENT" if auto else "")
    if dialect != "mysql":
        return "text"
    keyed = "PRIMARYKEY" in tags or "DEFAULT" in tags or "INDEX" in tags or "UNIQUE" in tags
    return "varchar(191)" if keyed else "longtext"


def _column_sql(dialect: str, release: Release, name: str, field: Field) -> str:
    tags, quote = _tags(field), _quote(dialect)
    sql = f"{quote}{column_name(field)}{quote} {_data_type(dialect, release, name, field)}"
    if "NOT NULL" in tags:
        sql += " NOT NULL"
    if "UNIQUE" in tags and not release.unique_constraint:
        sql += " UNIQUE"
    if tags.get("DEFAULT"):
        sql += f" DEFAULT {tags['DEFAULT']}"
    return sql


def _indexes(release: Release, name: str) -> dict[str, tuple[bool, list[str]]]:
    """Index name -> (unique, columns in priority order), as GORM's ParseIndexes finds them."""
    found: dict[str, list[tuple[int, int, str]]] = {}
    unique: dict[str, bool] = {}
    for order, field in enumerate(fields(release, name)):
        for part in field.tags.split(";"):
            key, _, value = part.partition(":")
            if key.strip().upper() not in ("INDEX", "UNIQUEINDEX"):
                continue
            index_name, _, options = value.partition(",")
            index_name = index_name or f"idx_{name}_{_snake(field.go)}"
            priority = int(options.split("priority:")[1]) if "priority:" in options else 10
            found.setdefault(index_name, []).append((priority, order, column_name(field)))
            unique[index_name] = key.strip().upper() == "UNIQUEINDEX"
    return {index: (unique[index], [col for _, _, col in sorted(cols)]) for index, cols in found.items()}


def _quote(dialect: str) -> str:
    return '"' if dialect == "postgresql" else "`"


def create_table_sql(dialect: str, release: Release, name: str) -> list[str]:
    """GORM's CREATE TABLE for one model (indexes inline on MySQL, separate statements elsewhere)."""
    quote = _quote(dialect)
    table_fields = fields(release, name)
    parts = [_column_sql(dialect, release, name, field) for field in table_fields]
    keys = [column_name(f) for f in table_fields if "PRIMARYKEY" in _tags(f) or _autoincrement(release, name, f)]
    if not (dialect == "sqlite" and release.sqlite_inline_pk and keys == ["id"]):
        parts.append("PRIMARY KEY (" + ",".join(f"{quote}{key}{quote}" for key in keys) + ")")
    after = []
    for index, (unique, cols) in _indexes(release, name).items():
        listed = ",".join(f"{quote}{col}{quote}" for col in cols)
        if dialect == "mysql":
            parts.append(f"{'UNIQUE ' if unique else ''}INDEX {quote}{index}{quote} ({listed})")
        else:
            after.append(f"CREATE {'UNIQUE ' if unique else ''}INDEX {quote}{index}{quote} ON {quote}{name}{quote}"
                         f" ({listed})")
    if release.unique_constraint:
        parts += [f"CONSTRAINT {quote}uni_{name}_{column_name(f)}{quote} UNIQUE ({quote}{column_name(f)}{quote})"
                  for f in table_fields if "UNIQUE" in _tags(f)]
    return [f"CREATE TABLE {quote}{name}{quote} ({','.join(parts)})", *after]


def upgrade_sql(dialect: str, old: Release, new: Release, name: str) -> list[str]:
    """What One API's start on `new` does to a table `old` made: GORM AutoMigrate adds the missing columns and
    indexes and alters changed column types and nullability (ALTER on PostgreSQL and MySQL; SQLite keeps its
    columns); before it, One API drops `idx_channels_key` on MySQL only (model/main.go)."""
    quote = _quote(dialect)
    statements = []
    if dialect == "mysql" and name == "channels" and "idx_channels_key" in _indexes(old, name):
        statements.append("DROP INDEX idx_channels_key ON channels")
    before = {column_name(f): f for f in fields(old, name)}
    for field in fields(new, name):
        col = column_name(field)
        if col not in before:
            statements.append(f"ALTER TABLE {quote}{name}{quote} ADD {_column_sql(dialect, new, name, field)}")
            continue
        old_type, new_type = (_data_type(dialect, r, name, f) for r, f in ((old, before[col]), (new, field)))
        old_null, new_null = ("NOT NULL" in _tags(f) for f in (before[col], field))
        if dialect == "sqlite" or (old_type == new_type and old_null == new_null):
            continue
        if dialect == "mysql":
            statements.append(f"ALTER TABLE {name} MODIFY {_column_sql(dialect, new, name, field)}")
        else:
            statements.append(f'ALTER TABLE "{name}" ALTER COLUMN "{col}" TYPE {new_type}')
            statements.append(f'ALTER TABLE "{name}" ALTER COLUMN "{col}" {"SET" if new_null else "DROP"} NOT NULL')
    made = _indexes(old, name)
    for index, (unique, cols) in _indexes(new, name).items():
        if index not in made:
            listed = ",".join(f"{quote}{col}{quote}" for col in cols)
            statements.append(f"CREATE {'UNIQUE ' if unique else ''}INDEX {quote}{index}{quote} ON {quote}{name}"
                              f"{quote} ({listed})")
    return statements


def dialect_of(conn: AsyncConnection) -> str:
    name = conn.dialect.name
    return "mysql" if name in {"mysql", "mariadb"} else name


async def create_one_api_database(conn: AsyncConnection, release: str = NEWEST, *, upgraded_to: str | None = None,
                                  only: tuple[str, ...] | None = None) -> None:
    """Create One API's tables (or `only` some) as `release` made them, optionally upgraded in place by a later
    One API, and fill them with `ROWS` (leaving out the columns the database does not have)."""
    dialect, made = dialect_of(conn), RELEASES[release]
    final = RELEASES[upgraded_to] if upgraded_to else made
    for name in MODELS:
        if only is not None and name not in only:
            continue
        for statement in create_table_sql(dialect, made, name):
            await conn.execute(text(statement))
        if upgraded_to:
            for statement in upgrade_sql(dialect, made, final, name):
                await conn.execute(text(statement))
        present = set(columns(final, name))
        rows = [{k: v for k, v in row.items() if k in present} for row in ROWS[name]]
        target = table(name, *(column(key) for key in rows[0]))
        await conn.execute(insert(target), rows)
    if dialect == "postgresql":
        # Explicit ids leave PostgreSQL's sequences behind, so move them on as GORM's own inserts would have.
        for name in ("users", "tokens", "channels", "logs", "redemptions"):
            if only is None or name in only:
                await conn.execute(text(f"SELECT setval('{name}_id_seq', (SELECT MAX(id) FROM {name}))"))


def missing_columns(release: str) -> dict[str, set[str]]:
    """Columns of the newest One API that a database of `release` lacks."""
    old, new = RELEASES[release], RELEASES[NEWEST]
    return {name: set(columns(new, name)) - set(columns(old, name)) for name in MODELS}
