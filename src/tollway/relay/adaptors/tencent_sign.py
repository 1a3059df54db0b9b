"""TencentCloud API 3.0 request signing (TC3-HMAC-SHA256), as the official signature doc describes it."""

from __future__ import annotations

import hashlib
import hmac
import time

ALGORITHM = "TC3-HMAC-SHA256"


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def canonical_request(*, method: str, headers: dict[str, str], payload: bytes, path: str = "/",
                      query: str = "") -> tuple[str, str]:
    """(canonical request, signed headers) over the given headers; names and values are lowercased and sorted."""
    names = sorted(name.lower() for name in headers)
    values = {name.lower(): value.strip().lower() for name, value in headers.items()}
    canonical_headers = "".join(f"{name}:{values[name]}\n" for name in names)
    signed = ";".join(names)
    hashed = hashlib.sha256(payload).hexdigest()
    return f"{method}\n{path}\n{query}\n{canonical_headers}\n{signed}\n{hashed}", signed


def signature(secret_key: str, *, service: str, timestamp: int, canonical: str) -> tuple[str, str]:
    """(hex signature, credential scope) of a canonical request: derived keys date → service → tc3_request."""
    date = time.strftime("%Y-%m-%d", time.gmtime(timestamp))
    scope = f"{date}/{service}/tc3_request"
    to_sign = f"{ALGORITHM}\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest(), scope


def authorization(secret_id: str, secret_key: str, *, service: str, timestamp: int, headers: dict[str, str],
                  payload: bytes, method: str = "POST") -> str:
    """The `Authorization` header value for a request with these signed headers and this exact body."""
    canonical, signed = canonical_request(method=method, headers=headers, payload=payload)
    sig, scope = signature(secret_key, service=service, timestamp=timestamp, canonical=canonical)
    return f"{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={signed}, Signature={sig}"
