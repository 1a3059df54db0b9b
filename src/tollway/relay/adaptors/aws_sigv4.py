"""AWS Signature Version 4 for request headers; pure: the caller passes the time."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    session_token: str = ""


def amz_date(now: float) -> str:
    """The `X-Amz-Date` form of a Unix time: 20150830T123600Z."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """The key derived from the secret for one day, region and service."""
    key = _hmac(("AWS4" + secret_key).encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def canonical_uri(path: str) -> str:
    # Every service but S3 signs the path as sent, URI-encoded once more (so `:` is `%3A`, `%2F` is `%252F`).
    return quote(path or "/", safe="/~")


def canonical_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(pairs))


def host_of(url: str) -> str:
    """The Host header an HTTP client sends for this URL (the port only when it is not the scheme's default)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = 443 if parts.scheme == "https" else 80
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


def canonical_request(method: str, url: str, headers: dict[str, str], payload_hash: str) -> tuple[str, str]:
    """(canonical request, signed header names) for the headers that will be sent."""
    parts = urlsplit(url)
    values: dict[str, str] = {}
    for name, value in headers.items():
        values[name.lower()] = " ".join(value.split())
    names = sorted(values)
    lines = [method.upper(), canonical_uri(parts.path), canonical_query(parts.query),
             "".join(f"{name}:{values[name]}\n" for name in names), ";".join(names), payload_hash]
    return "\n".join(lines), ";".join(names)


def sign(method: str, url: str, headers: dict[str, str], body: bytes, credentials: Credentials, *,
         region: str, service: str, now: float) -> dict[str, str]:
    """The headers to send: those given, plus Host, X-Amz-Date, the session token if any, and Authorization."""
    stamp = amz_date(now)
    signed = {"Host": host_of(url), **headers, "X-Amz-Date": stamp}
    if credentials.session_token:
        signed["X-Amz-Security-Token"] = credentials.session_token
    request, names = canonical_request(method, url, signed, hashlib.sha256(body).hexdigest())
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join([ALGORITHM, stamp, scope, hashlib.sha256(request.encode()).hexdigest()])
    signature = hmac.new(signing_key(credentials.secret_key, stamp[:8], region, service), to_sign.encode(),
                         hashlib.sha256).hexdigest()
    signed["Authorization"] = (f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
                               f"SignedHeaders={names}, Signature={signature}")
    return signed
