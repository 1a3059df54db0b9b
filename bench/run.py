"""`python -m bench.run`: load the upstream directly, the floor proxy and Tollway in one run, and print the ratios.

Each server runs in its own process (so none shares a GIL with another or with the load generator);
targets of one round run back to back, so a ratio compares figures taken minutes apart at most.
Exits 1 when any request failed or Tollway's logs do not match the answers, 2 when setup failed;
missing a performance goal is reported, not treated as a failure.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import uvloop

from bench import gateway, report, wrk
from bench.floor import KEY as FLOOR_AUTHORIZATION
from bench.load import Job, chat_body, run_load
from bench.processes import BenchError, Server, free_port, launch, machine_busy_seconds, python_module

NOISY = 0.25  # cores used by other processes above which the run is flagged as noisy
FLOOR_KEY = FLOOR_AUTHORIZATION.decode().removeprefix("Bearer ")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per target and mode")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring")
    parser.add_argument("--mode", choices=["nonstream", "stream", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every target and mode; the table shows medians")
    parser.add_argument("--targets", default=",".join(report.DEFAULT_TARGETS),
                        help=f"comma-separated, from {','.join(report.TARGETS)}")
    parser.add_argument("--chunks", type=int, default=13, help="content chunks in each streamed answer")
    parser.add_argument("--delay", type=float, default=0.0, help="upstream seconds before each answer")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="upstream seconds before each stream event")
    parser.add_argument("--floor-stream-all", action="store_true",
                        help="let the Starlette floor relay JSON answers through StreamingResponse too")
    parser.add_argument("--quiet-wait", type=float, default=0.0, metavar="SECONDS",
                        help="before each run, wait up to this long for other processes to go quiet")
    parser.add_argument("--load", choices=["generator", "wrk"], default="generator",
                        help="the harness's own load generator, or wrk (-t1) to cross-check it")
    parser.add_argument("--json", type=Path, help="also write every measurement to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, SQLite file)")
    args = parser.parse_args(argv)
    args.modes = list(report.MODES) if args.mode == "both" else [args.mode]
    args.target_list = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(args.target_list) - set(report.TARGETS)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    if args.load == "wrk" and not wrk.available():
        parser.error("--load wrk needs wrk on the PATH (Debian: apt-get install wrk)")
    return args


def machine() -> str:
    """CPU model and count, for the record: the figures only mean something next to the machine they came from."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}), Python {sys.version.split()[0]}"


def litellm_note() -> str:
    if importlib.util.find_spec("litellm") is None:
        return "LiteLLM proxy: not installed, skipped (DESIGN.md §3 compares against it only where installed)"
    return "LiteLLM proxy: installed, but this harness has no LiteLLM target yet; skipped"


def probe(url: str, key: str, stream: bool) -> None:
    """One request through a target before loading it, so a broken setup fails with a readable message."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = httpx.post(url + "/v1/chat/completions", content=chat_body(stream),
                          headers={"Content-Type": "application/json", **headers}, timeout=30)
    if response.status_code != 200 or (stream and not response.text.rstrip().endswith("data: [DONE]")):
        raise BenchError(f"probe of {url} ({'stream' if stream else 'non-stream'}) failed: "
                         f"HTTP {response.status_code} {response.text[:300]}")


def start_servers(args: argparse.Namespace, workdir: Path, started: list[Server]) -> dict[str, gateway.Gateway]:
    """Start the upstream and the chosen targets' servers, appending each to `started` as soon as it exists; answers
    the Tollway targets started."""
    upstream = launch("upstream", python_module(
        "bench.upstream", "--port", str(free_port()), "--chunks", str(args.chunks), "--delay", str(args.delay),
        "--chunk-delay", str(args.chunk_delay)), workdir)
    started.append(upstream)
    upstream.wait_ready()
    granian_port = str(free_port())
    floors = {"floor": python_module("bench.floor", "--port", str(free_port()), "--upstream", upstream.url),
              "floor-granian": [str(Path(sys.executable).with_name("granian")), "--interface", "asgi", "--loop",
                                "uvloop", "--no-ws", "--log-level", "warning", "--port", granian_port,
                                "bench.floor_granian:app"],
              "floor-starlette": python_module("bench.floor_starlette", "--port", str(free_port()), "--upstream",
                                               upstream.url, *(["--stream-all"] * args.floor_stream_all))}
    for name, argv in floors.items():
        if name in args.target_list:
            floor = launch(name, argv, workdir, env={"FLOOR_UPSTREAM": upstream.url})
            started.append(floor)
            floor.wait_ready()
    tollways = {}
    for name, (workers, env) in report.TOLLWAYS.items():
        if name in args.target_list:
            tollways[name] = gateway.start(workdir / f"{name}-data", workdir, upstream.url, workers=workers, name=name,
                                           extra_env=env)
            started.append(tollways[name].server)
    return tollways


@dataclass
class Target:
    """A server to load and the relay key to send it."""

    name: str
    server: Server
    key: str

    def job(self, args: argparse.Namespace, mode: str) -> Job:
        return Job("127.0.0.1", self.server.port, "/v1/chat/completions", chat_body(mode == "stream"),
                   args.connections, args.warmup, args.duration,
                   authorization=f"Bearer {self.key}" if self.key else "", stream=mode == "stream")


def other_load(meters: dict[str, Callable[[], float]], seconds: float = 1.0) -> float:
    """Cores the rest of the machine keeps busy over `seconds`, with our own processes (idle between runs) taken out."""
    ours = [read for name, read in meters.items() if name != report.MACHINE]
    before = meters[report.MACHINE]() - sum(read() for read in ours) - time.process_time()
    time.sleep(seconds)
    after = meters[report.MACHINE]() - sum(read() for read in ours) - time.process_time()
    return max(0.0, after - before) / seconds


def wait_for_quiet(meters: dict[str, Callable[[], float]], patience: float) -> None:
    """On a shared machine, wait up to `patience` seconds for other processes to drop below NOISY cores."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        if other_load(meters) <= NOISY:
            return
    print(f"    (machine still busy after waiting {patience:g} s; measuring anyway)")


