"""Tests for s2s_jax.benchmark.report: the table's columns, the peak's flags, the plots, the
scaling summary."""

import numpy as np
import pytest
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
        "peak_flops": 2e9, "peak_flops_start": 2e9, "peak_flops_end": 2e9,
        "point_peak_flops": 2e9, "peak_source": "measured: best of 7 2048x2048 matmuls",
        **fields,
    }  # fmt: skip


def test_table_has_a_column_per_grid_axis_and_dashes_for_untimed_decoders():
    cells = _cells(_row({**grid.grid_points(tiny_benchmark())[0], "decoder": "context"}))
    assert cells["decoder"] == "context" and cells["backend"] == "fused" and cells["devices"] == "1"
    assert cells["greedy tok/s"] == "99" and cells["beam tok/s"] == "-"
    assert cells["peak MiB"] == "1" and cells["util"] == "50%"
    assert cells["own peak"] == "+0%" and cells["flags"] == ""
    assert cells["of kernel bound"] == "-"  # Not measured.


def test_table_gives_the_share_of_the_kernel_bound_where_measured():
    row = _row(grid.grid_points(tiny_benchmark())[0], kernel_bound_tgt_tokens_per_s=40.0)
    assert _cells(row)["of kernel bound"] == "80%"  # 32 of 40 tokens/s.


def test_a_point_over_the_memory_bound_is_flagged():
    row = _row(grid.grid_points(tiny_benchmark())[0], within_memory_bound=False)
    assert "1 OVER" in report.markdown_table([row])


def _cells(row: dict) -> dict[str, str]:
    """The table's cells of one row, by column name."""
    head, _, line = report.markdown_table([row]).splitlines()[-3:]
    cells = dict(zip(head.split("|")[1:-1], line.split("|")[1:-1], strict=True))
    return {k.strip(): v.strip() for k, v in cells.items()}


@pytest.mark.parametrize(
    "start,end,own,utilization,flags",
    [
        (100.0, 95.0, 100.0, 0.5, []),  # The peak moved 5%: within 10%.
        (100.0, 85.0, 100.0, 0.5, ["peak moved -15% from start to end"]),
        (85.0, 100.0, 100.0, 0.5, ["peak moved +18% from start to end"]),
        (100.0, 100.0, 105.0, 0.5, []),
        (100.0, 100.0, 115.0, 0.5, ["own peak +15% off the run's"]),
        (100.0, 100.0, 85.0, 0.5, ["own peak -15% off the run's"]),
        (100.0, 100.0, None, 0.5, []),  # No check where the peak is the table's.
        (100.0, 100.0, 100.0, 1.19, ["utilization 119% > 100%: FLOP count or peak wrong"]),
    ],
)
def test_a_point_whose_peak_moved_or_that_is_over_100_percent_is_flagged(
    start, end, own, utilization, flags
):
    """Hand-made peaks (the run's: the larger of start and end): a move of more than 10% between
    start and end, or of the point's own check from the run's peak, flags the point; so does a
    utilization over 100%, which the table shows unclipped."""
    row = _row(grid.grid_points(tiny_benchmark())[0], utilization=utilization,
               peak_flops=max(start, end), peak_flops_start=start, peak_flops_end=end,
               point_peak_flops=own)  # fmt: skip
    assert report.peak_flags(row) == flags
    cells = _cells(row)
    assert cells["flags"] == "; ".join(flags)
    assert cells["util"] == f"{100 * utilization:.0f}%" + (" OVER" if utilization > 1 else "")
    assert cells["own peak"] == ("-" if own is None else f"{own / max(start, end) - 1:+.0%}")


def test_table_states_the_runs_peak_and_its_spread():
    row = _row(grid.grid_points(tiny_benchmark())[0], peak_flops=2e10, peak_flops_start=2e10,
               peak_flops_end=1.7e10)  # fmt: skip
    line = report.markdown_table([row]).splitlines()[2]
    assert line.startswith("Peak, float32: 20.0 GFLOP/s (measured: best of 7 2048x2048 matmuls)")
    assert "20.0 at the start, 17.0 at the end (-15.0%)" in line


def _plot_rows() -> list[dict]:
    """Batch 4 and 8 x target length 4, 8, 12, seconds per step not quite linear in length; and
    the same points with another decoder, which the plot leaves out."""
    point = grid.grid_points(tiny_benchmark())[0]
    rows = []
    for decoder in ("basic", "luong"):
        for batch in (4, 8):
            for length, wobble in ((4, 0.0), (8, 0.004), (12, -0.001)):
                seconds = 0.01 * batch + 0.002 * length + wobble
                p = {**point, "batch_size": batch, "src_len": length, "tgt_len": length,
                     "decoder": decoder}  # fmt: skip
                rows.append(_row(p, train_steps_per_s=1 / seconds,
                                 train_tgt_tokens_per_s=batch * length / seconds))  # fmt: skip
    return rows


def test_plot_has_a_fitted_series_per_batch_size_and_a_series_per_length(tmp_path):
    """Left: one series per batch size, each with its own least-squares line (its slope that of
    np.polyfit on the series' points) and a legend; right: one series per length. Only the first
    decoder's points are drawn, and the title says so."""
    rows = _plot_rows()
    fig = report.figure(rows)
    steps, rates = fig.axes
    for batch in (4, 8):
        (series,) = [line for line in steps.get_lines() if line.get_gid() == f"batch {batch}"]
        (fit,) = [line for line in steps.get_lines() if line.get_gid() == f"fit {batch}"]
        shown = [r for r in rows if r["point"]["batch_size"] == batch][:3]  # The basic decoder's.
        x = [r["point"]["tgt_len"] for r in shown]
        y = [1 / r["train_steps_per_s"] for r in shown]
        np.testing.assert_allclose(series.get_xydata(), np.array([x, y]).T)
        (x0, y0), (x1, y1) = fit.get_xydata()
        slope, intercept = np.polyfit(x, y, 1)
        assert (y1 - y0) / (x1 - x0) == pytest.approx(slope)
        assert y0 - x0 * slope == pytest.approx(intercept)
        assert series.get_color() == fit.get_color() and fit.get_linestyle() == "--"
    legend = [t.get_text() for t in steps.get_legend().get_texts()]
    assert [t.split(":")[0] for t in legend] == ["batch 4", "batch 8"] and "R²" in legend[0]
    assert [t.get_text() for t in rates.get_legend().get_texts()] == [
        "length 4", "length 8", "length 12"
    ]  # fmt: skip
    assert [line.get_xydata()[:, 0].tolist() for line in rates.get_lines()] == [[4, 8]] * 3
    assert fig.texts[0].get_text() == "decoder=basic (6 points of other values: see benchmark.md)"
    report.plot(rows, str(tmp_path / "benchmark.png"))
    assert (tmp_path / "benchmark.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_of_a_single_point(tmp_path):
    """One point: one series per panel, no fit, no title; the PNG is written."""
    fig = report.figure(_plot_rows()[:1])
    steps, rates = fig.axes
    assert [line.get_gid() for line in steps.get_lines()] == ["batch 4"]
    assert [t.get_text() for t in steps.get_legend().get_texts()] == ["batch 4"]
    assert len(rates.get_lines()) == 1 and not fig.texts
    report.plot(_plot_rows()[:1], str(tmp_path / "benchmark.png"))
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
