"""Benchmark mode on a tiny grid: every point measured, the table, JSON lines and plot written."""

import json

import pytest

from experiments import benchmark as benchmark_config
from s2s_jax import config_checks
from s2s_jax.benchmark import grid, report
from s2s_jax.benchmark.run import run_benchmark
from s2s_jax.errors import ConfigError


def _tiny():
    c = benchmark_config.get_config("small")
    c.devices = 1
    c.synthetic.vocab_size, c.model.embed_size = 40, 8
    b = c.benchmark
    b.reps, b.calls_per_rep, b.warmup = 2, 2, 1
    b.grid.batch_size, b.grid.lengths, b.grid.hidden_size = (4, 8), ((4, 4), (8, 8)), (16,)
    return c


def _check(c):
    config_checks.validate_benchmark(c, 8, "cpu")


def test_grid_points_expand_length_pairs():
    """Points are the product of the lists; a length pair sets src_len and tgt_len together."""
    points = grid.grid_points(_tiny())
    assert len(points) == 4
    assert {(p["batch_size"], p["src_len"], p["tgt_len"]) for p in points} == {
        (4, 4, 4), (4, 8, 8), (8, 4, 4), (8, 8, 8)}  # fmt: skip


@pytest.mark.parametrize("variant", list(benchmark_config._VARIANTS))
def test_every_declared_variant_passes_the_checks(variant):
    """Each variant of experiments/benchmark.py is a valid grid on this machine."""
    _check(benchmark_config.get_config(variant))


def test_remat_variant_pairs_each_backend_with_remat_off_and_on():
    points = grid.grid_points(benchmark_config.get_config("remat"))
    assert {(p["backend"], p["remat"]) for p in points} == {
        ("scan", False), ("scan", True), ("fused", False), ("fused", True)}  # fmt: skip
    assert {(p["src_len"], p["tgt_len"]) for p in points} == {(128, 128)}


def test_bad_grid_value_is_refused(tmp_path):
    """An unknown cell or a non-positive size is a ConfigError naming the grid field."""
    c = _tiny()
    c.benchmark.grid.cell = ("lstm", "transformer")
    with pytest.raises(ConfigError, match=r"config\.benchmark\.grid\.cell"):
        run_benchmark(c, str(tmp_path))
    c = _tiny()
    c.benchmark.grid.batch_size = (0,)
    with pytest.raises(ConfigError, match=r"config\.benchmark\.grid\.batch_size"):
        run_benchmark(c, str(tmp_path))


@pytest.mark.slow
def test_run_writes_rows_table_and_plot(tmp_path):
    """Each point gives positive rates, memory and FLOP/s; files hold one row per point."""
    c = _tiny()
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
    table = (tmp_path / "benchmark.md").read_text()
    assert table.count("\n| 4 |") == 2
    assert (tmp_path / "benchmark.png").stat().st_size > 0


def test_cudnn_point_is_refused_off_gpu(tmp_path):
    """A grid point the 'cudnn' backend cannot run is a ConfigError naming config.grid,
    before any point is measured."""
    c = _tiny()
    c.benchmark.grid.backend = ("fused", "cudnn")
    needs_gpu = r"config\.benchmark\.grid\.backend='cudnn' needs a CUDA GPU"
    with pytest.raises(ConfigError, match=needs_gpu):
        run_benchmark(c, str(tmp_path))
    assert not (tmp_path / "benchmark.jsonl").exists()


def test_table_has_a_column_per_grid_axis_and_dashes_for_untimed_decoders():
    row = {
        "point": {**grid.grid_points(_tiny())[0], "decoder": "context"},
        "device_kind": "cpu", "compile_s": 1.0, "train_steps_per_s": 2.0,
        "train_steps_per_s_min": 1.5, "train_steps_per_s_max": 2.5,
        "train_tgt_tokens_per_s": 32.0, "greedy_tokens_per_s": 99.0,
        "peak_memory_bytes": 2**20, "within_memory_bound": True,
        "train_step_plan_bytes": 2**20, "train_flops_per_s": 1e9, "utilization": 0.5,
    }  # fmt: skip
    head, _, line = report.markdown_table([row]).splitlines()[2:]
    cells = dict(zip(head.split("|")[1:-1], line.split("|")[1:-1], strict=True))
    cells = {k.strip(): v.strip() for k, v in cells.items()}
    assert cells["decoder"] == "context" and cells["backend"] == "fused"
    assert cells["greedy tok/s"] == "99" and cells["beam tok/s"] == "-"
