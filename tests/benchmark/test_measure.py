"""Tests for s2s_jax.benchmark.measure's parts that need no process of their own (the rest runs
in tests/benchmark/test_run.py): timed blocks, and where peak memory is read from."""

import itertools
import resource
from types import SimpleNamespace

from s2s_jax.benchmark import measure


def test_timed_gives_the_median_min_and_max_rate_of_its_blocks(monkeypatch):
    """On a fake clock, 3 blocks of 2 calls taking 1, 4 and 2 s run at 2, 0.5 and 1 calls/s."""
    ticks = itertools.accumulate([0.0, 1.0, 0.0, 4.0, 0.0, 2.0])  # start, end per block.
    monkeypatch.setattr(measure.time, "perf_counter", lambda: next(ticks))
    calls = []
    assert measure._timed(lambda: calls.append(1), reps=3, calls=2) == (1.0, 0.5, 2.0)
    assert len(calls) == 6


def test_peak_memory_is_the_devices_where_it_reports_one():
    device = SimpleNamespace(memory_stats=lambda: {"peak_bytes_in_use": 123})
    assert measure.peak_memory(device) == {"peak_memory_bytes": 123, "memory_source": "device"}
    cpu = SimpleNamespace(memory_stats=lambda: None)  # The CPU reports nothing.

    def rss() -> int:  # The process's peak RSS in bytes (KiB on Linux); it never falls.
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    before = rss()
    peak = measure.peak_memory(cpu)
    assert peak["memory_source"] == "process peak RSS"
    assert before <= peak["peak_memory_bytes"] <= rss()
