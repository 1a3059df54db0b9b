"""The metrics object: what each reporting method adds to the exposition, cached children, bounded series."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tollway.metrics import meters
from tollway.metrics.meters import Metrics


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    metrics.snapshot()
    found = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_a_call_counts_everywhere_once() -> None:
    metrics = Metrics(process=False)
    for _ in range(2):
        metrics.call_done("gpt-4o-mini", 3, 200, True, 1.5, 0.2, prompt_tokens=11, completion_tokens=5, quota=80)
    metrics.call_done("gpt-4o-mini", 4, 502, False, 0.1)
    found = samples(metrics)
    labels = (("channel", "3"), ("model", "gpt-4o-mini"), ("status", "200"), ("stream", "true"))
    assert found[("tollway_calls_total", labels)] == 2
    assert found[("tollway_calls_total", (("channel", "4"), ("model", "gpt-4o-mini"), ("status", "502"),
                                          ("stream", "false")))] == 1
    assert found[("tollway_call_seconds_count", (("channel", "3"), ("model", "gpt-4o-mini")))] == 2
    assert found[("tollway_call_seconds_sum", (("channel", "3"), ("model", "gpt-4o-mini")))] == 3.0
    assert found[("tollway_first_byte_seconds_count", (("channel", "3"), ("model", "gpt-4o-mini")))] == 2
    assert found[("tollway_first_byte_seconds_count", (("channel", "4"), ("model", "gpt-4o-mini")))] == 0
    assert found[("tollway_tokens_total", (("kind", "prompt"), ("model", "gpt-4o-mini")))] == 22
    assert found[("tollway_tokens_total", (("kind", "completion"), ("model", "gpt-4o-mini")))] == 10
    assert found[("tollway_quota_spent_total", (("model", "gpt-4o-mini"),))] == 160
    assert len(metrics._children) == 2  # the second identical call reused the cached children


def test_errors_retries_refusals_disables_flushes_and_gauges() -> None:
    metrics = Metrics(process=False)
    metrics.upstream_error("timeout")
    metrics.upstream_error("timeout")
    metrics.upstream_error("server_error")
    metrics.retried()
    metrics.refused("requests")
    metrics.channel_disabled()
    metrics.flushed(0.02, 40)
    queue = [1, 2, 3]
    metrics.watch("tollway_batch_queue_logs", "queued logs", lambda: len(queue))
    found = samples(metrics)
    assert found[("tollway_upstream_errors_total", (("kind", "timeout"),))] == 2
    assert found[("tollway_upstream_errors_total", (("kind", "server_error"),))] == 1
    assert found[("tollway_retries_total", ())] == 1
    assert found[("tollway_rate_limited_total", (("unit", "requests"),))] == 1
    assert found[("tollway_channels_auto_disabled_total", ())] == 1
    assert found[("tollway_batch_flush_seconds_count", ())] == 1
    assert found[("tollway_batch_flushed_logs_total", ())] == 40
    assert found[("tollway_batch_queue_logs", ())] == 3
    queue.append(4)
    assert samples(metrics)[("tollway_batch_queue_logs", ())] == 4  # read again at each scrape


def test_callers_cannot_grow_the_series_without_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    metrics = Metrics(process=False)
    monkeypatch.setattr(meters, "MAX_SERIES", 3)
    for index in range(10):
        metrics.call_done(f"model-{index}", 1, 404, False, 0.01)
    models = {labels[1][1] for (name, labels) in samples(metrics) if name == "tollway_calls_total"}
    assert models == {"model-0", "model-1", "model-2", "other"}


def test_process_metrics_are_included() -> None:
    names = {name for name, _ in samples(Metrics())}
    assert "process_resident_memory_bytes" in names and "python_info" in names
    assert any(name.startswith("python_gc_") for name in names)
