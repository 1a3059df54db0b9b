"""The bench's results: per-target figures, Tollway's ratios to the floor and to the upstream, and the printed table."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.load import LoadResult

MACHINE = "machine"  # the meter of the whole machine's busy CPU time
TARGETS = ("direct", "floor", "floor-granian", "floor-starlette", "tollway", "tollway-aiohttp", "tollway-w2")
DEFAULT_TARGETS = ("direct", "floor", "tollway", "tollway-w2")
# Tollway targets: their worker processes and settings.
TOLLWAYS: dict[str, tuple[int, dict[str, str]]] = {
    "tollway": (1, {}), "tollway-aiohttp": (1, {"UPSTREAM_CLIENT": "aiohttp"}), "tollway-w2": (2, {})}
MODES = ("nonstream", "stream")
# The goals: Tollway's throughput as a fraction of the floor's, measured in one run, and its p99 at most
# P99_GOAL times the floor's.
GOALS = {"nonstream": 0.8, "stream": 0.7}
P99_GOAL = 2.0
_SERVED_BY = {target: target for target in TARGETS} | {"direct": "upstream"}
_DESCRIBE = {
    "direct": "the mock upstream, called directly",
    "floor": "the floor: raw ASGI on uvicorn (httptools, uvloop) + one aiohttp session, key check, one orjson parse",
    "floor-granian": "the floor's proxy served by granian instead of uvicorn (a server candidate)",
    "floor-starlette": "a pass-through proxy on Starlette + httpx2 (the previous floor, for comparison)",
    "tollway": "`tollway serve --workers 1`: real token, billing, logs, journal, quota leases, SQLite; its own client",
    "tollway-aiohttp": "the same with UPSTREAM_CLIENT=aiohttp (an upstream client candidate)",
    "tollway-w2": "`tollway serve --workers 2`: the same with two worker processes on one port (CPU: all of them)",
}


@dataclass
class Measurement:
    """One load run against one target in one mode."""

    round: int
    mode: str
    target: str
    result: LoadResult

    @property
    def proxy_us(self) -> float:
        """CPU microseconds the proxy process spent per answered request (0 for the direct target)."""
        if self.target == "direct" or not self.result.ok:
            return 0.0
        return self.result.server_cpu.get(_SERVED_BY[self.target], 0.0) / self.result.ok * 1e6

    @property
    def upstream_us(self) -> float:
        return self.result.server_cpu.get("upstream", 0.0) / self.result.ok * 1e6 if self.result.ok else 0.0

    def share(self, name: str) -> float:
        """The fraction of one core `name` (client, upstream, floor, tollway) used in the window."""
        if name == "client":
            return self.result.client_core_share
        return self.result.server_cpu.get(name, 0.0) / self.result.seconds

    @property
    def other_load(self) -> float:
        """Cores busy with processes outside the bench during the window: noise the figures cannot remove."""
        cpu = self.result.server_cpu
        if MACHINE not in cpu:
            return 0.0
        ours = self.result.client_cpu + sum(value for name, value in cpu.items() if name != MACHINE)
        return max(0.0, cpu[MACHINE] - ours) / self.result.seconds

    def as_json(self) -> dict[str, Any]:
        result = self.result
        return {
            "round": self.round, "mode": self.mode, "target": self.target, "rps": result.rps,
            "p50_ms": result.percentile(0.5) * 1000, "p99_ms": result.percentile(0.99) * 1000,
            "ok": result.ok, "errors": result.errors, "answered": result.answered,
            "client_cpu_s": result.client_cpu, "server_cpu_s": result.server_cpu,
            "other_load_cores": self.other_load, "error_samples": result.error_samples,
        }


@dataclass
class Ratio:
    """Tollway's throughput over another target's, per round, and their median."""

    versus: str
    per_round: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.per_round) if self.per_round else 0.0


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def runs(measurements: Sequence[Measurement], mode: str, target: str) -> list[Measurement]:
    return [m for m in measurements if m.mode == mode and m.target == target]


def ratio(measurements: Sequence[Measurement], mode: str, versus: str, target: str = "tollway") -> Ratio:
    """A Tollway target's req/s over `versus`'s, round by round (targets of one round ran back to back)."""
    values: list[float] = []
    for tollway in runs(measurements, mode, target):
        other = [m for m in runs(measurements, mode, versus) if m.round == tollway.round]
        if other and other[0].result.rps:
            values.append(tollway.result.rps / other[0].result.rps)
    return Ratio(versus, values)


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                     for i, (cell, width) in enumerate(zip(cells, widths, strict=True)))


def table(measurements: Sequence[Measurement], mode: str) -> str:
    """One mode's table (medians over rounds) and Tollway's ratios, as printed by `python -m bench.run`."""
    rounds = len({m.round for m in measurements})
    header = ["target", "req/s", "p50 ms", "p99 ms", "errors", "proxy µs/req", "upstream µs/req",
              "cores: client/upstream/proxy", "other load"]
    rows = [header]
    for target in TARGETS:
        found = runs(measurements, mode, target)
        if not found:
            continue
        proxy = _SERVED_BY[target] if target != "direct" else ""
        cores = "/".join(f"{_median([m.share(name) for m in found]):.2f}" for name in ("client", "upstream"))
        cores += f"/{_median([m.share(proxy) for m in found]):.2f}" if proxy else "/-"
        rows.append([
            target,
            f"{_median([m.result.rps for m in found]):.0f}",
            f"{_median([m.result.percentile(0.5) for m in found]) * 1000:.2f}",
            f"{_median([m.result.percentile(0.99) for m in found]) * 1000:.2f}",
            str(sum(m.result.errors for m in found)),
            f"{_median([m.proxy_us for m in found]):.0f}" if proxy else "-",
            f"{_median([m.upstream_us for m in found]):.0f}",
            cores,
            f"{_median([m.other_load for m in found]):.2f}",
        ])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    label = "non-stream" if mode == "nonstream" else "stream"
    title = f"{label}: median of {rounds} round(s); CPU in cores; 'other load' is the rest of the machine's use"
    lines = [title, _row(header, widths), _row(["-" * w for w in widths], widths)]
    lines += [_row(row, widths) for row in rows[1:]]
    pairs = [("tollway", versus) for versus in ("floor", "floor-granian", "floor-starlette", "direct")]
    pairs += [("tollway-aiohttp", "floor"), ("tollway-w2", "floor"), ("tollway-w2", "tollway")]
    for target, versus in pairs:
        found_ratio = ratio(measurements, mode, versus, target)
        if not found_ratio.per_round:
            continue
        spread = " ".join(f"{value:.2f}" for value in found_ratio.per_round)
        line = f"  {target}/{versus:<15} throughput {found_ratio.median:.2f}×  (per round: {spread})"
        if versus == "floor" and target == "tollway":
            goal = GOALS[mode]
            line += f"  goal ≥ {goal:.1f}×: {'met' if found_ratio.median >= goal else 'NOT met'}"
        lines.append(line)
    tail = p99_ratio(measurements, mode)
    if tail:
        verdict = "met" if tail <= P99_GOAL else "NOT met"
        lines.append(f"  tollway/floor p99 {tail:.2f}×  goal ≤ {P99_GOAL:.0f}×: {verdict}")
    for target in TOLLWAYS:
        cpu = cpu_ratio(measurements, mode, target)
        if cpu:
            lines.append(f"  CPU per call, floor/{target} {cpu:.2f}×")
    return "\n".join(lines)


def p99_ratio(measurements: Sequence[Measurement], mode: str) -> float:
    """Tollway's median p99 over the floor's (0 when either is missing)."""
    tollway, floor = runs(measurements, mode, "tollway"), runs(measurements, mode, "floor")
    if not tollway or not floor:
        return 0.0
    base = _median([m.result.percentile(0.99) for m in floor])
    return _median([m.result.percentile(0.99) for m in tollway]) / base if base else 0.0


def cpu_ratio(measurements: Sequence[Measurement], mode: str, target: str = "tollway") -> float:
    """The floor's median CPU per call over a Tollway target's (0 when either is missing)."""
    tollway, floor = runs(measurements, mode, target), runs(measurements, mode, "floor")
    if not tollway or not floor:
        return 0.0
    mine = _median([m.proxy_us for m in tollway])
    return _median([m.proxy_us for m in floor]) / mine if mine else 0.0


def legend(targets: Sequence[str]) -> str:
    return "\n".join(f"  {target:<15} {_DESCRIBE[target]}" for target in TARGETS if target in targets)
