"""Tests for s2s_jax.benchmark.compare: per-point medians, ratios and spreads of hand-made run
records, the table, the heat map, the run file, and the launch.py flags that pin one point."""

import json
import os

import pytest
from absl import flags
from ml_collections import config_flags

from s2s_jax.benchmark import compare, grid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCHMARK = os.path.join(ROOT, "experiments", "benchmark.py")

_BASE_POINT = {"hidden_size": 512, "cell": "lstm", "dtype": "float32", "scan_unroll": 1,
               "backend": "fused", "decoder": "basic", "remat": False, "loss_chunk": 0}  # fmt: skip

# (batch, length) -> per-run (s2s_jax, twin) train tok/s and greedy tok/s, runs 1-3.
_RUNS = {
    (16, 16): {"train": ([100, 120, 110], [100, 80, 100]),
               "greedy": ([200, 200, 200], [100, 100, 400])},
    (16, 32): {"train": ([90, 90, 90], [100, 100, 100]),
               "greedy": ([300, 150, 150], [100, 100, 100])},
    (32, 16): {"train": ([50, 60, 70], [100, 60, 50]),
               "greedy": ([100, 100, 100], [125, 125, 125])},
    (32, 32): {"train": ([130, 120, 140], [100, 100, 100]),
               "greedy": ([100, 100, 100], [50, 50, 50])},
}  # fmt: skip
# Worked by hand: (median ours, median twin, ratio of medians, min and max of per-run ratios).
_EXPECTED = {
    (16, 16): {"train": (110, 100, 1.1, 1.0, 1.5), "greedy": (200, 100, 2.0, 0.5, 2.0)},
    (16, 32): {"train": (90, 100, 0.9, 0.9, 0.9), "greedy": (150, 100, 1.5, 1.5, 3.0)},
    (32, 16): {"train": (60, 60, 1.0, 0.5, 1.4), "greedy": (100, 125, 0.8, 0.8, 0.8)},
    (32, 32): {"train": (130, 100, 1.3, 1.2, 1.4), "greedy": (100, 50, 2.0, 2.0, 2.0)},
}


def _point(batch: int, length: int, **axes) -> dict:
    return {"batch_size": batch, **_BASE_POINT, "src_len": length, "tgt_len": length, **axes}


def _records(runs: dict = _RUNS, **axes) -> list[dict]:
    """Run-major records, as compare_torch appends them: run 1 at every point, then run 2..."""
    records = []
    for run in range(3):
        for (batch, length), kinds in runs.items():
            ours = {k: kinds[k][0][run] for k in compare.KINDS}
            records.append({
                "run": run + 1, "variant": "grid", "point": _point(batch, length, **axes),
                "s2s_jax": {**ours, "compile_s": [1.0, 2.0, 3.0][run],
                            "utilization": [0.4, 0.6, 0.5][run]},
                "torch": {k: kinds[k][1][run] for k in compare.KINDS},
            })  # fmt: skip
    return records


# The twin's utilization by hand, per run ours_util · twin_train / ours_train with the utils
# 0.4, 0.6, 0.5 of _records, and its median: e.g. (32, 32) 0.4·100/130, 0.6·100/120, 0.5·100/140.
_TWIN_UTILIZATION = {(16, 16): 0.4, (16, 32): 0.5 * 100 / 90, (32, 16): 0.6,
                     (32, 32): 0.5 * 100 / 140}  # fmt: skip


def test_summarize_gives_hand_computed_medians_ratios_and_spreads():
    entries = compare.summarize(_records())
    assert [(e["point"]["batch_size"], e["point"]["src_len"]) for e in entries] == list(_RUNS)
    for e in entries:
        assert e["runs"] == 3
        assert e["s2s_jax_compile_s"] == 2.0 and e["s2s_jax_utilization"] == 0.5
        twin = _TWIN_UTILIZATION[(e["point"]["batch_size"], e["point"]["src_len"])]
        assert e["torch_utilization"] == pytest.approx(twin)
        assert e["train_ratio_at_peak"] == pytest.approx(1 / twin)
        for kind in compare.KINDS:
            keys = ("s2s_jax", "torch", "ratio", "ratio_min", "ratio_max")
            values = tuple(e[kind][k] for k in keys)
            want = _EXPECTED[(e["point"]["batch_size"], e["point"]["src_len"])][kind]
            assert values == pytest.approx(want), (e["point"], kind)


