"""Tests for sweeps/report.py: the results table and plot, built from the trial folders alone."""

import math
import os
from pathlib import Path

import pytest
from sweeps.sweep_helpers import METRIC, read_csv

from s2s_jax.errors import UserError
from s2s_jax.sweeps import files
from s2s_jax.sweeps import report as sweep_report


def _row(name: str, metric: float | None, **swept) -> sweep_report.Row:
    return sweep_report.Row(name, swept, "ok" if metric is not None else "failed", metric, 1.0)


def test_report_sorts_by_metric_and_picks_log_axes() -> None:
    """Best first in the declared direction, unscored last; log x only over >= 2 decades."""
    rows = [
        _row("a", 0.5, lr=1e-4, hidden=32, cell="gru"),
        _row("b", None, lr=1e-3, hidden=64, cell="lstm"),
        _row("c", 0.9, lr=1e-2, hidden=64, cell="lstm"),
        _row("d", math.nan, lr=1e-2, hidden=32, cell="gru"),
    ]
    assert [r.name for r in sweep_report.sort_rows(rows, "max")] == ["c", "a", "b", "d"]
    assert [r.name for r in sweep_report.sort_rows(rows, "min")] == ["a", "c", "b", "d"]
    fig = sweep_report.figure(rows, METRIC, "max")
    scales = [(ax.get_xlabel(), ax.get_xscale()) for ax in fig.axes if ax.get_visible()]
    assert scales == [("lr", "log"), ("hidden", "linear"), ("cell", "linear")]
    assert not sweep_report.use_log_x([1e-3, 5e-2])  # Under two decades.
    assert not sweep_report.use_log_x([0.0, 1.0, 100.0])  # Not all positive.


def _trial(workdir: Path, name: str, swept: dict, status: dict | None, final: dict | None) -> None:
    """A trial folder as the runner leaves it."""
    (workdir / name).mkdir(parents=True)
    files.write_json(str(workdir / name / files.OVERRIDES), {"swept": swept, "shared": {}})
    if status is not None:
        files.write_json(str(workdir / name / files.STATUS), status)
    if final is not None:
        files.write_json(str(workdir / name / files.FINAL_EVAL), final)


def test_write_builds_csv_markdown_and_plot(tmp_path: Path) -> None:
    """Every trial folder is a row, best first: scored, then failed and pending ones by name."""
    ok = {"status": "ok", "wall_seconds": 75.4}
    _trial(tmp_path, "h=8", {"h": 8, "cell": "a|b"}, ok, {"best_eval": {"exact_match": 0.25}})
    _trial(tmp_path, "h=16", {"h": 16}, ok, {"best_eval": {"exact_match": 0.75}})
    _trial(tmp_path, "h=4", {"h": 4}, {"status": "failed", "wall_seconds": 2.0}, None)
    _trial(tmp_path, "h=2", {"h": 2}, None, None)  # Never started.
    rows = sweep_report.write(str(tmp_path), METRIC, "max")
    assert [r.name for r in rows] == ["h=16", "h=8", "h=2", "h=4"]

    table = read_csv(tmp_path / "results.csv")
    assert list(table[0]) == ["trial", "h", "cell", METRIC, "status", "wall_seconds"]
    assert [list(r.values()) for r in table] == [
        ["h=16", "16", "", "0.75", "ok", "75.4"],
        ["h=8", "8", "a|b", "0.25", "ok", "75.4"],
        ["h=2", "2", "", "", "pending", ""],
        ["h=4", "4", "", "", "failed", "2.0"],
    ]
    markdown = (tmp_path / "results.md").read_text()
    assert markdown == sweep_report.markdown(rows, METRIC, "max")
    lines = markdown.splitlines()
    assert lines[0] == f"# Sweep results: 4 trials, by {METRIC} (highest first)"
    assert lines[4] == "| h=16 | 16 |  | 0.75 | ok | 0:01:15 |"
    assert lines[5] == "| h=8 | 8 | a\\|b | 0.25 | ok | 0:01:15 |"  # '|' escaped.
    assert len(lines) == 4 + len(rows)
    assert (tmp_path / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "lowest first" in sweep_report.markdown(rows, METRIC, "min")


def test_write_refuses_a_folder_without_trials(tmp_path: Path) -> None:
    """A workdir without trial folders is a UserError; no result file is written."""
    with pytest.raises(UserError, match="holds no sweep trials"):
        sweep_report.write(str(tmp_path), METRIC, "max")
    assert os.listdir(tmp_path) == []
