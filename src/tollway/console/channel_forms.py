"""What the channel form knows: every channel type with its defaults, hints and config fields, groups and models."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from tollway.console import i18n
from tollway.json_objects import stored_object
from tollway.routing import channel_types, model_lists

if TYPE_CHECKING:
    from tollway.services import Services



def _(text: str) -> str:
    """Marks English text that is translated where it is shown (the catalog test finds it by this call)."""
    return text


# Config fields the form offers: name → (label, kind, hint). Kinds: text, secret (a password input kept when left
# empty on edit), json (a textarea, also kept when left empty on edit).
CONFIG_FIELDS: dict[str, tuple[str, str, str]] = {
    "region": (_("Region"), "text", ""),
    "ak": (_("Access key ID"), "text", ""),
    "sk": (_("Secret access key"), "secret", ""),
    "session_token": (_("Session token"), "secret", _("Only for temporary credentials.")),
    "user_id": (_("User ID"), "text", ""),
    "api_version": (_("API version"), "text", ""),
    "library_id": (_("Knowledge base ID"), "text", ""),
    "plugin": (_("Plugin"), "text", _("Sent as the X-DashScope-Plugin header.")),
    "vertex_ai_project_id": (_("Project ID"), "text", _("Your Google Cloud project.")),
    "vertex_ai_adc": (_("Service-account JSON"), "json",
                      _("The JSON key file of a service account that may call Vertex AI.")),
}

# What a config field means for one type, where it differs from the general label and hint.
TYPE_FIELDS: dict[tuple[int, str], tuple[str, str]] = {
    (3, "api_version"): (_("API version"), _("Azure's api-version, e.g. 2024-10-21.")),
    (18, "api_version"): (_("Spark API version"), _("e.g. v3.5; models whose name says the version use that one.")),
    (24, "api_version"): (_("API version"),
                          _("v1 or v1beta; empty means v1 (v1beta when the model or request needs it).")),
    (34, "api_version"): (_("API version"), _("v3 (the default) or v2 for Coze's legacy API.")),
    (33, "region"): (_("AWS region"), _("e.g. us-east-1.")),
    (23, "region"): (_("Region"), _("e.g. ap-guangzhou; empty uses Tencent's default.")),
    (42, "region"): (_("Region"), _("Empty means us-central1.")),
    (34, "user_id"): (_("User ID"), _("The user the bot talks to; empty uses the token's user.")),
    (37, "user_id"): (_("Account ID"), _("Your Cloudflare account ID.")),
    (21, "library_id"): (_("Knowledge base ID"), _("The AI Proxy library that answers questions.")),
}

# Base URL hints for types whose base URL is something other than an API root.
BASE_URL_HINTS: dict[int, str] = {
    3: _("Your Azure OpenAI endpoint, e.g. https://example.openai.azure.com"),
    8: _("The address of an OpenAI-compatible API (without /v1)."),
    50: _("The API base of an OpenAI-compatible service, e.g. https://host/v1"),
    30: _("Where Ollama listens."),
}


def _type_view(kind: channel_types.ChannelType, _: i18n.Translator) -> dict[str, Any]:
    fields = []
    for name in kind.config:
        label, _kind, hint = CONFIG_FIELDS.get(name, (name, "text", ""))
        label, hint = TYPE_FIELDS.get((kind.id, name), (label, hint))
        fields.append({"name": name, "label": _(label), "hint": _(hint) if hint else ""})
    if kind.needs_base_url:
        base_hint = _("Required for this type.")
    elif kind.base_url:
        base_hint = _("Empty means the default: {url}", url=kind.base_url)
    else:
        base_hint = ""
    if kind.id in BASE_URL_HINTS:
        base_hint = f"{_(BASE_URL_HINTS[kind.id])} {base_hint}".strip()
    return {"id": kind.id, "label": _(kind.label), "base_url": kind.base_url,
            "needs_base_url": kind.needs_base_url, "base_hint": base_hint, "key_help": _(kind.key_help),
            "config": fields, "models": model_lists.default_models(kind.id), "json_key": kind.json_key}


def _pretty(text: str) -> str:
    """Model mapping as indented JSON when it parses, else as stored."""
    value = stored_object(text)
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() if value else text


def context(services: Services, channel: dict[str, Any] | None, language: str) -> dict[str, Any]:
    """The form's context: the channel being edited (None when adding) and everything the form offers."""
    translate = i18n.Translator(language)
    types = [_type_view(kind, translate) for kind in channel_types.TYPES.values() if kind.id != 0]
    if channel and int(channel["type"]) not in channel_types.TYPES:  # a type this version does not know: kept
        types.append(_type_view(channel_types.get(int(channel["type"])), translate))
    groups = list(services.cache.options.group_ratio)
    chosen = (channel or {}).get("group", "default").split(",")
    groups += [g for g in chosen if g and g not in groups]
    config = stored_object((channel or {}).get("config", ""))
    # Secret config values are never put in an input; the page keeps them unless a new value is typed.
    visible_config = {k: v for k, v in config.items() if CONFIG_FIELDS.get(k, ("", "text", ""))[1] == "text"}
    kept = {k: bool(v) for k, v in config.items() if k in CONFIG_FIELDS and CONFIG_FIELDS[k][1] != "text"}
    form = {
        "id": channel["id"] if channel else 0,
        "type": int(channel["type"]) if channel else 1,
        "name": channel["name"] if channel else "",
        "groups": [g for g in chosen if g] or ["default"],
        "base_url": channel["base_url"] if channel else "",
        "key": channel["key"] if channel else "",
        "models": [m for m in (channel["models"] if channel else "").split(",") if m],
        "model_mapping": _pretty(channel["model_mapping"]) if channel else "",
        "system_prompt": channel["system_prompt"] if channel else "",
        "priority": channel["priority"] if channel else 0,
        "weight": channel["weight"] if channel else 0,
        "config": visible_config,
        "kept": kept,
    }
    return {
        "channel": form,
        "editing": channel is not None,
        "types": types,
        "groups": groups,
        "config_fields": CONFIG_FIELDS,
        "all_models": model_lists.all_models(),
        # The API replaces `config` as a whole, so the page script sends the stored config back with the fields
        # the form changed; secret values travel in this JSON only, never in a visible input.
        "stored_config": config,
    }
