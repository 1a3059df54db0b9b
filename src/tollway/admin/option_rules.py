"""What a well-formed option value looks like, beyond its type (options.parse): addresses, hosts, lists, names.

Applied when root sets an option (admin/options.py), not when stored values load, so a One API database
with an odd value keeps working; each check answers the value to store (trimmed, normalised) or says
what is wrong with it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from tollway.admin.names import has_control
from tollway.errors import InvalidRequest

THEMES = ("default", "berry", "air")  # One API's themes (web/THEMES)
MAX_TEXT_BYTES = 65535  # a TEXT column on MySQL
MAX_GROUP_NAME = 32  # users.group is varchar(32)
MAX_MODEL_NAME = 191
_DOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$")
_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})$")
_ADDRESS = re.compile(r"^[^@\s<>\"(),;:]+@[^@\s<>\"(),;:]+$")


def _url(key: str, value: str, *, images: bool = False) -> str:
    text = value.strip()
    if not text:
        return ""
    if images and text.startswith("data:image/"):
        return text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in text):
        raise ValueError("must be an http:// or https:// address")
    if len(text) > 2048:
        raise ValueError("is longer than 2048 characters")
    return text


def _base_url(key: str, value: str) -> str:
    """An address other paths are appended to: no trailing slash."""
    return _url(key, value).rstrip("/")


def _smtp_server(key: str, value: str) -> str:
    text = value.strip()
    if not text:
        return ""
    try:
        ipaddress.ip_address(text.strip("[]"))
        return text
    except ValueError:
        pass
    if not _HOST.match(text):
        raise ValueError("must be a host name or an IP address (no scheme, path or port; the port goes in SMTPPort)")
    return text


def _smtp_from(key: str, value: str) -> str:
    text = value.strip()
    if text and not _ADDRESS.match(text):
        raise ValueError("must be an email address such as noreply@example.com")
    return text


def _domains(key: str, value: str) -> str:
    names: dict[str, None] = {}
    for part in value.split(","):
        name = part.strip().lower().removeprefix("@")
        if not name:
            continue
        if not _DOMAIN.match(name):
            raise ValueError(f"{part.strip()!r} is not a domain name")
        names.setdefault(name, None)
    return ",".join(names)


def _theme(key: str, value: str) -> str:
    text = value.strip()
    if text not in THEMES:
        raise ValueError(f"must be one of {', '.join(THEMES)}")
    return text


_TEXT_RULES: dict[str, Callable[[str, str], str]] = {
    "ServerAddress": _base_url,
    "WeChatServerAddress": _base_url,
    "MessagePusherAddress": _url,
    "OidcWellKnown": _url,
    "OidcAuthorizationEndpoint": _url,
    "OidcTokenEndpoint": _url,
    "OidcUserinfoEndpoint": _url,
    "TopUpLink": _url,
    "ChatLink": _url,
    "WeChatAccountQRCodeImageURL": lambda key, value: _url(key, value, images=True),
    "Logo": lambda key, value: _url(key, value, images=True),
    "SMTPServer": _smtp_server,
    "SMTPFrom": _smtp_from,
    "EmailDomainWhitelist": _domains,
    "Theme": _theme,
}


def _ratio_names(key: str, table: dict[str, float]) -> None:
    for name in table:
        if not name.strip():
            raise ValueError("has an empty name")
        if has_control(name):
            raise ValueError(f"name {name!r} contains control characters")
        if key in ("GroupRatio", "GroupRateLimit"):
            if len(name) > MAX_GROUP_NAME or "," in name or name != name.strip():
                raise ValueError(f"group {name!r} must be 1-{MAX_GROUP_NAME} characters without commas or "
                                 "surrounding spaces")
        elif len(name) > MAX_MODEL_NAME:
            raise ValueError(f"model name {name[:40]!r}… is longer than {MAX_MODEL_NAME} characters")


def check(key: str, value: Any) -> Any:
    """The value to store for `key` (already parsed by options.parse), or InvalidRequest naming the option."""
    try:
        if isinstance(value, str):
            if len(value.encode()) > MAX_TEXT_BYTES:
                raise ValueError(f"is longer than {MAX_TEXT_BYTES} bytes")
            rule = _TEXT_RULES.get(key)
            return rule(key, value) if rule else value
        if isinstance(value, dict):
            _ratio_names(key, value)
    except ValueError as exc:
        raise InvalidRequest(f"option {key} {exc}") from exc
    return value
