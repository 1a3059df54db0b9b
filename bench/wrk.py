"""The same load with wrk instead of the harness's generator (`--load wrk`), to show the generator is not the limit.

wrk keeps `connections` keep-alive connections busy from one thread with a Lua script that sets the body and
headers. It reports throughput and a few latency percentiles, not each answer, so the result carries those figures;
it cannot see the end of a stream (`[DONE]`) either, and calls still in flight when it stops are answered and billed
without being counted, so the billing check allows up to `connections` such calls per run.
"""

from __future__ import annotations

import re
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench.load import Job, LoadResult

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def available() -> bool:
    return shutil.which("wrk") is not None


@dataclass
class WrkResult(LoadResult):
    """A load run measured by wrk: its count and percentiles instead of each answer's latency."""

    completed: int = 0
    percentiles: dict[float, float] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        return self.completed

    def percentile(self, fraction: float) -> float:
        if not self.percentiles:
            return 0.0
        return self.percentiles[min(self.percentiles, key=lambda known: abs(known - fraction))]


def _script(job: Job) -> str:
    body = job.body.decode().replace("\\", "\\\\").replace('"', '\\"')
    lines = ['wrk.method = "POST"', f'wrk.body = "{body}"', 'wrk.headers["Content-Type"] = "application/json"']
    if job.authorization:
        lines.append(f'wrk.headers["Authorization"] = "{job.authorization}"')
    return "\n".join(lines) + "\n"


def _run(job: Job, seconds: float, script: Path) -> tuple[int, int, dict[float, float], str]:
    """One wrk run: (completed 2xx answers, failures, latency percentiles in seconds, wrk's output)."""
    url = f"http://{job.host}:{job.port}{job.path}"
    out = subprocess.run(["wrk", "-t1", f"-c{job.connections}", f"-d{max(1, round(seconds))}s", "--latency",
                          "-s", str(script), url], capture_output=True, text=True, timeout=seconds + 60).stdout
    total = int(m.group(1)) if (m := re.search(r"(\d+) requests in", out)) else 0
    bad = int(n.group(1)) if (n := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failed = bad + (sum(int(g) for g in errors.groups()) if errors else 0)
    percentiles = {int(p) / 100: float(v) * _UNITS[u]
                   for p, v, u in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)}
    return total - bad, failed, percentiles, out


def run_wrk(job: Job, meters: Mapping[str, Callable[[], float]] | None = None) -> WrkResult:
    """Warm up for `job.warmup` seconds, then measure `job.duration` seconds with the servers' CPU metered."""
    meters = meters or {}
    result = WrkResult(seconds=job.duration)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(_script(job))
    script = Path(handle.name)
    try:
        if job.warmup:
            warm, failed, _, out = _run(job, job.warmup, script)
            result.answered += warm
            if failed:
                result.fail(f"wrk warm-up: {failed} failed requests\n{out}")
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        servers_start = {name: read() for name, read in meters.items()}
        started = time.perf_counter()
        completed, failed, result.percentiles, out = _run(job, job.duration, script)
        result.seconds = time.perf_counter() - started
        result.server_cpu = {name: read() - servers_start[name] for name, read in meters.items()}
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        result.client_cpu = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
        # wrk's own figure: its duration is the measured window, the process also starts and stops.
        result.completed = completed
        result.seconds = job.duration
        result.answered += completed
        if failed:
            result.fail(f"wrk: {failed} failed requests\n{out}")
    finally:
        script.unlink(missing_ok=True)
    return result
