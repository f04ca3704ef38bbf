"""Tests for s2s_jax.findings.figures and scripts/finding_figure.py, on hand-written trial
folders: the PNG and the table are written, and an unfinished trial is named."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from findings.fake_trials import bucket_rows, grid_rows, write_results, write_sweep

from s2s_jax.findings import Figure, figures, table, trials

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PNG = b"\x89PNG\r\n\x1a\n"
FIGURES = {
    "curves": Figure("Curves", "curves", ("best_eval.exact_match",), curve="eval.exact_match"),
    "length": Figure(
        "Length", "length", ("best_eval.exact_match",), buckets=("best_eval.exact_match",)
    ),
    "bars": Figure("Bars", "bars", ("best_eval.exact_match", "best_eval.token_accuracy")),
    "beam": Figure("Beam", "beam", ("best_eval.exact_match",), grid="best_eval.exact_match"),
}


def _two_trials(workdir: Path, experiment: str = "reversal.py:smoke") -> list[Path]:
    """Two conditions of one seed each (a curve of 3 evals, 3 length buckets, 4 searches)."""
    swept = [{"model.reverse_source": r, "seed": 0} for r in (True, False)]
    folders = write_sweep(workdir, experiment, swept)
    for folder, em in zip(folders, (0.5, 0.25), strict=True):
        final = {"step": 30, "best_eval": {"exact_match": em, "token_accuracy": 2 * em}}
        write_results(
            folder,
            final,
            curve=[(10, em / 4), (20, em / 2), (30, em)],
            buckets={"best_eval": bucket_rows([em, em / 2, None])},
            grid={"best_eval": grid_rows({(1, 0.0): em, (1, 0.6): em, (4, 0.0): 0.9, (4, 0.6): 1})},
        )
    return folders


@pytest.mark.parametrize("kind", list(FIGURES))
def test_write_draws_the_png_and_the_table(tmp_path: Path, kind: str) -> None:
    _two_trials(tmp_path)
    text = figures.write(str(tmp_path), FIGURES[kind])
    assert (tmp_path / figures.PLOT).read_bytes()[:8] == PNG
    assert (tmp_path / figures.MARKDOWN).read_text(encoding="utf-8") == text
    conditions = trials.group(trials.load(str(tmp_path))[1])
    assert text == table.markdown(FIGURES[kind], conditions, "reversal.py:smoke", str(tmp_path))
    assert "| reverse_source=True | 1 | 30 | 0.5 |" in text


def test_unfinished_trial_stops_before_anything_is_written(tmp_path: Path) -> None:
    _, second = _two_trials(tmp_path)
    (second / "final_eval.json").unlink()
    with pytest.raises(trials.MissingTrialError, match=f"{second} \\(no final_eval.json\\)"):
        figures.write(str(tmp_path), FIGURES["bars"])
    assert not (tmp_path / figures.PLOT).exists() and not (tmp_path / figures.MARKDOWN).exists()


def _script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "scripts/finding_figure.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_script_draws_from_the_config_that_sweep_json_names(tmp_path: Path) -> None:
    """reversal.py:smoke declares curves of eval exact match; a missing trial exits non-zero."""
    _, second = _two_trials(tmp_path)
    proc = _script(f"--workdir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "finding.png").read_bytes()[:8] == PNG
    assert proc.stdout == (tmp_path / "finding.md").read_text(encoding="utf-8")
    assert proc.stdout.startswith("# Sutskever et al. (2014): source reversal")

    proc = _script(f"--workdir={tmp_path}", "--config=experiments/findings/length.py:smoke")
    assert proc.returncode != 0 and "which ran 'reversal.py:smoke'" in proc.stderr

    (second / "final_eval.json").unlink()
    proc = _script(f"--workdir={tmp_path}")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("error: 1 of 2 trials have not")
    assert f"{second} (no final_eval.json)" in proc.stderr


def test_beam_figure_draws_a_line_per_length_penalty(tmp_path: Path) -> None:
    """Five length penalties (more than the four line styles) give five lines per condition."""
    folders = write_sweep(tmp_path, "beam.py:smoke", [{"seed": 0}])
    grid = {(beam, alpha): 0.5 for beam in (1, 4) for alpha in (0.0, 0.2, 0.4, 0.6, 0.8)}
    final = {"step": 30, "best_eval": {"exact_match": 0.5}}
    write_results(folders[0], final, grid={"best_eval": grid_rows(grid)})
    conditions = trials.group(trials.load(str(tmp_path))[1])
    fig = figures.draw(FIGURES["beam"], conditions)
    labels = [c.get_label() for c in fig.axes[0].containers]
    assert labels == [f"all, alpha {a:g} (n=1)" for a in (0.0, 0.2, 0.4, 0.6, 0.8)]


def test_curves_figure_draws_a_panel_per_minima_curve(tmp_path: Path) -> None:
    _two_trials(tmp_path)
    figure = Figure(
        "Curves",
        "curves",
        ("best_eval.exact_match",),
        curve="eval.exact_match",
        minima=("eval.loss",),
    )
    fig = figures.draw(figure, trials.group(trials.load(str(tmp_path))[1]))
    assert [ax.get_ylabel() for ax in fig.axes if ax.get_visible()] == [
        "eval exact_match",
        "eval loss",
    ]


def test_length_figure_draws_a_panel_per_bucket_path(tmp_path: Path) -> None:
    folders = _two_trials(tmp_path)
    for folder in folders:  # A second set's buckets beside best_eval's.
        rows = json.loads((folder / "length_buckets.json").read_text())
        rows["best_test"] = rows["best_eval"]
        (folder / "length_buckets.json").write_text(json.dumps(rows))
    figure = Figure(
        "Length",
        "length",
        ("best_eval.exact_match",),
        buckets=("best_eval.exact_match", "best_test.exact_match"),
    )
    fig = figures.draw(figure, trials.group(trials.load(str(tmp_path))[1]))
    assert [ax.get_ylabel() for ax in fig.axes if ax.get_visible()] == [
        "best_eval exact_match",
        "best_test exact_match",
    ]
