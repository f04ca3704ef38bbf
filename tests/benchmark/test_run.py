"""Tests for s2s_jax.benchmark.run: every point measured, the table, JSON lines and plot written;
a bad grid refused before anything is measured."""

import json
import logging

import pytest
from helpers import tiny_benchmark

from s2s_jax.benchmark.run import run_benchmark
from s2s_jax.errors import ConfigError


@pytest.mark.slow
def test_run_writes_rows_table_and_plots(tmp_path, caplog):
    """Each point gives positive rates, memory and FLOP/s; files hold one row per point. Points
    on 1 and 2 of the 8 devices give the scaling table and plot; 16 devices are skipped."""
    c = tiny_benchmark()
    c.benchmark.grid.batch_size, c.benchmark.grid.lengths = (16,), ((4, 4),)
    c.benchmark.grid.devices = (1, 2, 16)
    with caplog.at_level(logging.WARNING):
        rows = run_benchmark(c, str(tmp_path))
    assert [r["point"]["devices"] for r in rows] == [r["num_devices"] for r in rows] == [1, 2]
    assert "'devices': 16" in caplog.text and "it needs 16 devices, and 8 exist" in caplog.text
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
    assert row["config"]["devices"] == 2
    table = (tmp_path / "benchmark.md").read_text()
    assert table.count("\n| 16 |") == 2
    speedup = rows[1]["train_tgt_tokens_per_s"] / rows[0]["train_tgt_tokens_per_s"]
    assert f"| all | 2 | {rows[1]['train_tgt_tokens_per_s']:.0f} | {speedup:.2f}x |" in table
    assert (tmp_path / "benchmark.png").stat().st_size > 0
    assert (tmp_path / "benchmark_scaling.png").stat().st_size > 0


def test_cudnn_point_is_refused_off_gpu(tmp_path):
    """A grid point the 'cudnn' backend cannot run is a ConfigError naming config.grid,
    before any point is measured."""
    c = tiny_benchmark()
    c.benchmark.grid.backend = ("fused", "cudnn")
    needs_gpu = r"config\.benchmark\.grid\.backend='cudnn' needs a CUDA GPU"
    with pytest.raises(ConfigError, match=needs_gpu):
        run_benchmark(c, str(tmp_path))
    assert not (tmp_path / "benchmark.jsonl").exists()
