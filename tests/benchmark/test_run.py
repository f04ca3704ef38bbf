"""Tests for s2s_jax.benchmark.run: every point measured, the table, JSON lines and plot written;
a bad grid refused before anything is measured."""

import json

import pytest
from helpers import tiny_benchmark

from s2s_jax.benchmark.run import run_benchmark
from s2s_jax.errors import ConfigError


@pytest.mark.slow
def test_run_writes_rows_table_and_plot(tmp_path):
    """Each point gives positive rates, memory and FLOP/s; files hold one row per point."""
    c = tiny_benchmark()
    c.benchmark.grid.batch_size = (4,)
    rows = run_benchmark(c, str(tmp_path))
    assert len(rows) == 2
    for row in rows:
        assert (
            row["train_steps_per_s_min"] <= row["train_steps_per_s"] <= row["train_steps_per_s_max"]
        )
        assert row["greedy_tokens_per_s"] > 0 and row["beam_tokens_per_s"] > 0
        assert row["compile_s"] > 0
        assert row["peak_memory_bytes"] > 0 and row["memory_source"] == "process peak RSS"
        assert row["utilization"] > 0 and row["device_kind"] and row["versions"]["jax"]
    with open(tmp_path / "benchmark.jsonl", encoding="utf-8") as f:
        assert [json.loads(line)["point"] for line in f] == [r["point"] for r in rows]
        assert row["config"]["model"]["hidden_size"] == 16 and "benchmark" not in row["config"]
    table = (tmp_path / "benchmark.md").read_text()
    assert table.count("\n| 4 |") == 2
    assert (tmp_path / "benchmark.png").stat().st_size > 0


def test_cudnn_point_is_refused_off_gpu(tmp_path):
    """A grid point the 'cudnn' backend cannot run is a ConfigError naming config.grid,
    before any point is measured."""
    c = tiny_benchmark()
    c.benchmark.grid.backend = ("fused", "cudnn")
    needs_gpu = r"config\.benchmark\.grid\.backend='cudnn' needs a CUDA GPU"
    with pytest.raises(ConfigError, match=needs_gpu):
        run_benchmark(c, str(tmp_path))
    assert not (tmp_path / "benchmark.jsonl").exists()
