"""Channel administration: list, search, read, add (one per key line), update, delete."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollway.admin import names
from tollway.admin.envelope import MAX_PAGE_SIZE, Principal, api, field, ok, page, path_id, read_json
from tollway.admin.views import channel_view
from tollway.constants import ChannelStatus, Role
from tollway.crypto import mask
from tollway.errors import InvalidRequest
from tollway.routing import channel_types, model_lists
from tollway.storage import writes
from tollway.storage.cache import split_list
from tollway.storage.channel_queries import (
    ChannelFilter,
    channel_by_id,
    channel_page,
    disabled_channel_ids,
    newest_channels,
)
from tollway.storage.channel_secrets import merged_config
from tollway.storage.test_results import forget_test_results

if TYPE_CHECKING:
    from tollway.services import Services



def _json_text(data: dict[str, Any], name: str) -> str:
    """A JSON-object field given as an object or as its text; stored as text like One API."""
    value = data.get(name)
    if value in (None, ""):
        return ""
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    if isinstance(value, str):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest(f"{name} must be a JSON object: {exc}") from exc
        if isinstance(parsed, dict):
            return value
    raise InvalidRequest(f"{name} must be a JSON object")


def _names(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if isinstance(value, list):
        value = ",".join(str(item) for item in value)
    if value is not None and not isinstance(value, str):
        raise InvalidRequest(f"{name} must be a comma-separated string")
    return ",".join(split_list(names.name(value, name) if value else value))


def channel_fields(data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """Validated channel fields from a request body (all of them when creating, the given ones otherwise)."""
    values: dict[str, Any] = {}

    def given(name: str) -> bool:
        return creating or name in data

    if given("type"):
        kind = field(data, "type", int, default=1)
        if kind not in channel_types.TYPES or kind == 0:
            raise InvalidRequest(f"unknown channel type {kind}")
        values["type"] = kind
    if given("name"):
        values["name"] = names.name(field(data, "name", str, default=""), "channel name").strip()
    if given("base_url"):
        base_url = field(data, "base_url", str, default="").strip().rstrip("/")
        if base_url and not base_url.startswith(("http://", "https://")):
            raise InvalidRequest("base_url must start with http:// or https://")
        values["base_url"] = base_url
    if given("other"):
        values["other"] = field(data, "other", str, default="")
    if given("models"):
        values["models"] = _names(data, "models")
    if given("group"):
        values["group"] = _names(data, "group") or "default"
    for name in ("model_mapping", "config"):
        if given(name):
            values[name] = _json_text(data, name)
    if given("system_prompt"):
        values["system_prompt"] = field(data, "system_prompt", str, default="")
    for name in ("priority", "weight"):
        if given(name):
            number = field(data, name, int, default=0)
            if name == "weight" and number < 0:
                raise InvalidRequest("weight must not be negative")
            values[name] = number
    if "status" in data:
        status = field(data, "status", int)
        if status not in (ChannelStatus.ENABLED, ChannelStatus.DISABLED, ChannelStatus.AUTO_DISABLED):
            raise InvalidRequest("status must be 1 (enabled), 2 (disabled) or 3 (auto-disabled)")
        values["status"] = status
    return values


def split_keys(key: str, kind: int) -> list[str]:
    """The keys of one channel each (a key per line), but a JSON key whole."""
    if channel_types.get(kind).json_key or key.lstrip().startswith("{"):
        return [key.strip()]
    return [line.strip() for line in key.splitlines() if line.strip()]


@api(Role.ADMIN)
async def list_channels(request: Request, services: Services, principal: Principal) -> Response:
    offset, limit = page(request)
    rows = await channel_page(services.engine, offset, limit)
    return ok([channel_view(row, services.cache, services.keybox) for row in rows])


@api(Role.ADMIN)
async def search_channels(request: Request, services: Services, principal: Principal) -> Response:
    keyword = request.query_params.get("keyword", "").strip()
    found = ChannelFilter(keyword=keyword)
    rows = await newest_channels(services.engine, found, MAX_PAGE_SIZE)
    return ok([channel_view(row, services.cache, services.keybox) for row in rows])


@api(Role.ADMIN)
async def all_models(request: Request, services: Services, principal: Principal) -> Response:
    """Every built-in model as an OpenAI model object (One API's ListAllModels)."""
    return ok([{"id": m, "object": "model", "created": 1626777600, "owned_by": model_lists.owner(m)}
               for m in model_lists.all_models()])


async def _load(services: Services, channel_id: int) -> dict[str, Any]:
    row = await channel_by_id(services.engine, channel_id)
    if row is None:
        raise InvalidRequest(f"channel {channel_id} not found")
    return dict(row)


@api(Role.ADMIN)
async def get_channel(request: Request, services: Services, principal: Principal) -> Response:
    """One channel for an edit form, without `key` as One API answers it: a form that never holds the key cannot
    send a masked one back, and an update without a key keeps the stored one."""
    view = channel_view(await _load(services, path_id(request)), services.cache, services.keybox)
    del view["key"]
    return ok(view)


@api(Role.ADMIN)
async def add_channels(request: Request, services: Services, principal: Principal) -> Response:
    """Add a channel per line of `key` (batch add); answers the new channels with masked keys."""
    data = await read_json(request, services)
    values = channel_fields(data, creating=True)
    key = field(data, "key", str, default="")
    lines = split_keys(key, values["type"])
    if not lines and channel_types.get(values["type"]).credentials_in_config:
        lines = [""]  # the credentials are in the config (AWS ak/sk, Vertex's service account)
    if not lines:
        raise InvalidRequest("key is required")
    if channel_types.get(values["type"]).needs_base_url and not values["base_url"]:
        raise InvalidRequest(f"channel type {channel_types.get(values['type']).label} needs a base_url")
    if not values["models"]:
        values["models"] = ",".join(model_lists.default_models(values["type"]))
    values.setdefault("status", int(ChannelStatus.ENABLED))
    if values.get("config"):
        values["config"] = merged_config(values["config"], None, services.keybox)
    now = int(time.time())
    rows = [{**values, "key": services.keybox.seal(line), "created_time": now, "used_quota": 0, "balance": 0}
            for line in lines]
    created = await writes.insert_channels(services.keeper, rows)
    return ok([channel_view(row, services.cache, services.keybox) for row in created])


@api(Role.ADMIN)
async def update_channel(request: Request, services: Services, principal: Principal) -> Response:
    """Update the given fields; a key left empty or sent back masked keeps the stored key."""
    data = await read_json(request, services)
    channel_id = field(data, "id", int)
    if not channel_id:
        raise InvalidRequest("id is required")
    row = await _load(services, channel_id)
    values = channel_fields(data, creating=False)
    key = field(data, "key", str, default="").strip()
    if key and key != mask(services.keybox.open(row["key"] or "")):
        values["key"] = services.keybox.seal(key)
    if "config" in values:
        values["config"] = merged_config(values["config"], row["config"], services.keybox)
    kind = values.get("type", row["type"])
    if channel_types.get(kind).needs_base_url and not values.get("base_url", row["base_url"]):
        raise InvalidRequest(f"channel type {channel_types.get(kind).label} needs a base_url")
    if values.get("status", row["status"]) != row["status"]:
        # The operator decided: an automatic reason no longer explains the status.
        values.update(status_reason=None, status_time=int(time.time()))
        services.guards.health.clear(channel_id)
    updated = await writes.update_channel(services.keeper, channel_id, values)
    return ok(channel_view(updated, services.cache, services.keybox))


@api(Role.ADMIN)
async def delete_channel(request: Request, services: Services, principal: Principal) -> Response:
    row = await _load(services, path_id(request))
    await writes.delete_channels(services.keeper, [row["id"]])
    await forget_test_results(services.engine, [row["id"]])
    return ok()


@api(Role.ADMIN)
async def delete_disabled(request: Request, services: Services, principal: Principal) -> Response:
    """Delete every manually or automatically disabled channel; answers how many."""
    ids = await disabled_channel_ids(services.engine)
    deleted = await writes.delete_channels(services.keeper, ids)
    await forget_test_results(services.engine, ids)
    return ok(deleted)


def routes() -> list[Route]:
    return [
        Route("/channel/", list_channels, methods=["GET"]),
        Route("/channel/search", search_channels, methods=["GET"]),
        Route("/channel/models", all_models, methods=["GET"]),
        Route("/channel/disabled", delete_disabled, methods=["DELETE"]),
        Route("/channel/{id:int}", get_channel, methods=["GET"]),
        Route("/channel/{id:int}", delete_channel, methods=["DELETE"]),
        Route("/channel/", add_channels, methods=["POST"]),
        Route("/channel/", update_channel, methods=["PUT"]),
    ]
