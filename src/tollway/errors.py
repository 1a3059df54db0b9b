"""The errors Tollway reports, each with its HTTP status and OpenAI error type.

    TollwayError                  500  base; anything unexpected
    ├── InvalidRequest            400  malformed JSON, wrong types, missing fields
    │   └── PayloadTooLarge       413  body over MAX_REQUEST_BODY_MB
    ├── AuthenticationFailed      401  missing, unknown, disabled or expired token / not signed in
    ├── PermissionDenied          403  model, subnet or channel not allowed; role too low
    │   └── InsufficientQuota     403  token or user quota cannot cover the request
    ├── NotFound                  404  unknown route or object
    ├── RequestTimeout            408  the request body stopped arriving
    ├── RateLimited               429  too many requests from this client
    ├── NotImplementedRoute       501  a One API route Tollway answers but does not implement
    ├── NoChannel                 503  no enabled channel serves this group and model
    ├── UpstreamError             any  the provider failed; status and body come from it
    └── WrongEncryptionKey        500  the sealing key does not fit the database: the start stops

Relay routes render these in OpenAI's shape; management routes in One API's envelope.
"""

from __future__ import annotations

import math
from typing import Any


class TollwayError(Exception):
    """Base of every error reported to a client."""

    status_code: int = 500
    error_type: str = "tollway_error"
    default_code: str | None = None

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.default_code
        self.param = param

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers the answer carries besides the body (Retry-After on a rate limit)."""
        return {}

    def openai_body(self, request_id: str = "") -> dict[str, Any]:
        """The error in OpenAI's `{"error": {...}}` shape, with the request id appended like One API."""
        message = f"{self.message} (request id: {request_id})" if request_id else self.message
        return {"error": {"message": message, "type": self.error_type, "param": self.param, "code": self.code}}


class InvalidRequest(TollwayError):
    status_code = 400
    error_type = "invalid_request_error"


class PayloadTooLarge(InvalidRequest):
    status_code = 413
    default_code = "request_too_large"


class AuthenticationFailed(TollwayError):
    status_code = 401
    error_type = "invalid_request_error"
    default_code = "invalid_api_key"


class PermissionDenied(TollwayError):
    status_code = 403
    error_type = "permission_error"


class InsufficientQuota(PermissionDenied):
    error_type = "insufficient_quota"
    default_code = "insufficient_user_quota"


class NotFound(TollwayError):
    status_code = 404
    error_type = "invalid_request_error"
    default_code = "not_found"


class RequestTimeout(TollwayError):
    status_code = 408
    error_type = "invalid_request_error"
    default_code = "request_timeout"


class RateLimited(TollwayError):
    status_code = 429
    error_type = "rate_limit_error"
    default_code = "rate_limited"

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None,
                 retry_after: float | None = None, error_type: str | None = None) -> None:
        super().__init__(message, code=code, param=param)
        self.retry_after = retry_after
        if error_type:
            self.error_type = error_type

    @property
    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(max(1, math.ceil(self.retry_after)))}


class NotImplementedRoute(TollwayError):
    status_code = 501
    error_type = "tollway_error"
    default_code = "api_not_implemented"


class NoChannel(TollwayError):
    status_code = 503
    error_type = "tollway_error"
    default_code = "model_not_available"


class QuotaUnavailable(TollwayError):
    """Quota leases cannot be taken or renewed because the database is out of reach (billing/ledger.py)."""

    status_code = 503
    error_type = "tollway_error"
    default_code = "quota_store_unavailable"


class UpstreamError(TollwayError):
    """The provider answered with an error or could not be reached."""

    error_type = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 502,
        error_type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message, code=code, param=param)
        self.status_code = status_code
        if error_type:
            self.error_type = error_type
        self.retryable = retryable


class WrongEncryptionKey(TollwayError):
    """The instance secret is not the one the database's upstream keys were sealed with; Tollway refuses to start."""

    default_code = "wrong_encryption_key"