def test_records_group_by_point_in_any_order():
    """Resumed files interleave runs; grouping keys on the point, whatever its keys' order,
    and the points come by batch size, then length, whatever the records' order."""
    records = _records()
    shuffled = records[::-1]
    shuffled[0] = {**shuffled[0], "point": dict(reversed(list(shuffled[0]["point"].items())))}
    assert compare.summarize(shuffled) == compare.summarize(records)
    entries = compare.summarize(_records(dict(reversed(_RUNS.items()))))
    assert [(e["point"]["batch_size"], e["point"]["src_len"]) for e in entries] == list(_RUNS)


def test_markdown_table_has_one_row_per_point_with_the_ratios_and_spreads():
    table = compare.markdown_table(compare.summarize(_records()))
    lines = table.strip().split("\n")
    assert len(lines) == 2 + len(_RUNS)
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    assert head[:5] == ["batch", "src", "tgt", "decoder", "runs"]  # Nothing else varies.
    row = [c.strip() for c in lines[2].strip("|").split("|")]
    assert row == ["16", "16", "16", "basic", "3", "110", "100", "1.10x (1.00-1.50)",
                   "200", "100", "2.00x (0.50-2.00)", "50%", "40%", "2.50x"]  # fmt: skip
    assert all(len(line.split("|")) == len(lines[0].split("|")) for line in lines)
    # An axis that varies gets its column.
    varied = _records() + _records(hidden_size=256)
    head = compare.markdown_table(compare.summarize(varied)).split("\n")[0]
    assert "| decoder | hidden_size | runs |" in head


def _cells(ax) -> dict:
    """{(batch label, length label): annotated text} of one heat map panel."""
    ys = [t.get_text() for t in ax.get_yticklabels()]
    xs = [t.get_text() for t in ax.get_xticklabels()]
    cells = {}
    for text in ax.texts:
        x, y = text.get_position()
        cells[(ys[round(y)], xs[round(x)])] = text.get_text()
    return cells


def test_heatmap_cells_are_the_ratios_over_batch_and_length():
    entries = compare.summarize(_records())
    fig = compare.heatmap_figure(entries)
    train, greedy, _colorbar = fig.axes
    for ax, kind in ((train, "train"), (greedy, "greedy")):
        want = {(str(b), str(n)): f"{v[kind][2]:.2f}" for (b, n), v in _EXPECTED.items()}
        assert _cells(ax) == want
        assert ax.get_ylabel() == "batch size" and ax.get_xlabel() == "length"
        image = ax.get_images()[0]
        assert image.get_cmap().name == "RdYlGn" and image.norm.vcenter == 1.0
    assert _cells(train)[("16", "32")] == "0.90" and "3 runs" in fig._suptitle.get_text()


def test_heatmap_has_a_row_of_panels_per_other_axis_value_and_blanks_missing_points():
    runs = dict(list(_RUNS.items())[:3])  # (32, 32) not measured.
    entries = compare.summarize(_records(runs) + _records(runs, decoder="luong"))
    fig = compare.heatmap_figure(entries)
    panels = fig.axes[:-1]
    assert len(panels) == 4
    assert ["decoder=luong" in ax.get_title() for ax in panels] == [False, False, True, True]
    for ax in panels:
        assert len(ax.texts) == 3 and ("32", "32") not in _cells(ax)
    assert _cells(panels[2])[("32", "16")] == "1.00"


