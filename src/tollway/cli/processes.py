"""The processes of `tollway serve`: how many workers, their logging, and the app factory each worker imports.

With more than one worker, uvicorn's supervisor binds the port once and starts that many processes on it (restarting
one that dies). Each worker is a whole Tollway: its own cache, journal and quota leases, exactly like a node of its
own, so workers and nodes share one database the same way (README: several workers and nodes).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tollway.settings import Settings

if TYPE_CHECKING:
    from tollway.app import Tollway

MOST_BY_DEFAULT = 8  # more workers on one node than this only when WORKERS asks for them
MEMORY_PER_WORKER = 384 << 20  # a worker uses about 220 MB (caches, token encodings, buffers), with room to grow


def default_workers() -> int:
    """One worker per CPU this process may use (affinity and a container's CPU quota), at most MOST_BY_DEFAULT and
    no more than the memory (a container's limit, else the machine's) gives MEMORY_PER_WORKER each."""
    count = min(_usable_cpus(), MOST_BY_DEFAULT)
    memory = _memory_bytes()
    if memory:
        count = min(count, max(1, memory // MEMORY_PER_WORKER))
    return max(1, count)


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _usable_cpus() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota, _, period = _read("/sys/fs/cgroup/cpu.max").partition(" ")  # cgroup v2: "200000 100000" or "max 100000"
    if not quota:  # cgroup v1
        quota, period = _read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), _read("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
    if quota.lstrip("-").isdigit() and period.isdigit() and int(quota) > 0 and int(period) > 0:
        cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    return max(1, cpus)


def _memory_bytes() -> int:
    known = []
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        value = _read(path)
        if value.isdigit() and int(value) < 1 << 60:  # v1 says "no limit" with a huge number, v2 with "max"
            known.append(int(value))
    with contextlib.suppress(ValueError, OSError, AttributeError):
        known.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    return min(known) if known else 0


def wait_for_port(host: str, port: int, patience_s: float) -> None:
    """Wait up to `patience_s` while another process holds the port, then let the server's own bind report it.

    Workers of a supervisor killed with SIGKILL keep the listening socket while they finish their calls and write
    their charges (see `_follow_parent`); a supervisor restarted at once would otherwise exit with "address already
    in use" and leave the node down."""
    deadline = time.monotonic() + patience_s
    told = False
    while True:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            try:
                probe.bind((host, port))
                return
            except OSError:
                if time.monotonic() >= deadline:
                    return
        if not told:
            logging.getLogger("tollway").warning(
                "port %s is in use (workers of a stopped Tollway finishing their calls?); waiting up to %.0f s",
                port, patience_s)
            told = True
        time.sleep(0.2)


def configure_logging(settings: Settings) -> None:
    """Tollway's log format and levels, in the supervisor and in every worker."""
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Alembic announces every plugin it loads; only its warnings matter to an operator.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # httpx logs every upstream request at INFO; that belongs in DEBUG output only.
    for name in ("httpx", "httpx2"):
        logging.getLogger(name).setLevel(logging.DEBUG if settings.debug else logging.WARNING)


def worker_app() -> Tollway:
    """The application of one worker process (uvicorn imports this factory in each worker it starts)."""
    from tollway.app import create_app

    settings = Settings.from_env()
    configure_logging(settings)
    _follow_parent()
    return create_app(settings)


def _follow_parent() -> None:
    """End this worker gracefully (SIGTERM: calls finish, charges are written, leases given back) if the supervisor
    dies without stopping it, as when it is killed with SIGKILL: an orphaned worker would serve on forever."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        logging.getLogger("tollway").warning("the supervisor process is gone; this worker stops")
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="tollway-parent-watch", daemon=True).start()
