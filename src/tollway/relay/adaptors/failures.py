"""Upstream failures as UpstreamErrors (error bodies of any shape, provider codes, calls a channel cannot serve),
and reading answer bodies as JSON, where a body that does not parse is itself a failure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from tollway.errors import UpstreamError

# Statuses worth another channel: the channel (its key, quota or health) failed, not the request.
RETRYABLE = frozenset({401, 402, 403, 404, 408, 409, 425, 429})

# The OpenAI error type a client expects with each status.
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


def error_type(status: int) -> str:
    """The OpenAI error type of a status."""
    return ERROR_TYPES.get(status, "server_error" if status >= 500 else "upstream_error")


def provider_error(message: str, status: int, code: str, *, kind: str = "") -> UpstreamError:
    """An UpstreamError for a provider's own error code; `kind` overrides the type the status implies."""
    status = status if status >= 400 else 500
    return UpstreamError(message or f"upstream error {code}", status_code=status, error_type=kind or error_type(status),
                         code=code, retryable=status >= 500 or status in RETRYABLE)


def table_error(status: int, message: str, code: str, table: Mapping[int, tuple[int, str, bool]]) -> UpstreamError:
    """An UpstreamError from a provider's table of statuses → (status, type, retry); other statuses pass through."""
    if status in table:
        mapped, kind, retryable = table[status]
        return UpstreamError(message, status_code=mapped, error_type=kind, code=code, retryable=retryable)
    mapped = status if status >= 400 else 502  # a success status here is an answer that could not be read
    return UpstreamError(message, status_code=mapped, error_type="upstream_error", code=code,
                         retryable=mapped >= 500 or mapped in RETRYABLE)


def unsupported(message: str, *, param: str | None = None) -> UpstreamError:
    """A call (a route or a feature, named by `param`) this channel cannot serve; another channel may."""
    return UpstreamError(message, status_code=400, code="unsupported_by_channel", param=param, retryable=True)


def not_served(label: str, path: str) -> UpstreamError:
    """A route this channel type does not serve."""
    return unsupported(f"channel type {label} does not serve {path}")


def misconfigured(message: str) -> UpstreamError:
    """A channel whose settings cannot work; another channel may."""
    return UpstreamError(message, status_code=500, code="channel_misconfigured", retryable=True)


def bad_answer(message: str) -> UpstreamError:
    """An upstream answer that cannot be read: a retryable 502."""
    return UpstreamError(message, status_code=502, code="bad_upstream_response", retryable=True)


def json_of(body: bytes | str) -> Any:
    """The JSON value of a body, or None when it is empty or not JSON (for reading error bodies)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def load_json(body: bytes, source: str = "upstream") -> Any:
    """The JSON value of an answer; raises a retryable 502 when it is not JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_answer(f"{source} returned a body that is not JSON") from exc


def json_object(body: bytes, source: str = "upstream", other: str = "JSON that is not an object") -> dict[str, Any]:
    """The JSON object of an answer; raises a retryable 502 (saying `source` returned `other`) for anything else."""
    data = load_json(body, source)
    if not isinstance(data, dict):
        raise bad_answer(f"{source} returned {other}")
    return data


def obj(value: Any) -> dict[str, Any]:
    """The value when it is a JSON object, else an empty one (providers omit or null fields freely)."""
    return value if isinstance(value, dict) else {}


def body_text(body: bytes) -> str:
    """The start of a body as text, for an error message."""
    return body.decode("utf-8", "replace").strip()[:300]


def _message(data: Any) -> tuple[str, str | None, str | None]:
    """(message, type, code) from the shapes One API recognises."""
    if not isinstance(data, dict):
        return "", None, None
    error = data.get("error")
    if isinstance(error, dict):
        message = error.get("message") or error.get("msg") or ""
        code = error.get("code")
        return str(message), error.get("type") or error.get("status"), None if code is None else str(code)
    if isinstance(error, str) and error:
        return error, None, None
    for name in ("message", "msg", "err", "error_msg", "errorMsg"):
        value = data.get(name)
        if isinstance(value, str) and value:
            code = data.get("code", data.get("error_code"))
            return value, None, None if code is None else str(code)
    header = data.get("header")
    if isinstance(header, dict) and header.get("message"):
        return str(header["message"]), None, str(header.get("code", ""))
    response = data.get("response") or data.get("Response")
    if isinstance(response, dict):
        inner = response.get("error") or response.get("Error")
        if isinstance(inner, dict) and (inner.get("message") or inner.get("Message")):
            return str(inner.get("message") or inner.get("Message")), None, str(inner.get("code") or inner.get("Code"))
    return "", None, None


def upstream_error(status: int, body: bytes) -> UpstreamError:
    """An UpstreamError carrying the provider's status and message."""
    message, kind, code = _message(json_of(body))
    if not message:
        text = body_text(body)
        message = f"upstream returned status {status}" + (f": {text}" if text else "")
    status = status if status >= 400 else 500
    return UpstreamError(
        message,
        status_code=status,
        error_type=kind or "upstream_error",
        code=code or f"upstream_{status}",
        retryable=status >= 500 or status in RETRYABLE,
    )


def body_error(data: Any) -> str | None:
    """The message of an error object inside an otherwise successful (HTTP 200) answer."""
    if isinstance(data, dict) and data.get("error") not in (None, "", {}):
        message, _, _ = _message(data)
        return message or "upstream returned an error"
    return None
