"""Tests for s2s_jax.benchmark.report: the table's columns, the plots, the scaling summary."""

from helpers import tiny_benchmark

from s2s_jax.benchmark import grid, report


def _row(point, **fields):
    return {
        "point": point,
        "device_kind": "cpu", "num_devices": 1, "compile_s": 1.0, "train_steps_per_s": 2.0,
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
    assert cells["decoder"] == "context" and cells["backend"] == "fused" and cells["devices"] == "1"
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


def test_scaling_against_the_fewest_devices_of_each_group(tmp_path):
    """Speedup and efficiency against linear scaling from each group's fewest devices, worked
    by hand; a group measured on one device count only has no scaling; the plot is written."""
    point = grid.grid_points(tiny_benchmark())[0]
    measured = {  # batch size: {devices: train tokens/s}
        4: {1: 100.0, 2: 180.0, 4: 320.0, 8: 480.0},
        8: {2: 200.0, 8: 700.0},
        16: {1: 50.0},
    }
    rows = [
        _row({**point, "batch_size": b, "devices": n}, num_devices=n, train_tgt_tokens_per_s=t)
        for b, rates in measured.items()
        for n, t in rates.items()
    ]
    entries = report.scaling(rows)
    got = [(e["group"], e["devices"], round(e["speedup"], 6), round(e["efficiency"], 6))
           for e in entries]  # fmt: skip
    assert got == [
        ("batch_size=4", 1, 1.0, 1.0), ("batch_size=4", 2, 1.8, 0.9),
        ("batch_size=4", 4, 3.2, 0.8), ("batch_size=4", 8, 4.8, 0.6),
        ("batch_size=8", 2, 1.0, 1.0), ("batch_size=8", 8, 3.5, 0.875),
    ]  # fmt: skip
    table = report.scaling_table(entries)
    assert "| batch_size=4 | 4 | 320 | 3.20x | 80% |" in table
    assert "| batch_size=8 | 8 | 700 | 3.50x | 88% |" in table
    report.plot_scaling(entries, str(tmp_path / "scaling.png"))
    assert (tmp_path / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report.scaling(rows[-1:]) == []  # One device count: nothing to scale against.