def measure(args: argparse.Namespace, targets: list[Target],
            meters: dict[str, Callable[[], float]]) -> list[report.Measurement]:
    """Every round runs every mode against every target, back to back; a progress line is printed for each run."""
    measurements: list[report.Measurement] = []
    for number in range(1, args.rounds + 1):
        for mode in args.modes:
            for target in targets:
                if args.quiet_wait:
                    wait_for_quiet(meters, args.quiet_wait)
                job = target.job(args, mode)
                result = wrk.run_wrk(job, meters) if args.load == "wrk" else uvloop.run(run_load(job, meters))
                measured = report.Measurement(number, mode, target.name, result)
                measurements.append(measured)
                print(f"  round {number} {mode:<9} {target.name:<12} {result.rps:7.0f} req/s  "
                      f"p50 {result.percentile(0.5) * 1000:6.2f} ms  p99 {result.percentile(0.99) * 1000:7.2f} ms  "
                      f"errors {result.errors}  other load {measured.other_load:.2f} cores", flush=True)
                for sample in result.error_samples:
                    print(f"    error: {sample}")
                time.sleep(0.5)  # let closed connections and the servers settle before the next target
    return measurements


def check_billing(name: str, tollway: gateway.Gateway, expected: int, unseen: int = 0) -> bool:
    """Print and return whether Tollway logged and billed every answered call exactly once (up to `unseen` more: calls
    wrk stopped waiting for)."""
    check = gateway.check_logs(tollway, expected, unseen=unseen)
    print(f"\n{name} billing check ({'ok' if check.ok else 'MISMATCH'}): {check.consume_logs} consume logs for "
          f"{check.expected} answered calls, user request_count {check.request_count}, "
          f"logged quota {check.logged_quota} vs used quota {check.used_quota}")
    return check.ok


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="tollway-bench-"))
    started: list[Server] = []
    tollways: dict[str, gateway.Gateway] = {}
    try:
        print(f"machine: {machine()}")
        print(litellm_note())
        tollways = start_servers(args, workdir, started)
        print("servers: " + ", ".join(f"{s.name} pid {s.pid} port {s.port}" for s in started))
        by_name = {"direct" if s.name == "upstream" else s.name: s for s in started}
        keys = {"direct": "", "floor": FLOOR_KEY, "floor-granian": FLOOR_KEY, "floor-starlette": "sk-x",
                **{name: found.relay_key for name, found in tollways.items()}}
        targets = [Target(name, by_name[name], keys.get(name, "")) for name in args.target_list]
        for target in targets:
            for mode in args.modes:
                probe(target.server.url, target.key, mode == "stream")
        meters: dict[str, Callable[[], float]] = {s.name: s.cpu_seconds for s in started}
        meters[report.MACHINE] = machine_busy_seconds
        measurements = measure(args, targets, meters)
        print(f"\n{args.connections} connections, {args.warmup:g} s warm-up + {args.duration:g} s measured per run")
        print(report.legend(args.target_list))
        for mode in args.modes:
            print()
            print(report.table(measurements, mode))
        noise = max(m.other_load for m in measurements)
        if noise > NOISY:
            print(f"\nwarning: other processes kept up to {noise:.2f} cores busy during a run; "
                  "the figures are noisier than on an idle machine")
        failed = any(m.result.errors for m in measurements)
        for name, tollway in tollways.items():
            answered = sum(m.result.answered for m in measurements if m.target == name)
            # wrk drops the calls in flight when each of its runs (warm-up, measured) stops.
            unseen = 2 * args.connections * sum(m.target == name for m in measurements) if args.load == "wrk" else 0
            failed = not check_billing(name, tollway, len(args.modes) + answered, unseen) or failed
            print(f"{name} batch writes: {gateway.flushes(tollway).describe()}")
        if args.json:
            args.json.write_bytes(orjson.dumps({"machine": machine(), "args": vars(args) | {"json": str(args.json)},
                                                "runs": [m.as_json() for m in measurements]},
                                               default=str, option=orjson.OPT_INDENT_2))
        return 1 if failed else 0
    except BenchError as exc:
        print(f"bench setup failed: {exc}", file=sys.stderr)
        return 2
    finally:
        for tollway in tollways.values():
            tollway.close()
        for server in reversed(started):
            server.stop()
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
