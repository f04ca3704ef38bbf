"""Tests for s2s_jax.benchmark.report: the table's columns and the plot."""

from helpers import tiny_benchmark

from s2s_jax.benchmark import grid, report


def _row(point, **fields):
    return {
        "point": point,
        "device_kind": "cpu", "compile_s": 1.0, "train_steps_per_s": 2.0,
        "train_steps_per_s_min": 1.5, "train_steps_per_s_max": 2.5,
        "train_tgt_tokens_per_s": 32.0, "greedy_tokens_per_s": 99.0,
        "peak_memory_bytes": 2**20, "within_memory_bound": True,
        "train_step_plan_bytes": 2**20, "train_flops_per_s": 1e9, "utilization": 0.5,
        **fields,
    }  # fmt: skip


def test_table_has_a_column_per_grid_axis_and_dashes_for_untimed_decoders():
    row = _row({**grid.grid_points(tiny_benchmark())[0], "decoder": "context"})
    head, _, line = report.markdown_table([row]).splitlines()[2:]
    cells = dict(zip(head.split("|")[1:-1], line.split("|")[1:-1], strict=True))
    cells = {k.strip(): v.strip() for k, v in cells.items()}
    assert cells["decoder"] == "context" and cells["backend"] == "fused"
    assert cells["greedy tok/s"] == "99" and cells["beam tok/s"] == "-"
    assert cells["peak MiB"] == "1" and cells["util"] == "50%"


def test_a_point_over_the_memory_bound_is_flagged():
    row = _row(grid.grid_points(tiny_benchmark())[0], within_memory_bound=False)
    assert "1 OVER" in report.markdown_table([row])


def test_plot_is_written(tmp_path):
    rows = [
        _row(p, train_steps_per_s=10.0 / p["src_len"]) for p in grid.grid_points(tiny_benchmark())
    ]
    report.plot(rows, str(tmp_path / "benchmark.png"))
    assert (tmp_path / "benchmark.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
