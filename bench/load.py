"""A light closed-loop HTTP/1.1 load generator: N keep-alive connections, each sending its next request on an answer.

Each connection is an asyncio protocol fed to httptools' C parser on uvloop, with the request bytes
built once, so the client spends little of the two cores the servers need; `LoadResult.client_cpu`
says how little.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import cast

import httptools
import orjson

STREAM_END = b"data: [DONE]\n\n"
_MAX_SAMPLES = 5  # error messages kept for the report


@dataclass(frozen=True)
class Job:
    """What to send, where, for how long."""

    host: str
    port: int
    path: str
    body: bytes
    connections: int
    warmup: float
    duration: float
    authorization: str = ""
    stream: bool = False

    def request(self) -> bytes:
        """The raw HTTP/1.1 request every connection sends, again and again."""
        lines = [f"POST {self.path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Content-Type: application/json",
                 f"Content-Length: {len(self.body)}"]
        if self.authorization:
            lines.append(f"Authorization: {self.authorization}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


@dataclass
class LoadResult:
    """What one load run measured: answers and latencies in the measuring window, errors in any phase."""

    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    answered: int = 0  # successful answers in every phase, warm-up and drain included
    client_cpu: float = 0.0  # CPU seconds the load generator used in the window
    server_cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds of each metered server in the window
    error_samples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        """Latency in seconds at `fraction` (nearest rank), 0 without samples."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]

    @property
    def client_core_share(self) -> float:
        """The fraction of one core the load generator used while measuring."""
        return self.client_cpu / self.seconds if self.seconds else 0.0

    def fail(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < _MAX_SAMPLES:
            self.error_samples.append(message)


class _Run:
    """State shared by the connections of one load run."""

    def __init__(self, job: Job, result: LoadResult) -> None:
        self.job = job
        self.request = job.request()
        self.result = result
        self.sending = True
        self.window = (float("inf"), float("inf"))
        self.busy = 0
        self.idle = asyncio.Event()

    def record(self, started: float, status: int, tail: bytes) -> None:
        now = time.perf_counter()
        if status != 200:
            self.result.fail(f"HTTP {status}: {tail[-200:]!r}")
            return
        if self.job.stream and not tail.endswith(STREAM_END):
            self.result.fail(f"stream did not end with [DONE]: {tail[-200:]!r}")
            return
        self.result.answered += 1
        if self.window[0] <= now <= self.window[1]:
            self.result.latencies.append(now - started)


class _Connection(asyncio.Protocol):
    """One keep-alive connection that always has exactly one request in flight while the run is sending."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.started = 0.0
        self.tail = b""
        self.in_flight = False
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, so this is a cast, not a check.
        self.transport = cast(asyncio.Transport, transport)
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        self.in_flight = True
        self.run.busy += 1
        self.tail = b""
        self.started = time.perf_counter()
        self.transport.write(self.run.request)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._done()
            self.run.result.fail(f"bad HTTP answer: {exc}")
            self._close()

    # httptools callbacks ----------------------------------------------------------------------------------

    def on_body(self, body: bytes) -> None:
        # Only the end matters (to see the stream's [DONE]), so keep a short tail, not the whole answer.
        self.tail = (self.tail + body)[-256:]

    def on_message_complete(self) -> None:
        self._done()
        self.run.record(self.started, self.parser.get_status_code(), self.tail)
        if self.run.sending:
            self._send()
        else:
            self._close()

    # ------------------------------------------------------------------------------------------------------

    def _done(self) -> None:
        if self.in_flight:
            self.in_flight = False
            self.run.busy -= 1
            if not self.run.busy and not self.run.sending:
                self.run.idle.set()

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.in_flight:
            self._done()
            self.run.result.fail(f"connection lost mid-request: {exc!r}")
        if not self.closed.done():
            self.closed.set_result(None)


async def run_load(job: Job, meters: Mapping[str, Callable[[], float]] | None = None) -> LoadResult:
    """Drive `job.connections` connections through warm-up and the measuring window, then drain and close.

    `meters` read the CPU seconds of server processes; their growth over the window goes to `server_cpu`.
    """
    meters = meters or {}
    loop = asyncio.get_running_loop()
    result = LoadResult(seconds=job.duration)
    run = _Run(job, result)
    connections: list[_Connection] = []
    start = time.perf_counter()
    for _ in range(job.connections):
        _, protocol = await loop.create_connection(lambda: _Connection(run), job.host, job.port)
        connections.append(protocol)
    run.window = (start + job.warmup, start + job.warmup + job.duration)
    await asyncio.sleep(max(0.0, run.window[0] - time.perf_counter()))
    cpu_start = time.process_time()
    servers_start = {name: read() for name, read in meters.items()}
    await asyncio.sleep(max(0.0, run.window[1] - time.perf_counter()))
    result.client_cpu = time.process_time() - cpu_start
    result.server_cpu = {name: read() - servers_start[name] for name, read in meters.items()}
    run.sending = False
    if run.busy:
        try:
            await asyncio.wait_for(run.idle.wait(), 30)
        except TimeoutError:
            result.fail(f"{run.busy} requests still unanswered 30 s after the window closed")
    for connection in connections:
        connection._close()
    await asyncio.gather(*(connection.closed for connection in connections))
    return result


def chat_body(stream: bool, model: str = "gpt-4o-mini") -> bytes:
    """The benchmark's chat request."""
    body: dict[str, object] = {"model": model, "messages": [{"role": "user", "content": "Say hello"}]}
    if stream:
        body["stream"] = True
    return orjson.dumps(body)
