"""How stored rows look in management answers: One API's field names, live quota, no secrets."""

from __future__ import annotations

from typing import Any

from tollway.crypto import KeyBox, mask
from tollway.storage.cache import Cache, Row
from tollway.storage.channel_secrets import masked_config

_USER_FIELDS = ("id", "username", "display_name", "role", "status", "email", "github_id", "wechat_id", "lark_id",
                "oidc_id", "quota", "used_quota", "request_count", "group", "aff_code", "inviter_id")
_TOKEN_FIELDS = ("id", "user_id", "key", "status", "name", "created_time", "accessed_time", "expired_time",
                 "remain_quota", "unlimited_quota", "used_quota", "models", "subnet", "rpm_limit", "tpm_limit")
_CHANNEL_FIELDS = ("id", "type", "status", "name", "weight", "created_time", "test_time", "response_time",
                   "base_url", "other", "balance", "balance_updated_time", "models", "group", "used_quota",
                   "model_mapping", "priority", "config", "system_prompt", "status_reason", "status_time")
_LOG_FIELDS = ("id", "user_id", "created_at", "type", "content", "username", "token_name", "model_name", "quota",
               "prompt_tokens", "completion_tokens", "request_id", "elapsed_time", "is_stream",
               "system_prompt_reset", "first_byte_time", "upstream_model", "inbound_api", "code", "retry_times", "ip",
               "endpoint", "cached_tokens")


def user_view(row: Row, cache: Cache) -> dict[str, Any]:
    """A user without password or access token, with quota as it stands (written or not: Balance.total_now)."""
    view = {name: row[name] for name in _USER_FIELDS}
    for name in ("display_name", "email", "github_id", "wechat_id", "lark_id", "oidc_id", "aff_code"):
        view[name] = view[name] or ""
    entry = cache.users.get(row["id"])
    if entry is not None:
        view["quota"] = entry.quota.left_now(row["quota"])
        view["used_quota"] = entry.used_quota.total_now(row["used_quota"])
        view["request_count"] = entry.request_count.total_now(row["request_count"])
    return view


def token_view(row: Row, cache: Cache) -> dict[str, Any]:
    """A token with its full key (only ever shown to its owner) and live quota."""
    view = {name: row[name] for name in _TOKEN_FIELDS}
    view["models"] = view["models"] or ""
    view["subnet"] = view["subnet"] or ""
    view["rpm_limit"] = view["rpm_limit"] or 0
    view["tpm_limit"] = view["tpm_limit"] or 0
    view["unlimited_quota"] = bool(view["unlimited_quota"])
    entry = cache.tokens_by_id.get(row["id"])
    if entry is not None:
        view["remain_quota"] = entry.remain.left_now(row["remain_quota"])
        view["used_quota"] = entry.used.total_now(row["used_quota"])
    return view


def channel_view(row: Row, cache: Cache, keybox: KeyBox) -> dict[str, Any]:
    """A channel with its key masked; the key itself never leaves Tollway."""
    view = {name: row[name] for name in _CHANNEL_FIELDS}
    for name in ("other", "models", "model_mapping", "config", "system_prompt", "base_url", "status_reason"):
        view[name] = view[name] or ""
    view["status_time"] = view["status_time"] or 0
    view["config"] = masked_config(row["config"], keybox)
    try:
        view["key"] = mask(keybox.open(row["key"] or ""))
    except ValueError:
        view["key"] = "(sealed with another ENCRYPTION_KEY)"
    entry = cache.channels.get(row["id"])
    if entry is not None:
        view["used_quota"] = entry.used.total_now(row["used_quota"])
    return view


def log_view(row: Row, *, with_id: bool = True) -> dict[str, Any]:
    """A log row; `channel` is One API's JSON name for channel_id."""
    view = {name: row[name] for name in _LOG_FIELDS}
    view["channel"] = row["channel_id"]
    view["is_stream"] = bool(view["is_stream"])
    view["system_prompt_reset"] = bool(view["system_prompt_reset"])
    view["first_byte_time"] = view["first_byte_time"] or 0
    view["upstream_model"] = view["upstream_model"] or ""
    view["inbound_api"] = view["inbound_api"] or ""  # the client's API; "" is OpenAI's own
    # Tollway (AI Proxy's call log fields): a consume log is a call that succeeded; NULL in logs written before.
    view["code"] = view["code"] or (200 if view["type"] == 2 else 0)
    for name in ("retry_times", "cached_tokens"):
        view[name] = view[name] or 0
    view["ip"] = view["ip"] or ""
    view["endpoint"] = view["endpoint"] or ""
    if not with_id:
        del view["id"]
    return view
