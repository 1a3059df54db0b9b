"""One API's tables (users, channels, tokens, abilities, logs, options, redemptions) plus Tollway's additions.

Names, types and defaults follow One API's GORM models so that a One API database can be used as is;
Tollway's additions are marked. Migrations under `storage/migrations` create exactly this schema.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.mysql import MEDIUMTEXT

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(191), unique=True, index=True),
    Column("password", String(255), nullable=False),
    Column("display_name", String(191), index=True, default=""),
    Column("role", Integer, default=1),
    Column("status", Integer, default=1),
    Column("email", String(191), index=True, default=""),
    Column("github_id", String(191), index=True, default=""),
    Column("wechat_id", String(191), index=True, default=""),
    Column("lark_id", String(191), index=True, default=""),
    Column("oidc_id", String(191), index=True, default=""),
    Column("access_token", String(32), unique=True, nullable=True),
    Column("quota", BigInteger, default=0),
    Column("used_quota", BigInteger, default=0),
    Column("request_count", Integer, default=0),
    Column("group", String(32), default="default"),
    Column("aff_code", String(32), unique=True, nullable=True),
    Column("inviter_id", Integer, index=True, default=0),
    # Tollway: the part of `quota` leased to running processes, to spend from memory (storage/leases.py).
    Column("leased", BigInteger, nullable=False, default=0, server_default="0"),
    # SQLite would otherwise reuse a deleted row's id, attaching old logs and results to a new row.
    sqlite_autoincrement=True,
)

channels = Table(
    "channels",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("type", Integer, default=0),
    # Tollway stores the key sealed (see tollway.crypto); One API stored it in plain text.
    Column("key", Text, nullable=False),
    Column("status", Integer, default=1),
    Column("name", String(191), index=True, default=""),
    Column("weight", Integer, default=0),
    Column("created_time", BigInteger, default=0),
    Column("test_time", BigInteger, default=0),
    Column("response_time", Integer, default=0),
    Column("base_url", String(255), default=""),
    Column("other", Text, nullable=True),
    Column("balance", Float, default=0),
    Column("balance_updated_time", BigInteger, default=0),
    Column("models", Text, nullable=True),
    Column("group", String(255), default="default"),
    Column("used_quota", BigInteger, default=0),
    Column("model_mapping", Text, nullable=True),
    Column("priority", BigInteger, default=0),
    Column("config", Text, nullable=True),
    Column("system_prompt", Text, nullable=True),
    # Tollway: why and when the status last changed on its own (auto-disabled, enabled again by a test).
    Column("status_reason", Text, nullable=True),
    Column("status_time", BigInteger, nullable=True),
    sqlite_autoincrement=True,
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, index=True),
    Column("key", String(48), unique=True),
    Column("status", Integer, default=1),
    Column("name", String(191), index=True, default=""),
    Column("created_time", BigInteger, default=0),
    Column("accessed_time", BigInteger, default=0),
    Column("expired_time", BigInteger, default=-1),
    Column("remain_quota", BigInteger, default=0),
    Column("unlimited_quota", Boolean, default=False),
    Column("used_quota", BigInteger, default=0),
    Column("models", Text, nullable=True),
    Column("subnet", String(255), default=""),
    # Tollway: requests and tokens per minute for this token; NULL or 0 leaves the group's default.
    Column("rpm_limit", Integer, nullable=True),
    Column("tpm_limit", BigInteger, nullable=True),
    # Tollway: the part of `remain_quota` leased to running processes (storage/leases.py).
    Column("leased", BigInteger, nullable=False, default=0, server_default="0"),
    sqlite_autoincrement=True,
)

abilities = Table(
    "abilities",
    metadata,
    Column("group", String(32), primary_key=True),
    Column("model", String(191), primary_key=True),
    Column("channel_id", Integer, primary_key=True, index=True),
    Column("enabled", Boolean, default=True),
    Column("priority", BigInteger, default=0, index=True),
)

logs = Table(
    "logs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, index=True),
    Column("created_at", BigInteger),
    Column("type", Integer),
    Column("content", Text, nullable=True),
    Column("username", String(191), default=""),
    Column("token_name", String(191), default="", index=True),
    Column("model_name", String(191), default="", index=True),
    Column("quota", BigInteger, default=0),
    Column("prompt_tokens", Integer, default=0),
    Column("completion_tokens", Integer, default=0),
    Column("channel_id", Integer, default=0, index=True),
    Column("request_id", String(64), default=""),
    Column("elapsed_time", BigInteger, default=0),
    Column("is_stream", Boolean, default=False),
    Column("system_prompt_reset", Boolean, default=False),
    # Tollway: milliseconds from the start of the call to the first byte from the upstream.
    Column("first_byte_time", BigInteger, default=0),
    # Tollway: the model sent upstream after the channel's model mapping (One API logged only this one; Tollway
    # keeps the requested model in model_name). NULL in logs written before Tollway recorded it.
    Column("upstream_model", String(191), nullable=True),
    # Tollway: the API the client spoke when it was not OpenAI's ("anthropic", "responses", "gemini"); "" or NULL
    # for OpenAI's own routes (NULL in logs written before Tollway recorded it, and in One API's).
    Column("inbound_api", String(32), nullable=True, default=""),
    Index("idx_created_at_type", "created_at", "type"),
    Index("index_username_model_name", "username", "model_name"),
    sqlite_autoincrement=True,
)

options = Table(
    "options",
    metadata,
    Column("key", String(191), primary_key=True),
    Column("value", Text, nullable=True),
)

redemptions = Table(
    "redemptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, default=0),
    Column("key", String(32), unique=True),
    Column("status", Integer, default=1),
    Column("name", String(191), index=True, default=""),
    Column("quota", BigInteger, default=100),
    Column("created_time", BigInteger, default=0),
    Column("redeemed_time", BigInteger, default=0),
    sqlite_autoincrement=True,
)

# -- accounts and security tables ----------------------------------------------------------------------------

# Tollway: signed-in sessions, so that logging out or changing a password really ends them on every node. The id is
# the SHA-256 of the session id carried in the signed cookie.
sessions = Table(
    "tollway_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", Integer, index=True, nullable=False),
    Column("created_at", BigInteger, default=0),
    Column("expires_at", BigInteger, default=0, index=True),
    Column("ip", String(64), default=""),
)

# Tollway: short-lived single-use secrets (email codes, reset tokens, OAuth states) shared by every node; only a
# SHA-256 digest of each secret is stored. `bound` ties a secret to a browser session or a user.
codes = Table(
    "tollway_codes",
    metadata,
    Column("purpose", String(32), primary_key=True),
    Column("subject", String(191), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("bound", String(191), default=""),
    Column("attempts", Integer, default=0),
    Column("expires_at", BigInteger, default=0, index=True),
)

# -- operations tables (channel tests, log roll-ups) ---------------------------------------------------------

# Tollway: who redeemed a code (One API's `user_id` is the admin who created it).
redemptions.append_column(Column("used_user_id", Integer, default=0))

# Tollway: the last test result of each model of each channel (AI Proxy's channel_tests; `took` in seconds).
channel_tests = Table(
    "channel_tests",
    metadata,
    Column("channel_id", Integer, primary_key=True),
    Column("model", String(191), primary_key=True),
    Column("actual_model", String(191), default=""),
    Column("channel_name", String(191), default=""),
    Column("channel_type", Integer, default=0),
    Column("success", Boolean, default=False),
    Column("code", Integer, default=0),
    Column("took", Float, default=0),
    Column("response", Text, nullable=True),
    Column("test_at", BigInteger, default=0, index=True),
)

# Tollway: consume logs summed per user, UTC day (unix seconds at 00:00) and model, kept in step with `logs` by the
# keeper's flush and by every log deletion, so dashboards never scan the log table. Lives beside `logs`.
log_rollups = Table(
    "log_rollups",
    metadata,
    Column("user_id", Integer, primary_key=True, autoincrement=False),
    Column("day", BigInteger, primary_key=True, autoincrement=False),
    Column("model_name", String(191), primary_key=True),
    Column("request_count", BigInteger, default=0),
    Column("quota", BigInteger, default=0),
    Column("prompt_tokens", BigInteger, default=0),
    Column("completion_tokens", BigInteger, default=0),
    Index("idx_log_rollups_day", "day"),
)

# Tollway: counters bumped with every change another node must pick up quickly (name "options").
markers = Table(
    "tollway_markers",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("version", BigInteger, default=0),
)

# Tollway: quota leases, one row per process (its journal id) and subject (`u` a user's quota, `t` a token's remain);
# `amount` is what the process may still spend from memory, `expires_at` (database clock, unix seconds) when any
# node may give it back if the process stops renewing it. The subject's `leased` column is the sum of its rows.
leases = Table(
    "tollway_leases",
    metadata,
    Column("owner", String(32), primary_key=True),
    Column("kind", String(1), primary_key=True),
    Column("subject", Integer, primary_key=True, autoincrement=False),
    Column("amount", BigInteger, nullable=False, default=0),
    Column("expires_at", BigInteger, nullable=False, default=0, index=True),
    Column("node", String(191), default=""),
)

# Tollway: what changed (a user, token, channel, the options, a lease recall), written in the transaction of the
# change and polled by every process (operations/changes.py), so no node waits for a full reload.
changes = Table(
    "tollway_changes",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("ref", String(64), nullable=False, default=""),
    Column("origin", String(32), nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False, default=0, index=True),
    sqlite_autoincrement=True,
)

# Tollway: small shared states of operations as JSON (the progress of a channel test run, visible to every worker).
state = Table(
    "tollway_state",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=True),
    Column("updated_at", BigInteger, nullable=False, default=0),
)

# Tollway: a check value of the key that seals upstream keys (crypto.KeyBox.check_value), written on the first
# start, so that a start with another key (a lost data/secret.key, a new working directory) stops at once.
key_checks = Table(
    "tollway_key_checks",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(64), nullable=False),
    Column("created_at", BigInteger, default=0),
)

# Indexes for the log filters, each answering "newest 10 with this value" without a sort: type (a rare type must not
# scan every consume log) and username (One API indexes it only behind model_name) everywhere; on PostgreSQL the
# other equality filters too, since its B-tree does not keep equal keys in id order as SQLite's and InnoDB's
# single-column indexes (which end with the row id) do.
LOG_INDEXES = [Index("idx_logs_type_id", logs.c.type, logs.c.id), Index("idx_logs_username_id", logs.c.username,
                                                                       logs.c.id)]
POSTGRES_LOG_INDEXES = [
    Index(f"idx_logs_{name}_id", logs.c[name], logs.c.id).ddl_if(dialect="postgresql")
    for name in ("user_id", "token_name", "model_name", "channel_id")
]

# -- call logs as AI Proxy keeps them (tollway/aiproxy, migration 0012) ---------------------------------------

# Tollway: the HTTP status of the call (200 for consume logs; the upstream's for error logs), which attempt of the
# call it was (0 the first), the client's address, the relay path, and the prompt tokens served from the provider's
# cache. NULL in logs written before.
for _name, _kind, _default in (("code", Integer, 0), ("retry_times", Integer, 0), ("ip", String(64), ""),
                               ("endpoint", String(64), ""), ("cached_tokens", Integer, 0)):
    logs.append_column(Column(_name, _kind, default=_default, nullable=True))
LOG_REQUEST_ID_INDEX = Index("idx_logs_request_id", logs.c.request_id)

# Tollway: request and response bodies of a call (AI Proxy's request_details), for failed calls always and for
# successful ones when SAVE_ALL_LOG_DETAIL is on; cut at LOG_DETAIL_*_BODY_MAX_SIZE, deleted after
# LOG_DETAIL_STORAGE_HOURS. Lives beside `logs`. MEDIUMTEXT on MySQL, whose TEXT holds 64 KB only.
_BODY = Text().with_variant(MEDIUMTEXT(), "mysql", "mariadb")
log_details = Table(
    "tollway_log_details",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("log_id", Integer, nullable=False, index=True),
    Column("created_at", BigInteger, nullable=False, index=True),
    Column("request_body", _BODY, nullable=True),
    Column("response_body", _BODY, nullable=True),
    Column("request_body_truncated", Boolean, default=False),
    Column("response_body_truncated", Boolean, default=False),
    sqlite_autoincrement=True,
)


def _call_sums(name: str, span: str, *extra: Column[int]) -> Table:
    """Consume and error logs summed per time span (unix seconds of its start), channel and requested model."""
    return Table(
        name,
        metadata,
        Column(span, BigInteger, primary_key=True, autoincrement=False),
        Column("channel_id", Integer, primary_key=True, autoincrement=False),
        Column("model", String(191), primary_key=True),
        *(Column(total, BigInteger, default=0) for total in CALL_SUMS),
        *extra,
    )


CALL_SUMS = ("request_count", "exception_count", "retry_count", "cache_hit_count", "input_tokens", "output_tokens",
             "cached_tokens", "total_time_ms", "total_ttfb_ms", "quota")
# Tollway: AI Proxy's summaries for `GET /api/dashboardv2/`, kept by the keeper's flush in the transaction that writes
# the logs (storage/call_sums.py). Minutes serve the minute view; quarter hours serve hours and days in any time zone
# (every zone's offset is a whole number of quarter hours) and carry each quarter's busiest minute.
call_minutes = _call_sums("tollway_call_minutes", "minute")
call_quarters = _call_sums("tollway_call_quarters", "quarter", Column("max_rpm", BigInteger, default=0),
                           Column("max_tpm", BigInteger, default=0))
