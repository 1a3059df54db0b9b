"""One API's request ids: the time to the second and eight random digits."""

from __future__ import annotations

import random
import time


class RequestIds:
    """Makes request ids; formats the time once a second, since that costs more than the rest of an id."""

    def __init__(self) -> None:
        self._second = 0
        self._prefix = ""

    def __call__(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._second, self._prefix = now, time.strftime("%Y%m%d%H%M%S", time.localtime(now))
        # Ids only need to be unique enough to find a call in the logs, not unguessable.
        return f"{self._prefix}{random.getrandbits(26) % 10**8:08d}"

