"""Process settings read from the environment; the only module that reads `os.environ`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


def _read_dotenv(path: Path) -> dict[str, str]:
    """Parse a `.env` file (KEY=value lines) the way One API's godotenv autoload does."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key] = value
    return values


class _Env:
    """Typed reads over an environment mapping."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def text(self, name: str, default: str = "") -> str:
        value = self.env.get(name)
        return default if value is None or value == "" else value

    def integer(self, name: str, default: int) -> int:
        raw = self.env.get(name, "")
        try:
            return int(raw) if raw.strip() else default
        except ValueError as exc:
            raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from exc

    def number(self, name: str, default: float) -> float:
        raw = self.env.get(name, "")
        try:
            return float(raw) if raw.strip() else default
        except ValueError as exc:
            raise ValueError(f"environment variable {name} must be a number, got {raw!r}") from exc

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.text(name, default).strip().lower()
        if value not in choices:
            raise ValueError(f"environment variable {name} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self.env.get(name, "").strip().lower()
        if not raw:
            return default
        return raw in {"1", "true", "yes", "on"}


_MIB = 1024 * 1024

# The most of a request or response body a call log keeps (bytes): what a TEXT column holds on MySQL, with room for
# the marker of a cut.
MAX_KEPT_BODY = 60_000


def _body_limit(value: int) -> int:
    """AI Proxy's body size limits: negative keeps nothing, 0 no limit (here: the most a column holds)."""
    if value < 0:
        return -1
    return MAX_KEPT_BODY if value == 0 else min(value, MAX_KEPT_BODY)


