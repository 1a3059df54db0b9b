"""Removing the channel's key and every credential Tollway sent from upstream messages before anyone sees them.

Providers and proxies echo what they were sent ("Incorrect API key provided: Bearer sk-…"); such text reaches
clients, logs and channel test results only after `redact`. The secrets of a call are the channel key (and each
long part of a compound `a|b|c` key or a JSON key's secret fields), the credential headers and secret-looking
URL query and form parameters of the requests sent, and any exchanged token. Each is also removed in its URL-
and JSON-escaped spellings. Fragments shorter than the secret itself are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import TypeVar
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

import orjson

from tollway.errors import TollwayError
from tollway.relay.adaptors.base import UpstreamRequest

E = TypeVar("E", bound=TollwayError)

REDACTED = "[redacted]"
MIN_SECRET = 6  # shorter strings are not credentials, and replacing them would garble messages
_MIN_PART = 16  # parts of compound keys and signed headers; shorter ones are regions, app ids, scheme names
_SECRET_NAME = re.compile(r"key|token|secret|auth|sign|sig$|credential|password|session", re.IGNORECASE)
_JSON_SECRET_NAME = re.compile(r"key|token|secret|password", re.IGNORECASE)


def _key_parts(key: str) -> Iterable[str]:
    yield key
    if "|" in key:
        yield from (part for part in key.split("|") if len(part) >= _MIN_PART)
    if key.lstrip().startswith("{"):
        try:
            data = orjson.loads(key)
        except orjson.JSONDecodeError:
            return
        if isinstance(data, dict):
            yield from (value for name, value in data.items()
                        if isinstance(value, str) and _JSON_SECRET_NAME.search(name))


def _header_parts(value: str) -> Iterable[str]:
    yield value
    scheme, _, rest = value.partition(" ")
    if rest and scheme.isalpha():
        yield rest.strip()  # "Bearer sk-…", "Basic …", "Token …"
    yield from (part for part in re.split(r"[\s,=]+", value) if len(part) >= _MIN_PART)


def _request_parts(request: UpstreamRequest) -> Iterable[str]:
    for name, value in request.headers.items():
        if _SECRET_NAME.search(name):
            yield from _header_parts(value)
    url = urlsplit(request.url)
    if url.password:
        yield url.password
    params = parse_qsl(url.query, keep_blank_values=False)
    if request.content[:1] not in (b"{", b"[") and b"=" in request.content:
        params += parse_qsl(request.content.decode(errors="replace"), keep_blank_values=False)
    yield from (value for name, value in params if _SECRET_NAME.search(name))


def secrets_of(key: str, *sent: UpstreamRequest | str | None) -> frozenset[str]:
    """The secrets of one call: the channel key, and the credentials in the requests (or tokens) it sent."""
    found: list[str] = list(_key_parts(key)) if key else []
    for item in sent:
        if isinstance(item, UpstreamRequest):
            found.extend(_request_parts(item))
        elif item:
            found.append(item)
    spellings: set[str] = set()
    for secret in found:
        secret = secret.strip()
        if len(secret) < MIN_SECRET:
            continue
        escaped = orjson.dumps(secret).decode()[1:-1]
        spellings.update((secret, quote(secret, safe=""), quote(secret), quote_plus(secret), escaped,
                          escaped.replace("/", "\\/")))
    return frozenset(spellings)


def redact(text: str, secrets: Collection[str]) -> str:
    """The text with every secret (longest first, so a key's parts never leave half of it) replaced."""
    folded = text.casefold()
    present = sorted((s for s in secrets if s.casefold() in folded), key=len, reverse=True)
    if not present:
        return text
    # Without regard to case: percent-escapes come in either case, and a key differing only in case is the key.
    return re.sub("|".join(re.escape(s) for s in present), REDACTED, text, flags=re.IGNORECASE)


def redact_error(error: E, key: str, *sent: UpstreamRequest | str | None) -> E:
    """The same error with the call's secrets removed from its message (changed in place, and returned)."""
    error.message = redact(error.message, secrets_of(key, *sent))
    error.args = (error.message,)
    return error
