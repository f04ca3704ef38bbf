"""Tests for s2s_jax.findings.table: mean ± std over seeds, checked against hand-worked numbers."""

import math
from pathlib import Path

import pytest
from findings.fake_trials import bucket_rows, grid_rows, write_results, write_sweep

from s2s_jax.findings import Figure, table, trials

FIGURE = Figure("Two seeds", "bars", ("best_dev.chrf", "best_eval.exact_match"))


def _two_seeds(
    tmp_path: Path,
    buckets: list[list[float | None]] | None = None,
    grids: list[dict[tuple[int, float], float]] | None = None,
    curves: list[list[tuple[int, float]]] | None = None,
) -> list:
    folders = write_sweep(
        tmp_path, "context.py:smoke", [{"model.decoder": "context", "seed": s} for s in (0, 1)]
    )
    for i, (folder, chrf, em, step) in enumerate(
        zip(folders, (10.0, 14.0), (0.25, 0.5), (100, 120), strict=True)
    ):
        final = {"step": step, "best_dev": {"chrf": chrf}, "best_eval": {"exact_match": em}}
        rows = None if buckets is None else {"best_eval": bucket_rows(buckets[i])}
        grid = None if grids is None else {"best_eval": grid_rows(grids[i])}
        curve = None if curves is None else curves[i]
        write_results(folder, final, curve, rows, split="dev", key="perplexity", grid=grid)
    return trials.group(trials.load(str(tmp_path))[1])


