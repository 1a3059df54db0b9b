"""The gateway's Prometheus metrics in one registry of its own, with cheap methods for the code that counts.

Per call the relay makes one `call_done`: one dictionary lookup finds the labelled children cached for that
(model, channel, status, stream) and six increments follow. Gauges (pairs cooling down, the batch queue) are
read only when Prometheus scrapes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)
FIRST_BYTE_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60)
FLUSH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
MAX_SERIES = 5000  # distinct (model, channel, status, stream) label sets before new models count as "other"


@dataclass(slots=True)
class _Children:
    calls: Any
    latency: Any
    first_byte: Any
    prompt: Any
    completion: Any
    quota: Any


class Metrics:
    """Counters and histograms of one process; built once at startup."""

    def __init__(self, *, process: bool = True, shared_dir: str = "") -> None:
        # With several workers on one port (cli/processes.py) a scrape reaches any one of them: the counters then live
        # in prometheus_client's files in `shared_dir` (PROMETHEUS_MULTIPROC_DIR) and every worker renders all of them.
        self.shared_dir = shared_dir
        registry = self.registry = CollectorRegistry(auto_describe=False)
        self.calls = Counter("tollway_calls", "Relay calls answered, by model, channel, HTTP status and stream flag",
                             ["model", "channel", "status", "stream"], registry=registry)
        self.latency = Histogram("tollway_call_seconds", "Time from the request to the end of the answer",
                                 ["model", "channel"], buckets=LATENCY_BUCKETS, registry=registry)
        self.first_byte = Histogram("tollway_first_byte_seconds", "Time from the request to the upstream's first byte",
                                    ["model", "channel"], buckets=FIRST_BYTE_BUCKETS, registry=registry)
        self.tokens = Counter("tollway_tokens", "LLM tokens of successful calls, by model and kind (prompt/completion)",
                              ["model", "kind"], registry=registry)
        self.quota = Counter("tollway_quota_spent", "Quota charged for calls, by model", ["model"], registry=registry)
        self.upstream_errors = Counter("tollway_upstream_errors", "Failed upstream attempts, by kind",
                                       ["kind"], registry=registry)
        self.retries = Counter("tollway_retries", "Attempts on another channel after a failure", registry=registry)
        self.rate_limited = Counter("tollway_rate_limited", "Calls refused by a rate limit, by unit",
                                    ["unit"], registry=registry)
        self.disabled = Counter("tollway_channels_auto_disabled", "Channels disabled after a fatal upstream error",
                                registry=registry)
        self.flushes = Histogram("tollway_batch_flush_seconds", "Time to write one batch of quota and logs",
                                 buckets=FLUSH_BUCKETS, registry=registry)
        self.flushed_rows = Counter("tollway_batch_flushed_logs", "Log rows written by batch flushes",
                                    registry=registry)
        self._gauges = _Gauges()
        registry.register(self._gauges)
        if process and not shared_dir:  # a process's own figures would be those of whichever worker answers
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            GCCollector(registry=registry)
        self._children: dict[tuple[str, int, int, bool], _Children] = {}
        self._errors: dict[str, Any] = {}

    # -- what the relay and the keeper report -----------------------------------------------------------------

    def call_done(self, model: str, channel: int, status: int, stream: bool, seconds: float,
                  first_byte_seconds: float = 0.0, prompt_tokens: int = 0, completion_tokens: int = 0,
                  quota: int = 0) -> None:
        """One relay call answered (status 200 or the error's), with its timings, tokens and quota."""
        key = (model, channel, status, stream)
        children = self._children.get(key)
        if children is None:
            children = self._child(key)
        children.calls.inc()
        children.latency.observe(seconds)
        if first_byte_seconds > 0:
            children.first_byte.observe(first_byte_seconds)
        if prompt_tokens:
            children.prompt.inc(prompt_tokens)
        if completion_tokens:
            children.completion.inc(completion_tokens)
        if quota:
            children.quota.inc(quota)

    def _child(self, key: tuple[str, int, int, bool]) -> _Children:
        model, channel, status, stream = key
        if len(self._children) >= MAX_SERIES:
            model = "other"  # callers choose model names: never let them grow the series without bound
            found = self._children.get((model, channel, status, stream))
            if found is not None:
                return found
        ids = str(channel)
        children = _Children(
            calls=self.calls.labels(model, ids, str(status), "true" if stream else "false"),
            latency=self.latency.labels(model, ids), first_byte=self.first_byte.labels(model, ids),
            prompt=self.tokens.labels(model, "prompt"), completion=self.tokens.labels(model, "completion"),
            quota=self.quota.labels(model))
        self._children[(model, channel, status, stream)] = children
        return children

    def upstream_error(self, kind: str) -> None:
        """An upstream attempt failed: timeout, connection, server_error, rate_limited, client_error."""
        child = self._errors.get(kind)
        if child is None:
            child = self._errors[kind] = self.upstream_errors.labels(kind)
        child.inc()

    def retried(self) -> None:
        """The relay tries another channel after a failed attempt."""
        self.retries.inc()

    def refused(self, unit: str) -> None:
        """A call refused by a rate limit (unit: requests or tokens)."""
        self.rate_limited.labels(unit).inc()

    def channel_disabled(self) -> None:
        self.disabled.inc()

    def flushed(self, seconds: float, logs: int) -> None:
        """The keeper wrote one batch."""
        self.flushes.observe(seconds)
        if logs:
            self.flushed_rows.inc(logs)

    def watch(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        """A gauge read at scrape time (pairs cooling down, queued logs)."""
        self._gauges.sources.append((name, help_text, read))

    def render(self) -> bytes:
        """The text exposition (call `snapshot` on the event loop first, then this may run in a thread)."""
        if not self.shared_dir:
            return generate_latest(self.registry)
        every_worker = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(every_worker, path=self.shared_dir)  # type: ignore[no-untyped-call]
        every_worker.register(self._gauges)
        return generate_latest(every_worker)

    def snapshot(self) -> None:
        """Read the live gauges now, on the event loop that owns what they read."""
        self._gauges.snapshot()


class _Gauges(Collector):
    """Gauges read from live objects on the event loop, then rendered (maybe in a thread) from that snapshot."""

    def __init__(self) -> None:
        self.sources: list[tuple[str, str, Callable[[], float]]] = []
        self.values: list[tuple[str, str, float]] = []

    def snapshot(self) -> None:
        self.values = [(name, help_text, float(read())) for name, help_text, read in self.sources]

    def collect(self) -> Iterator[Metric]:
        for name, help_text, value in self.values:
            yield GaugeMetricFamily(name, help_text, value=value)
