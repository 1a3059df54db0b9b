"""One API's numbers, in one place: statuses, roles and log types as the database stores them.

They are `IntEnum`s, so they compare equal to the plain integers in the database, in JSON and in One API's UI,
and read as names in code and templates (`console/render.py` puts them in every template's context).
"""

from __future__ import annotations

from enum import IntEnum


class Role(IntEnum):
    """A user's role."""

    GUEST = 0
    COMMON = 1
    ADMIN = 10
    ROOT = 100


class UserStatus(IntEnum):
    ENABLED = 1
    DISABLED = 2
    DELETED = 3


class TokenStatus(IntEnum):
    ENABLED = 1
    DISABLED = 2
    EXPIRED = 3
    EXHAUSTED = 4


class ChannelStatus(IntEnum):
    UNKNOWN = 0
    ENABLED = 1
    DISABLED = 2  # by an operator
    AUTO_DISABLED = 3  # by Tollway: a fatal error or a failed test


class RedemptionStatus(IntEnum):
    ENABLED = 1
    DISABLED = 2
    USED = 3


class LogType(IntEnum):
    UNKNOWN = 0
    TOPUP = 1
    CONSUME = 2
    MANAGE = 3
    SYSTEM = 4
    TEST = 5
    ERROR = 6  # Tollway: a failed attempt (AI Proxy logs failed calls with their status code)


ENUMS = (Role, UserStatus, TokenStatus, ChannelStatus, RedemptionStatus, LogType)