def test_write_report_writes_the_table_json_and_png(tmp_path):
    records = _records()
    entries = compare.write_report(records, str(tmp_path))
    assert entries == compare.summarize(records)
    with open(tmp_path / "compare.json", encoding="utf-8") as f:
        assert json.load(f) == {"variant": "grid", "points": entries}
    assert (tmp_path / "compare.md").read_text() == compare.markdown_table(entries)
    assert (tmp_path / "compare_heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_file_keeps_whole_records_and_drops_a_cut_last_line(tmp_path):
    path = str(tmp_path / "compare_runs.jsonl")
    assert compare.read_records(path) == []
    records = _records()[:2]
    for r in records:
        compare.append_record(path, r)
    assert compare.read_records(path) == records
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"run": 3, "poi')  # Interrupted mid-write.
    assert compare.read_records(path) == records
    with open(path, "w", encoding="utf-8") as f:
        f.write('{"run": 1\n{"run": 2}\n')
    with pytest.raises(ValueError, match=r"compare_runs\.jsonl, line 1"):
        compare.read_records(path)


def test_headline_is_the_single_point_summary():
    entry = compare.summarize(_records({(32, 32): _RUNS[(32, 32)]}))[0]
    assert compare.headline(entry, "base") == {
        "variant": "base", "decoder": "basic", "runs": 3,
        "train": {"s2s_jax": 130, "torch": 100, "ratio": 1.3},
        "greedy": {"s2s_jax": 100, "torch": 50, "ratio": 2.0},
        "s2s_jax_compile_s": 2.0, "s2s_jax_utilization": 0.5,
        "torch_utilization": 0.5 * 100 / 140, "train_ratio_at_peak": 1 / (0.5 * 100 / 140),
    }  # fmt: skip


def _parse(variant: str, args: list[str]):
    """The config launch.py would get from these flags (ml_collections' config_flags)."""
    argv = ["launch.py", f"--config={BENCHMARK}:{variant}", *args]
    values = flags.FlagValues()
    config_flags.DEFINE_config_file(
        "config", None, "", flag_values=values, lock_config=True, sys_argv=argv
    )
    values(argv)
    return values.config


@pytest.mark.parametrize("variant", ["grid", "scaling"])
def test_pin_args_make_the_benchmark_measure_exactly_that_point(variant):
    """For every point of the variant, its pinning flags, parsed as launch.py parses them,
    leave a grid of that one point (`scaling` has the optional `devices` axis too)."""
    config = _parse(variant, [])
    axes = list(config.benchmark.grid.keys())
    points = grid.grid_points(config)
    assert len(points) == {"grid": 12, "scaling": 8}[variant]
    for point in points:
        pinned = _parse(variant, compare.pin_args(point, axes))
        assert grid.grid_points(pinned) == [point]
    with pytest.raises(ValueError, match="grid axis 'devices'"):
        compare.pin_args(_point(16, 16), ["batch_size", "devices"])


def test_kernel_bound_gives_the_share_and_the_train_ratio_at_it():
    """Per run, s2s_jax's train over its kernel bound and the bound over the twin's train; the
    medians by hand for (16, 16): ours 100, 120, 110; twin 100, 80, 100; bounds 125, 150, 110."""
    records = _records()
    for r, bound in zip(records[::4], (125, 150, 110), strict=True):  # The (16, 16) records.
        r["s2s_jax"]["kernel_bound"] = bound
    entries = compare.summarize(records)
    first = entries[0]
    assert first["s2s_jax_of_kernel_bound"] == pytest.approx(0.8)  # 0.8, 0.8, 1.0.
    assert first["train_ratio_at_kernel_bound"] == pytest.approx(1.25)  # 1.25, 1.875, 1.1.
    assert all("train_ratio_at_kernel_bound" not in e for e in entries[1:])
    lines = compare.markdown_table(entries).strip().split("\n")
    assert lines[0].endswith("| s2s_jax of kernel bound | train ratio at kernel bound |")
    assert lines[2].endswith("| 80% | 1.25x |") and lines[3].endswith("| - | - |")
    headline = compare.headline(first, "grid")
    assert headline["train_ratio_at_kernel_bound"] == pytest.approx(1.25)
    assert "train_ratio_at_kernel_bound" not in compare.headline(entries[1], "grid")
    # A point where one run lacks the bound gets none (no median of fewer runs).
    del records[4]["s2s_jax"]["kernel_bound"]
    assert "train_ratio_at_kernel_bound" not in compare.summarize(records)[0]


def test_greedy_kernel_bound_gives_the_greedy_ratio_at_it():
    """(16, 16): twin greedy 100, 100, 400 per run; bounds 150, 300, 200: ratios 1.5, 3, 0.5."""
    records = _records()
    for r, bound in zip(records[::4], (150, 300, 200), strict=True):
        r["s2s_jax"]["greedy_kernel_bound"] = bound
    entries = compare.summarize(records)
    assert entries[0]["greedy_ratio_at_kernel_bound"] == pytest.approx(1.5)
    lines = compare.markdown_table(entries).strip().split("\n")
    assert lines[0].endswith("| train ratio at peak | greedy ratio at kernel bound |")
    assert lines[2].endswith("| 1.50x |") and lines[3].endswith("| - |")
