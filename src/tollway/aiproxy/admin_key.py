"""AI Proxy's ADMIN_KEY: one secret that is root on AI Proxy's admin routes and an unlimited relay key on /v1.

The presented value is read as AI Proxy reads it (`Bearer ` then `sk-` stripped) and compared in constant time.
The key itself is never logged or echoed; `repr` shows only whether one is set.
"""

from __future__ import annotations

import hmac


def presented(value: str) -> str:
    """The key in an `Authorization` header or `?key=` value, without AI Proxy's optional prefixes."""
    value = value.strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    return value.removeprefix("sk-")


class AdminKey:
    """The configured admin key (empty: not set, and then nothing matches)."""

    __slots__ = ("_key",)

    def __init__(self, key: str) -> None:
        self._key = key.removeprefix("sk-").encode()

    def __repr__(self) -> str:
        return f"AdminKey({'set' if self._key else 'not set'})"

    @property
    def is_set(self) -> bool:
        return bool(self._key)

    def matches(self, value: str) -> bool:
        """Whether an `Authorization` header or `?key=` value carries the admin key."""
        if not self._key or not value:
            return False
        return hmac.compare_digest(presented(value).encode(), self._key)
