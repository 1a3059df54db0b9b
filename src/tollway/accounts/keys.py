"""Random secrets handed to people: relay token keys, management access tokens, passwords."""

from __future__ import annotations

import secrets
import string
import uuid

_ALNUM = string.ascii_letters + string.digits


def token_key() -> str:
    """A 48-character relay key, shown to users as `sk-<key>` (One API's length and alphabet)."""
    return "".join(secrets.choice(_ALNUM) for _ in range(48))


def access_token() -> str:
    """A 32-hex-digit management access token."""
    return uuid.uuid4().hex


def password(length: int = 16) -> str:
    """A random password for the first root account or a reset."""
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def aff_code() -> str:
    """A 4-character invitation code."""
    return "".join(secrets.choice(_ALNUM) for _ in range(4))
