"""Tests for s2s_jax.benchmark.run: every point measured, the table, JSON lines and plot written;
utilization against the run's peak; a bad grid refused before anything is measured."""

import json
import logging

import pytest
from helpers import tiny_benchmark

from s2s_jax.benchmark import report
from s2s_jax.benchmark.run import run_benchmark, with_run_peak
from s2s_jax.errors import ConfigError


@pytest.mark.slow
def test_run_writes_rows_table_and_plots(tmp_path, caplog):
    """Each point gives positive rates, memory and FLOP/s; files hold one row per point. Points
    on 1 and 2 of the 8 devices give the scaling table and plot; 16 devices are skipped."""
    c = tiny_benchmark()
    c.benchmark.grid.batch_size, c.benchmark.grid.lengths = (16,), ((4, 4),)
    c.benchmark.grid.devices = (1, 2, 16)
    (tmp_path / "benchmark.jsonl").write_text('{"earlier": "run"}\n')  # Kept by the rewrite.
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
        start, end = row["peak_flops_start"], row["peak_flops_end"]
        assert row["peak_flops"] == max(start, end) and min(start, end) > 0
        assert row["utilization"] == row["train_flops_per_s"] / row["peak_flops"]  # CPU: shared.
        assert row["point_peak_flops"] > 0 and row["peak_flags"] == report.peak_flags(row)
    with open(tmp_path / "benchmark.jsonl", encoding="utf-8") as f:
        earlier, *saved = [json.loads(line) for line in f]
    assert earlier == {"earlier": "run"}  # The file is rewritten with the run's peak.
    assert [(r["point"], r["utilization"]) for r in saved] == [
        (r["point"], r["utilization"]) for r in rows
    ]
    assert row["config"]["model"]["hidden_size"] == 16 and "benchmark" not in row["config"]
    assert row["config"]["devices"] == 2
    table = (tmp_path / "benchmark.md").read_text()
    assert table.count("\n| 16 |") == 2
    speedup = rows[1]["train_tgt_tokens_per_s"] / rows[0]["train_tgt_tokens_per_s"]
    assert f"| all | 2 | {rows[1]['train_tgt_tokens_per_s']:.0f} | {speedup:.2f}x |" in table
    assert (tmp_path / "benchmark.png").stat().st_size > 0
    assert (tmp_path / "benchmark_scaling.png").stat().st_size > 0


def test_utilization_is_against_the_larger_peak_of_the_start_and_the_end():
    """Hand-made: 50 FLOP/s against peaks of 100 (start) and 80 (end) is 50% on a CPU, whose
    fake devices share the host's peak, and 25% on two GPUs; the 20% move is flagged."""
    row = {"platform": "cpu", "num_devices": 2, "train_flops_per_s": 50.0,
           "point_peak_flops": 100.0}  # fmt: skip
    cpu = with_run_peak(row, 100.0, 80.0)
    assert (cpu["peak_flops"], cpu["utilization"]) == (100.0, 0.5)
    assert cpu["peak_flags"] == ["peak moved -20% from start to end"]
    gpu = with_run_peak({**row, "platform": "gpu", "point_peak_flops": None}, 80.0, 100.0)
    assert (gpu["peak_flops_start"], gpu["peak_flops_end"], gpu["utilization"]) == (80, 100, 0.25)
    over = with_run_peak({**row, "train_flops_per_s": 110.0}, 100.0, 100.0)
    assert over["utilization"] == 1.1 and over["peak_flags"] == [
        "utilization 110% > 100%: FLOP count or peak wrong"
    ]


def test_cudnn_point_is_refused_off_gpu(tmp_path):
    """A grid point the 'cudnn' backend cannot run is a ConfigError naming config.grid,
    before any point is measured."""
    c = tiny_benchmark()
    c.benchmark.grid.backend = ("fused", "cudnn")
    needs_gpu = r"config\.benchmark\.grid\.backend='cudnn' needs a CUDA GPU"
    with pytest.raises(ConfigError, match=needs_gpu):
        run_benchmark(c, str(tmp_path))
    assert not (tmp_path / "benchmark.jsonl").exists()
