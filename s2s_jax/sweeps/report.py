"""A sweep's results, built from its trial folders alone: results.csv, results.md, results.png.

Rows are sorted by the sweep's metric (best first; trials without a value last),
with one column per swept field, then the metric, the status and the wall time.
The plot has one panel per swept field: the metric against the field's values,
on a log x-axis when they are positive numbers spanning two decades or more.
"""

import csv
import dataclasses
import math
import os
from typing import TYPE_CHECKING, Any

from s2s_jax.errors import UserError
from s2s_jax.progress import format_duration
from s2s_jax.sweeps import files

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn, not with the package.
    from matplotlib.figure import Figure
from s2s_jax.sweeps.spec import value_text

CSV, MARKDOWN, PLOT = "results.csv", "results.md", "results.png"


@dataclasses.dataclass(frozen=True)
class Row:
    name: str
    swept: dict[str, Any]
    status: str
    metric: float | None
    wall_seconds: float | None


def collect(workdir: str, metric: str) -> list[Row]:
    """One row per trial folder of `workdir`, in name order."""
    rows = []
    for trial_dir in files.trial_dirs(workdir):
        overrides = files.read_json(os.path.join(trial_dir, files.OVERRIDES))
        status = files.read_json(os.path.join(trial_dir, files.STATUS)) or {}
        final = files.read_json(os.path.join(trial_dir, files.FINAL_EVAL))
        rows.append(
            Row(
                name=os.path.basename(trial_dir),
                swept=overrides["swept"],
                status=status.get("status", files.PENDING),
                metric=files.metric_value(final, metric),
                wall_seconds=status.get("wall_seconds"),
            )
        )
    return rows


def _scored(row: Row) -> bool:
    return row.metric is not None and math.isfinite(row.metric)


def sort_rows(rows: list[Row], mode: str) -> list[Row]:
    """Best first by metric ('max': highest first); rows without a finite value last; then name."""
    sign = -1.0 if mode == "max" else 1.0
    return sorted(
        rows, key=lambda r: (0, sign * r.metric, r.name) if _scored(r) else (1, 0, r.name)
    )


def swept_fields(rows: list[Row]) -> list[str]:
    return list(dict.fromkeys(k for r in rows for k in r.swept))


def _cells(row: Row, fields: list[str]) -> list[str]:
    return [value_text(row.swept[f]) if f in row.swept else "" for f in fields]


def _write_csv(path: str, rows: list[Row], fields: list[str], metric: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["trial", *fields, metric, "status", "wall_seconds"])
        for r in rows:
            wall = "" if r.wall_seconds is None else f"{r.wall_seconds:.1f}"
            value = "" if r.metric is None else repr(r.metric)
            writer.writerow([r.name, *_cells(r, fields), value, r.status, wall])


def markdown(rows: list[Row], metric: str, mode: str) -> str:
    """The table as Markdown, with a title line."""
    fields = swept_fields(rows)
    order = "highest" if mode == "max" else "lowest"
    lines = [
        f"# Sweep results: {len(rows)} trials, by {metric} ({order} first)",
        "",
        "| " + " | ".join(["trial", *fields, metric, "status", "wall time"]) + " |",
        "|" + "---|" * (len(fields) + 4),
    ]
    for r in rows:
        value = "" if r.metric is None else f"{r.metric:.4g}"
        wall = "" if r.wall_seconds is None else format_duration(r.wall_seconds)
        cells = [r.name, *_cells(r, fields), value, r.status, wall]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _numeric(values: list[Any]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def use_log_x(values: list[Any]) -> bool:
    """Whether a field's values are positive numbers spanning two decades or more."""
    return (
        bool(values) and _numeric(values) and min(values) > 0 and max(values) / min(values) >= 100
    )


def _x(row: Row, field: str | None) -> Any:
    """The row's value of `field`; its name when the sweep has no fields (None)."""
    return row.name if field is None else row.swept.get(field)


def figure(rows: list[Row], metric: str, mode: str) -> "Figure":
    """The metric against each swept field, one panel per field (Agg canvas, no pyplot)."""
    fields: list[str | None] = [*swept_fields(rows)] or [None]
    ncols = min(len(fields), 3)
    nrows = math.ceil(len(fields) / ncols)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.2 * ncols, 3.4 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    scored = [r for r in rows if _scored(r)]
    for ax, field in zip(axes, fields, strict=False):
        values = [v for v in (_x(r, field) for r in rows) if v is not None]
        points = [(_x(r, field), r.metric) for r in scored if _x(r, field) is not None]
        if _numeric(values):
            ax.scatter([x for x, _ in points], [y for _, y in points])
            if use_log_x(values):
                ax.set_xscale("log")
        else:  # Categories, in the order they first appear.
            labels = list(dict.fromkeys(value_text(v) for v in values))
            ax.scatter([labels.index(value_text(x)) for x, _ in points], [y for _, y in points])
            ax.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 4 else 0)
            ax.set_xlim(-0.5, len(labels) - 0.5)
        ax.set_xlabel(field or "trial")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    for ax in axes[len(fields) :]:
        ax.set_visible(False)
    better = "higher" if mode == "max" else "lower"
    fig.suptitle(f"{metric} ({better} is better): {len(scored)} of {len(rows)} trials scored")
    return fig


def write(workdir: str, metric: str, mode: str) -> list[Row]:
    """Writes results.csv, results.md and results.png in `workdir`; returns the sorted rows."""
    rows = sort_rows(collect(workdir, metric), mode)
    if not rows:
        raise UserError(
            f"{workdir} holds no sweep trials (no */{files.OVERRIDES}); run the sweep "
            "first with --sweep"
        )
    _write_csv(os.path.join(workdir, CSV), rows, swept_fields(rows), metric)
    with open(os.path.join(workdir, MARKDOWN), "w", encoding="utf-8") as f:
        f.write(markdown(rows, metric, mode))
    figure(rows, metric, mode).savefig(os.path.join(workdir, PLOT), dpi=100)
    return rows