def _rows(text: str) -> list[list[str]]:
    return [
        [c.strip() for c in line.strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("| ")
    ]


def test_table_gives_mean_and_sample_std_over_seeds(tmp_path: Path) -> None:
    """chrF 10 and 14: mean 12, std sqrt(((10-12)² + (14-12)²) / 1) = sqrt(8).
    Exact match 0.25 and 0.5: mean 0.375, std sqrt(2 · 0.125²) = 0.125·sqrt(2).
    Steps 100 and 120: mean 110, std sqrt(200)."""
    text = table.markdown(FIGURE, _two_seeds(tmp_path), "context.py:smoke", "W")
    header, row = _rows(text)
    assert header == ["condition", "n", "steps", "best_dev.chrf", "best_eval.exact_match"]
    assert row == [
        "decoder=context",
        "2",
        f"110 ± {math.sqrt(200):.4g}",
        f"12 ± {math.sqrt(8):.4g}",
        f"0.375 ± {0.125 * math.sqrt(2):.4g}",
    ]
    assert row[3] == "12 ± 2.828"  # The same numbers, written out.


def test_length_table_has_a_row_per_bucket(tmp_path: Path) -> None:
    """Bucket 1-10: 0.9 and 0.7 -> 0.8 ± sqrt(0.02); 11-20: only seed 1 has examples -> 0.3;
    21+: no examples -> '-'."""
    em = "best_eval.exact_match"
    figure = Figure("By length", "length", (em,), buckets=(em,))
    conditions = _two_seeds(tmp_path, buckets=[[0.9, None, None], [0.7, 0.3, None]])
    rows = _rows(table.markdown(figure, conditions, "length.py:smoke", "W"))
    assert rows[2] == ["bucket", "count", "decoder=context"]
    assert rows[3:] == [
        ["1-10", "5", f"0.8 ± {math.sqrt(0.02):.4g}"],
        ["11-20", "0-5", "0.3"],
        ["21+", "0", "-"],
    ]


def test_beam_table_has_a_row_per_search(tmp_path: Path) -> None:
    """Beam 1: 0.5 and 0.7 -> 0.6 ± sqrt(0.02); beam 4 at alpha 0.6: 0.8 and 0.8 -> 0.8 ± 0;
    beam 8 only in seed 1's grid -> 0.9 alone. Rows keep the grid's order."""
    em = "best_eval.exact_match"
    figure = Figure("Beam", "beam", (em,), grid=em)
    grids = [{(1, 0.0): 0.5, (4, 0.6): 0.8}, {(1, 0.0): 0.7, (4, 0.6): 0.8, (8, 0.0): 0.9}]
    rows = _rows(table.markdown(figure, _two_seeds(tmp_path, grids=grids), "beam.py:smoke", "W"))
    assert rows[2] == ["search", "decoder=context"]
    assert rows[3:] == [
        ["beam 1, alpha 0", f"0.6 ± {math.sqrt(0.02):.4g}"],
        ["beam 4, alpha 0.6", "0.8 ± 0"],
        ["beam 8, alpha 0", "0.9"],
    ]


@pytest.mark.parametrize("kind", ["curves", "bars"])
def test_minima_columns_give_each_curve_s_lowest_value(tmp_path: Path, kind: str) -> None:
    """Dev perplexity 3, 2, 2.5 (lowest 2) and 4, 3 (lowest 3): 2.5 ± sqrt(0.5). The line
    'best_dev' that follows each curve (perplexity -1) is no point of it."""
    curve = "dev.perplexity" if kind == "curves" else ""
    figure = Figure("Curves", kind, ("best_dev.chrf",), curve=curve, minima=("dev.perplexity",))
    curves = [[(10, 3.0), (20, 2.0), (30, 2.5)], [(10, 4.0), (20, 3.0)]]
    header, row = _rows(table.markdown(figure, _two_seeds(tmp_path, curves=curves), "e", "W"))
    assert header[-2:] == ["best_dev.chrf", "min dev.perplexity"]
    assert row[-2:] == [f"12 ± {math.sqrt(8):.4g}", f"2.5 ± {math.sqrt(0.5):.4g}"]


@pytest.mark.parametrize("kind", ["curves", "bars"])
def test_at_steps_columns_compare_conditions_at_equal_steps(tmp_path: Path, kind: str) -> None:
    """Dev perplexity at step 20: 2 and 3 -> 2.5 ± sqrt(0.5); at step 30 only seed 0 logged
    it (2.5), which the cell says; the train loss (1 at every step) at step 10: 1 ± 0."""
    curve = "dev.perplexity" if kind == "curves" else ""
    at_steps = ("dev.perplexity@20", "dev.perplexity@30", "train.loss@10")
    figure = Figure("Curves", kind, ("best_dev.chrf",), curve=curve, at_steps=at_steps)
    curves = [[(10, 3.0), (20, 2.0), (30, 2.5)], [(10, 4.0), (20, 3.0)]]
    header, row = _rows(table.markdown(figure, _two_seeds(tmp_path, curves=curves), "e", "W"))
    assert header[-3:] == [
        "dev.perplexity at step 20", "dev.perplexity at step 30", "train.loss at step 10",
    ]  # fmt: skip
    assert row[-3:] == [f"2.5 ± {math.sqrt(0.5):.4g}", "2.5 (n=1)", "1 ± 0"]


def test_length_table_per_bucket_path(tmp_path: Path) -> None:
    """Two paths of Figure.buckets, two tables: test 1-10 has 0.2 and 0.4 -> 0.3 ± sqrt(0.02)."""
    folders = write_sweep(tmp_path, "length.py:smoke", [{"seed": s} for s in (0, 1)])
    for folder, em in zip(folders, (0.2, 0.4), strict=True):
        buckets = {"best_eval": bucket_rows([1.0, None, None]), "best_test": bucket_rows([em] * 3)}
        write_results(folder, {"step": 10, "best_eval": {"exact_match": 1.0}}, buckets=buckets)
    figure = Figure("By length", "length", ("best_eval.exact_match",),
                    buckets=("best_eval.exact_match", "best_test.exact_match"))  # fmt: skip
    conditions = trials.group(trials.load(str(tmp_path))[1])
    text = table.markdown(figure, conditions, "length.py:smoke", "W")
    assert "## exact_match of best_eval by source length" in text
    assert "## exact_match of best_test by source length" in text
    rows = _rows(text)
    assert rows[3] == ["1-10", "5", "1 ± 0"]  # best_eval's table first.
    assert rows[7] == ["1-10", "5", f"0.3 ± {math.sqrt(0.02):.4g}"]
