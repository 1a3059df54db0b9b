"""Search keywords of the management lists: a keyword that is an id, and a LIKE pattern for a prefix."""

from __future__ import annotations

INT64_MAX = 2**63 - 1  # every integer column is at most a signed 64-bit BIGINT


def keyword_number(keyword: str) -> int | None:
    """A search keyword that is a plain decimal number in BIGINT range (an id or a log type), else None."""
    # str.isdigit() is also true for digits like "²" that int() refuses, so check for ASCII digits only; the
    # length check keeps int() within Python's limit on digits (and BIGINT has at most 19).
    if keyword.isascii() and keyword.isdigit() and len(keyword) <= 19 and int(keyword) <= INT64_MAX:
        return int(keyword)
    return None


def like_prefix(keyword: str) -> str:
    """A LIKE pattern (escape character `\\`) matching text that starts with `keyword`, its wildcards literal."""
    return keyword.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"
