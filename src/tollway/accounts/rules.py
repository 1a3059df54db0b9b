"""What makes a username, display name or password acceptable."""

from __future__ import annotations

from tollway.errors import InvalidRequest

USERNAME_MAX = 32
DISPLAY_NAME_MAX = 32
PASSWORD_MIN = 8
PASSWORD_MAX = 128
# One API's default root password and the passwords tried first by anyone guessing.
_COMMON_PASSWORDS = frozenset({
    "123456", "1234567", "12345678", "123456789", "1234567890", "000000", "111111", "88888888", "666666",
    "password", "password1", "passw0rd", "admin", "admin123", "administrator", "root", "root123", "toor", "qwerty",
    "qwerty123", "abc123", "abcd1234", "iloveyou", "letmein", "changeme", "welcome", "oneapi", "one-api",
})


def username(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest("username is required")
    name = value.strip()
    # isprintable() refuses control characters (NUL, escapes) that would corrupt logs and confuse look-ups; checked
    # before strip() too, which would quietly drop trailing ones such as U+0085.
    if len(name) > USERNAME_MAX or any(ch.isspace() for ch in name) or not value.strip(" ").isprintable():
        raise InvalidRequest(f"username must be 1-{USERNAME_MAX} printable characters without spaces")
    if name.startswith("deleted_"):
        raise InvalidRequest("username may not start with deleted_")
    return name


def display_name(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > DISPLAY_NAME_MAX or not value.strip(" ").isprintable():
        raise InvalidRequest(f"display name must be a string of at most {DISPLAY_NAME_MAX} printable characters")
    return value.strip()


def password(value: object) -> str:
    if not isinstance(value, str) or not PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
        raise InvalidRequest(f"password must be {PASSWORD_MIN}-{PASSWORD_MAX} characters")
    return value


def weak_password(value: str, name: str) -> bool:
    """Whether a password (checked at sign-in, where it is at hand) is short, common, One API's default or the
    account's own name: such an account is warned until the password changes."""
    lowered = value.lower()
    return (len(value) < PASSWORD_MIN or lowered in _COMMON_PASSWORDS or lowered == name.lower()
            or len(set(value)) <= 2)
