"""Fresh object ids in the style of each API (`msg_…`, `resp_…`, `fc_…`)."""

from __future__ import annotations

import uuid


def object_id(prefix: str) -> str:
    """A new id: the prefix, an underscore and 32 hex digits."""
    return f"{prefix}_{uuid.uuid4().hex}"
