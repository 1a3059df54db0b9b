"""One API's rules for switching a channel off or on after a test (controller/channel-test.go, monitor/manage.go)."""

from __future__ import annotations

from tollway.errors import UpstreamError

# Error types, codes and message fragments that mean the key or the account is unusable, not a passing glitch.
_TYPES = frozenset({"insufficient_quota", "authentication_error", "permission_error", "forbidden"})
_CODES = frozenset({"invalid_api_key", "account_deactivated"})
_FRAGMENTS = (
    "your access was terminated", "violation of our policies", "your credit balance is too low",
    "organization has been disabled", "credit", "balance", "permission denied",
    "organization has been restricted", "api key not valid", "api key expired", "已欠费",
)


def should_disable(error: UpstreamError | None) -> bool:
    """True when an upstream error says the channel cannot work until someone fixes it (One API's list)."""
    if error is None:
        return False
    if error.status_code == 401 or error.error_type in _TYPES or (error.code or "") in _CODES:
        return True
    message = error.message.lower()
    return any(fragment in message for fragment in _FRAGMENTS)


def too_slow(took: float, threshold: float) -> bool:
    """A response slower than ChannelDisableThreshold seconds (0 switches the rule off, as in One API)."""
    return threshold > 0 and took > threshold
