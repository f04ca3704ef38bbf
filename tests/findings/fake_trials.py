"""Helpers of the findings tests: a sweep's workdir written by hand, as a finished sweep
leaves it (sweep.json, and per trial overrides.json, final_eval.json, metrics.jsonl,
length_buckets.json and beam_grid.json)."""

import json
from pathlib import Path
from typing import Any


def _write(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=1), encoding="utf-8")


def trial_name(swept: dict[str, Any]) -> str:
    return ",".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in swept.items())


def write_sweep(workdir: Path, experiment: str, swept: list[dict[str, Any]]) -> list[Path]:
    """W/sweep.json and an empty folder with overrides.json per trial; returns the folders."""
    workdir.mkdir(parents=True, exist_ok=True)
    names = [trial_name(s) for s in swept]
    _write(workdir / "sweep.json", {
        "experiment": experiment, "metric": "best_eval.exact_match", "mode": "max",
        "shared": {}, "trials": dict(zip(names, swept, strict=True)),
    })  # fmt: skip
    folders = []
    for name, s in zip(names, swept, strict=True):
        (workdir / name).mkdir(exist_ok=True)
        _write(
            workdir / name / "overrides.json", {"experiment": experiment, "swept": s, "shared": {}}
        )
        folders.append(workdir / name)
    return folders


def write_results(
    folder: Path,
    final_eval: dict[str, Any],
    curve: list[tuple[int, float]] | None = None,
    buckets: dict[str, list[dict[str, Any]]] | None = None,
    split: str = "eval",
    key: str = "exact_match",
    grid: dict[str, list[dict[str, Any]]] | None = None,
) -> None:
    """final_eval.json; metrics.jsonl with train lines and `curve` as `split` evals (and a
    'best_<split>' line at the end, which is no point of the curve); length_buckets.json;
    beam_grid.json."""
    _write(folder / "final_eval.json", final_eval)
    lines = []
    for step, value in curve or []:
        lines.append({"step": step, "split": "train", "loss": 1.0})
        lines.append({"step": step, "split": split, "loss": 2.0, key: value})
    if curve:
        lines.append({"step": curve[-1][0], "split": f"best_{split}", key: -1.0})
    (folder / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    if buckets is not None:
        _write(folder / "length_buckets.json", buckets)
    if grid is not None:
        _write(folder / "beam_grid.json", grid)


def grid_rows(scores: dict[tuple[int, float], float], key: str = "exact_match") -> list[dict]:
    """beam_grid.json rows: (beam_size, length_penalty) -> score, in that order."""
    return [{"beam_size": b, "length_penalty": a, key: v} for (b, a), v in scores.items()]


def bucket_rows(scores: list[float | None], key: str = "exact_match") -> list[dict[str, Any]]:
    """length_buckets.json rows of buckets 1-10, 11-20, 21+ with these scores (None: empty)."""
    bounds = [(1, 10), (11, 20), (21, None)]
    rows = []
    for (lo, hi), score in zip(bounds, scores, strict=True):
        label = f"{lo}+" if hi is None else f"{lo}-{hi}"
        row: dict[str, Any] = {"bucket": label, "min": lo, "max": hi, "count": 0}
        if score is not None:
            row.update({"count": 5, key: score})
        rows.append(row)
    return rows
