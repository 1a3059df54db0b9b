"""AI Proxy's channel routes as FastGPT calls them: list all, type metas, create, partial update, status, delete.

Channels are stored as One API's (type numbers, comma lists, JSON text); these routes speak AI Proxy's JSON: its
type numbers (aiproxy/types.py), `models` as a list, `model_mapping` as an object, base URLs with their version
path, times in milliseconds, and the key in full (the admin key is root, and FastGPT edits the key it lists).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from tollway.admin import channels as one_api
from tollway.admin.envelope import field, ok, path_id, read_json
from tollway.aiproxy import types
from tollway.constants import ChannelStatus
from tollway.errors import InvalidRequest, NotFound
from tollway.routing import channel_types
from tollway.storage import writes
from tollway.storage.cache import Row, split_list
from tollway.storage.channel_queries import all_channels, channel_by_id
from tollway.storage.channel_secrets import merged_config
from tollway.storage.test_results import forget_test_results

if TYPE_CHECKING:
    from tollway.services import Services

STATUSES = (ChannelStatus.ENABLED, ChannelStatus.DISABLED, ChannelStatus.AUTO_DISABLED)


def _key_of(row: Row, services: Services) -> str:
    """The key as AI Proxy shows it: in full, Azure's with its API version (`key|api-version`)."""
    try:
        key = services.keybox.open(row["key"] or "")
    except ValueError:
        return ""  # sealed with another ENCRYPTION_KEY: sent back empty, an update keeps it
    if row["type"] == types.AZURE:
        version = (services.cache.channels[row["id"]].config.get("api_version")
                   if row["id"] in services.cache.channels else "")
        return f"{key}|{version}" if version else key
    return key


def _mapping(text: str | None) -> dict[str, Any]:
    try:
        value = orjson.loads(text) if text else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def channel_json(row: Row, services: Services) -> dict[str, Any]:
    """A channel in AI Proxy's shape (model.Channel with times in ms); never null where FastGPT reads a value."""
    entry = services.cache.channels.get(row["id"])
    used = entry.used.total_now(row["used_quota"]) if entry is not None else int(row["used_quota"] or 0)
    return {
        "id": row["id"], "type": types.to_aiproxy(int(row["type"] or 0)), "name": row["name"] or "",
        "key": _key_of(row, services), "base_url": types.base_url_out(int(row["type"] or 0), row["base_url"] or ""),
        "proxy_url": "", "models": split_list(row["models"]), "model_mapping": _mapping(row["model_mapping"]),
        "priority": int(row["priority"] or 0), "status": int(row["status"] or 0),
        "balance": float(row["balance"] or 0), "used_amount": used / services.cache.options.quota_per_unit,
        "request_count": 0, "retry_count": 0, "sets": split_list(row["group"]) or ["default"],
        "created_at": int(row["created_time"] or 0) * 1000,
        "balance_updated_at": int(row["balance_updated_time"] or 0) * 1000, "last_test_error_at": 0,
        "enabled_auto_balance_check": False, "balance_threshold": 0, "skip_tls_verify": False,
        "enabled_no_permission_ban": False, "warn_error_rate": 0, "max_error_rate": 0,
    }


async def list_all(request: Request, services: Services) -> Response:
    """Every channel, oldest first (AI Proxy ignores the paging parameters FastGPT sends)."""
    return ok([channel_json(row, services) for row in await all_channels(services.engine)])


async def type_metas(request: Request, services: Services) -> Response:
    return ok(types.metas(services.relay.adaptors.supported()))


def _one_api_type(data: dict[str, Any], current: int | None) -> int | None:
    """The stored type an AI Proxy `type` stands for; None when the body leaves it out or zero (keep it)."""
    number = field(data, "type", int, default=0)
    if not number:
        return None
    found = types.from_aiproxy(number, current)
    if found is None:
        raise InvalidRequest(f"invalid channel type: {number} (see GET /api/channels/type_metas)", param="type")
    return found


def _translate(data: dict[str, Any], kind: int) -> dict[str, Any]:
    """AI Proxy's body as One API's channel form (for admin/channels' checks): the given fields only."""
    form: dict[str, Any] = {"type": kind}
    if data.get("name"):
        form["name"] = data["name"]
    if "base_url" in data:
        form["base_url"] = types.base_url_in(kind, field(data, "base_url", str, default=""))
    if "models" in data:
        models = data["models"]
        if models is not None and (not isinstance(models, list) or not all(isinstance(m, str) for m in models)):
            raise InvalidRequest("'models' must be an array of model names", param="models")
        form["models"] = ",".join(models or [])
    if "model_mapping" in data:
        mapping = data["model_mapping"]
        if mapping is not None and (not isinstance(mapping, dict)
                                    or not all(isinstance(v, str) for v in mapping.values())):
            raise InvalidRequest("'model_mapping' must be an object of model name: upstream model name",
                                 param="model_mapping")
        form["model_mapping"] = mapping or ""
    if data.get("priority") is not None:
        form["priority"] = data["priority"]
    if data.get("sets") is not None:
        sets = data["sets"]
        if not isinstance(sets, list) or not all(isinstance(s, str) for s in sets):
            raise InvalidRequest("'sets' must be an array of group names", param="sets")
        form["group"] = ",".join(sets)
    return form


