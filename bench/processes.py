"""Server processes of a bench run: start one per target, wait until it answers, read its CPU time, stop it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """The bench could not set up or check a target; the message says what went wrong."""


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def machine_busy_seconds() -> float:
    """CPU seconds all cores of the machine have spent busy (not idle, not waiting for I/O) since boot."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return 0.0
    # cpu user nice system idle iowait irq softirq steal ...: everything but idle and iowait is busy.
    values = [int(value) for value in first[1:9]]
    return (sum(values) - values[3] - values[4]) / _TICKS


def _process_stats() -> dict[int, tuple[int, int]]:
    """Every process's parent pid and CPU ticks (user + system)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # Fields 4, 14 and 15 of stat (ppid, utime, stime) are at 1, 11 and 12 once "pid (comm)" is cut off.
        found[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    return found


@dataclass
class Server:
    """One server process we started, and where its output goes."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """User plus system CPU time so far of the process (all its threads) and the processes it started (a
        supervisor's workers), from /proc."""
        stats = _process_stats()
        family, total = {self.pid}, 0.0
        for pid in sorted(stats):  # parents have smaller pids than their children, short of pid wrap-around
            parent, ticks = stats[pid]
            if pid in family or parent in family:
                family.add(pid)
                total += ticks / _TICKS
        return total

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_ready(self, probe_path: str = "/", timeout: float = 60.0) -> None:
        """Poll until the server answers HTTP at all (any status), or raise with the tail of its log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"{self.name} exited with status {self.process.returncode}:\n{self.log_tail()}")
            try:
                httpx.get(self.url + probe_path, timeout=1.0)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise BenchError(f"{self.name} did not answer on port {self.port} within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self, timeout: float = 40.0) -> int | None:
        """SIGTERM (a graceful shutdown: Tollway flushes its queues), then SIGKILL if it hangs; returns the status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def launch(name: str, argv: list[str], log_dir: Path, *, env: dict[str, str] | None = None,
           unset: Sequence[str] = (), cwd: Path | None = None) -> Server:
    """Start a server process with its output in `log_dir/<name>.log`; `argv` must include its port.

    The process inherits this environment plus `env`, minus the variables named in `unset`.
    """
    port = int(argv[argv.index("--port") + 1])
    log_path = log_dir / f"{name}.log"
    merged = {key: value for key, value in os.environ.items() if key not in unset} | (env or {})
    # The bench modules import as `bench.*` from the repository root whatever the working directory is.
    merged["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), merged.get("PYTHONPATH", "")]))
    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=merged, cwd=cwd or REPO)
    return Server(name, process, port, log_path)


def python_module(module: str, *args: str) -> list[str]:
    """argv that runs `python -m module args` with this interpreter."""
    return [sys.executable, "-m", module, *args]
