"""One API's request ids: the time to the second and eight random digits."""

from __future__ import annotations

import random
import time


class RequestIds:
    """Makes request ids; formats the time once a second, since that costs more than the rest of an id.

    The eight digits count up from a random start each second: unique within a process for up to 10⁸
    calls a second, and unlikely to repeat across nodes; ids need to find a call in the logs, not to be secret.
    """

    def __init__(self) -> None:
        self._second = 0
        self._prefix = ""
        self._next = 0

    def __call__(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._second, self._prefix = now, time.strftime("%Y%m%d%H%M%S", time.localtime(now))
            self._next = random.randrange(10**8)
        self._next = (self._next + 1) % 10**8
        return f"{self._prefix}{self._next:08d}"