@dataclass(frozen=True)
class Settings:
    """Everything Tollway takes from its environment, with One API's names and defaults."""

    host: str = "0.0.0.0"
    port: int = 3000
    data_dir: Path = Path("data")
    sqlite_path: Path = Path("data/tollway.db")
    sqlite_busy_timeout_ms: int = 3000
    sql_dsn: str = ""
    log_sql_dsn: str = ""
    # Database connections of the whole node (its workers share them); see storage/database.py pool_limits.
    sql_max_open_conns: int = 10
    sql_max_idle_conns: int = 4
    sql_max_lifetime_s: int = 60
    node_type: str = "master"
    # Worker processes of `tollway serve` (0: pick from the machine, cli/workers.py) and how long a quota lease of a
    # process that stops renewing it (killed) keeps its quota from other processes (storage/leases.py).
    workers: int = 1
    lease_ttl_s: int = 60
    session_secret: str = ""
    encryption_key: str = ""
    sync_frequency_s: int = 600
    batch_update_interval_s: float = 5.0
    relay_timeout_s: float = 0.0
    relay_proxy: str = ""
    upstream_client: str = "http1"
    user_content_proxy: str = ""
    user_content_timeout_s: float = 30.0
    user_content_allow_private: bool = False
    max_request_body_bytes: int = 32 * _MIB
    request_body_timeout_s: float = 30.0
    shutdown_timeout_s: float = 15.0
    enforce_include_usage: bool = False
    initial_root_token: str = ""
    initial_root_access_token: str = ""
    initial_root_password: str = ""
    debug: bool = False
    debug_sql: bool = False
    log_level: str = "info"
    # Provider specifics (One API's names).
    gemini_version: str = "v1"
    gemini_safety_setting: str = "BLOCK_NONE"
    # Operations: Redis, rate limits, channel tests, log retention.
    redis_conn_string: str = ""
    redis_password: str = ""
    redis_master_name: str = ""
    global_api_rate_limit: int = 480
    global_web_rate_limit: int = 240
    critical_rate_limit: int = 20
    channel_test_frequency_min: int = 0
    channel_update_frequency_min: int = 0
    # Bearer secret of GET /metrics (Tollway); the option MetricsToken is used when this is empty.
    metrics_token: str = ""
    # Set by `tollway serve` for its workers: where they keep their metrics for each other (metrics/meters.py).
    metrics_dir: str = ""
    polling_interval_s: float = 0.0
    test_prompt: str = "Output only your specific model name with no additional text."
    log_retention_days: int = 0
    frontend_base_url: str = ""
    # AI Proxy's variables, for FastGPT's AI Proxy mode (tollway/aiproxy): the admin key, RETRY_TIMES over the
    # RetryTimes option (-1: unset), BILLING_ENABLED, and how request/response bodies of calls are kept.
    admin_key: str = ""
    retry_times: int = -1
    billing_enabled: bool = True
    disable_model_config: bool = True
    save_all_log_detail: bool = False
    log_detail_storage_hours: int = 72
    log_detail_request_body_max: int = 8 * 1024
    log_detail_response_body_max: int = 8 * 1024
    clean_log_batch_size: int = 1000
    # Sign-in providers' endpoints (real ones by default; tests point them at local fakes).
    github_oauth_url: str = "https://github.com"
    github_api_url: str = "https://api.github.com"
    lark_oauth_url: str = "https://open.feishu.cn"
    lark_passport_url: str = "https://passport.feishu.cn"
    turnstile_verify_url: str = "https://challenges.cloudflare.com/turnstile/v0/siteverify"
    ignored: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_slave(self) -> bool:
        """Slave nodes share a master's database and never run migrations (One API's NODE_TYPE)."""
        return self.node_type.lower() == "slave"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")) -> Settings:
        """Build settings from `environ` (default `os.environ`) layered over a `.env` file."""
        merged: dict[str, str] = _read_dotenv(dotenv) if dotenv is not None else {}
        merged.update(os.environ if environ is None else environ)
        env = _Env(merged)
        d = cls()  # the defaults live on the fields above, and only there
        sqlite_path = Path(env.text("SQLITE_PATH", str(d.sqlite_path)))
        # Memory caching and batched writes are always on in Tollway; the One API switches are accepted
        # and reported so that an operator copying an old .env sees they are not needed.
        ignored = tuple(
            name for name in ("MEMORY_CACHE_ENABLED", "BATCH_UPDATE_ENABLED") if name in merged
        )
        return cls(
            host=env.text("HOST", d.host),
            port=env.integer("PORT", d.port),
            data_dir=Path(env.text("TOLLWAY_DATA_DIR", str(sqlite_path.parent or Path(".")))),
            sqlite_path=sqlite_path,
            sqlite_busy_timeout_ms=env.integer("SQLITE_BUSY_TIMEOUT", d.sqlite_busy_timeout_ms),
            sql_dsn=env.text("SQL_DSN"),
            log_sql_dsn=env.text("LOG_SQL_DSN"),
            sql_max_open_conns=max(1, env.integer("SQL_MAX_OPEN_CONNS", d.sql_max_open_conns)),
            sql_max_idle_conns=max(1, env.integer("SQL_MAX_IDLE_CONNS", d.sql_max_idle_conns)),
            sql_max_lifetime_s=env.integer("SQL_MAX_LIFETIME", d.sql_max_lifetime_s),
            node_type=env.text("NODE_TYPE", d.node_type),
            # Unset, `tollway serve` picks a number from the machine (cli/processes.py); the field's 1 is for
            # settings built in code, which run one process.
            workers=max(0, env.integer("WORKERS", 0)),
            lease_ttl_s=max(2, env.integer("LEASE_TTL", d.lease_ttl_s)),
            session_secret=env.text("SESSION_SECRET"),
            encryption_key=env.text("ENCRYPTION_KEY"),
            sync_frequency_s=max(1, env.integer("SYNC_FREQUENCY", d.sync_frequency_s)),
            batch_update_interval_s=max(0.05, env.number("BATCH_UPDATE_INTERVAL", d.batch_update_interval_s)),
            relay_timeout_s=max(0.0, env.number("RELAY_TIMEOUT", d.relay_timeout_s)),
            relay_proxy=env.text("RELAY_PROXY"),
            upstream_client=env.choice("UPSTREAM_CLIENT", ("http1", "aiohttp"), d.upstream_client),
            user_content_proxy=env.text("USER_CONTENT_REQUEST_PROXY"),
            user_content_timeout_s=max(1.0, env.number("USER_CONTENT_REQUEST_TIMEOUT", d.user_content_timeout_s)),
            user_content_allow_private=env.flag("USER_CONTENT_ALLOW_PRIVATE", d.user_content_allow_private),
            max_request_body_bytes=max(1, env.integer("MAX_REQUEST_BODY_MB", d.max_request_body_bytes // _MIB)) * _MIB,
            request_body_timeout_s=max(1.0, env.number("REQUEST_BODY_TIMEOUT", d.request_body_timeout_s)),
            shutdown_timeout_s=max(1.0, env.number("SHUTDOWN_TIMEOUT", d.shutdown_timeout_s)),
            enforce_include_usage=env.flag("ENFORCE_INCLUDE_USAGE", d.enforce_include_usage),
            initial_root_token=env.text("INITIAL_ROOT_TOKEN"),
            initial_root_access_token=env.text("INITIAL_ROOT_ACCESS_TOKEN"),
            initial_root_password=env.text("INITIAL_ROOT_PASSWORD"),
            debug=env.flag("DEBUG", d.debug),
            debug_sql=env.flag("DEBUG_SQL", d.debug_sql),
            log_level=env.text("LOG_LEVEL", "debug" if env.flag("DEBUG", d.debug) else d.log_level).lower(),
            gemini_version=env.text("GEMINI_VERSION", d.gemini_version),
            gemini_safety_setting=env.text("GEMINI_SAFETY_SETTING", d.gemini_safety_setting),
            redis_conn_string=env.text("REDIS_CONN_STRING"),
            redis_password=env.text("REDIS_PASSWORD"),
            redis_master_name=env.text("REDIS_MASTER_NAME"),
            global_api_rate_limit=max(0, env.integer("GLOBAL_API_RATE_LIMIT", d.global_api_rate_limit)),
            global_web_rate_limit=max(0, env.integer("GLOBAL_WEB_RATE_LIMIT", d.global_web_rate_limit)),
            critical_rate_limit=max(0, env.integer("CRITICAL_RATE_LIMIT", d.critical_rate_limit)),
            channel_test_frequency_min=max(0, env.integer("CHANNEL_TEST_FREQUENCY", d.channel_test_frequency_min)),
            channel_update_frequency_min=max(0, env.integer("CHANNEL_UPDATE_FREQUENCY",
                                                            d.channel_update_frequency_min)),
            metrics_token=env.text("METRICS_TOKEN").strip(),
            metrics_dir=env.text("PROMETHEUS_MULTIPROC_DIR"),
            polling_interval_s=max(0.0, env.number("POLLING_INTERVAL", d.polling_interval_s)),
            test_prompt=env.text("TEST_PROMPT", d.test_prompt),
            log_retention_days=max(0, env.integer("LOG_RETENTION_DAYS", d.log_retention_days)),
            frontend_base_url=env.text("FRONTEND_BASE_URL"),
            # Taken as given: a key with spaces around it would never match what FastGPT sends.
            admin_key=env.text("ADMIN_KEY").strip(),
            retry_times=max(-1, env.integer("RETRY_TIMES", d.retry_times)),
            billing_enabled=env.flag("BILLING_ENABLED", d.billing_enabled),
            disable_model_config=env.flag("DISABLE_MODEL_CONFIG", d.disable_model_config),
            save_all_log_detail=env.flag("SAVE_ALL_LOG_DETAIL", d.save_all_log_detail),
            log_detail_storage_hours=env.integer("LOG_DETAIL_STORAGE_HOURS", d.log_detail_storage_hours),
            log_detail_request_body_max=_body_limit(
                env.integer("LOG_DETAIL_REQUEST_BODY_MAX_SIZE", d.log_detail_request_body_max)),
            log_detail_response_body_max=_body_limit(
                env.integer("LOG_DETAIL_RESPONSE_BODY_MAX_SIZE", d.log_detail_response_body_max)),
            clean_log_batch_size=min(100_000, max(1, env.integer("CLEAN_LOG_BATCH_SIZE", d.clean_log_batch_size))),
            github_oauth_url=env.text("GITHUB_OAUTH_URL", d.github_oauth_url).rstrip("/"),
            github_api_url=env.text("GITHUB_API_URL", d.github_api_url).rstrip("/"),
            lark_oauth_url=env.text("LARK_OAUTH_URL", d.lark_oauth_url).rstrip("/"),
            lark_passport_url=env.text("LARK_PASSPORT_URL", d.lark_passport_url).rstrip("/"),
            turnstile_verify_url=env.text("TURNSTILE_VERIFY_URL", d.turnstile_verify_url),
            ignored=ignored,
        )