def _split_azure(kind: int, key: str) -> tuple[str, str]:
    """AI Proxy's Azure key `key|api-version` as (key, version)."""
    if kind == types.AZURE and "|" in key:
        key, _, version = key.partition("|")
        return key.strip(), version.strip()
    return key, ""


async def create(request: Request, services: Services) -> Response:
    """One channel per line of `key`, as AI Proxy's AddChannel; answers the new ids (AI Proxy answers no data)."""
    data = await read_json(request, services)
    kind = _one_api_type(data, None)
    if kind is None:
        raise InvalidRequest("'type' is required (an AI Proxy channel type number)", param="type")
    form = _translate(data, kind)
    form.setdefault("name", "")
    form.setdefault("group", "default")
    values = one_api.channel_fields(form, creating=True)
    status = field(data, "status", int, default=0) or int(ChannelStatus.ENABLED)
    if status not in STATUSES:
        raise InvalidRequest("'status' must be 1 (enabled) or 2 (disabled)", param="status")
    kind_info = channel_types.get(kind)
    if kind_info.needs_base_url and not values["base_url"]:
        raise InvalidRequest(f"channel type {kind_info.label} needs a base_url", param="base_url")
    keys = one_api.split_keys(field(data, "key", str, default=""), kind) or [""]
    now = int(time.time())
    rows = []
    for line in keys:
        key, version = _split_azure(kind, line)
        row = {**values, "status": status, "key": services.keybox.seal(key), "created_time": now, "used_quota": 0,
               "balance": 0}
        if version:
            row["config"] = merged_config(orjson.dumps({"api_version": version}).decode(), None, services.keybox)
        rows.append(row)
    created = await writes.insert_channels(services.keeper, rows)
    return ok({"id": created[0]["id"], "ids": [row["id"] for row in created]})


async def _row(services: Services, channel_id: int) -> Row:
    row = await channel_by_id(services.engine, channel_id)
    if row is None:
        raise NotFound("channel not found")
    return row


async def update(request: Request, services: Services) -> Response:
    """AI Proxy's UpdateChannel: the given fields; never `status`, `name` only when not empty, `type` only when not
    zero, and the key only when it is not the one listed (or empty)."""
    channel_id = path_id(request)
    data = await read_json(request, services)
    row = await _row(services, channel_id)
    kind = _one_api_type(data, int(row["type"] or 0))
    form = _translate(data, kind if kind is not None else int(row["type"] or 0))
    if kind is None:
        del form["type"]
    values = one_api.channel_fields(form, creating=False)
    key = field(data, "key", str, default="").strip()
    if key and key != _key_of(row, services):
        key, version = _split_azure(int(values.get("type", row["type"]) or 0), key)
        values["key"] = services.keybox.seal(key)
        if version:
            values["config"] = merged_config(orjson.dumps({"api_version": version}).decode(), row["config"],
                                             services.keybox)
    kind_info = channel_types.get(int(values.get("type", row["type"]) or 0))
    if kind_info.needs_base_url and not values.get("base_url", row["base_url"]):
        raise InvalidRequest(f"channel type {kind_info.label} needs a base_url", param="base_url")
    updated = await writes.update_channel(services.keeper, channel_id, values)
    services.guards.health.clear(channel_id)  # AI Proxy forgets the channel's errors on every update
    return ok(channel_json(updated, services))


async def set_status(request: Request, services: Services) -> Response:
    channel_id = path_id(request)
    data = await read_json(request, services)
    status = field(data, "status", int)
    if status not in STATUSES:
        raise InvalidRequest("'status' must be 1 (enabled) or 2 (disabled)", param="status")
    await _row(services, channel_id)
    await writes.update_channel(services.keeper, channel_id,
                                {"status": status, "status_reason": None, "status_time": int(time.time())})
    services.guards.health.clear(channel_id)
    return ok()


async def delete(request: Request, services: Services) -> Response:
    channel_id = path_id(request)
    await _row(services, channel_id)
    await writes.delete_channels(services.keeper, [channel_id])
    await forget_test_results(services.engine, [channel_id])
    return ok()
