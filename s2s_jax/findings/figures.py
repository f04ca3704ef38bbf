"""A finding's figure and table from its sweep's trial folders: W/finding.png, W/finding.md.

- 'curves': the dev metric against steps (metrics.jsonl): each seed a thin line, the
  mean over seeds a thick one (at the steps every seed logged); a panel per curve of
  Figure.minima likewise.
- 'length': the bucket score against source length (length_buckets.json): the mean
  over seeds per bucket, with ± std bars, a line per condition; a panel per path of
  Figure.buckets.
- 'bars': one panel per final metric: a bar per condition (the mean over seeds), ± std,
  each seed a dot.
- 'beam': the score against beam size (beam_grid.json): the mean over seeds, ± std, a
  line per condition and length penalty α.

Drawn on matplotlib's Agg canvas (no pyplot), as the sweep report is.
"""

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from s2s_jax.findings import table, trials
from s2s_jax.findings.spec import Figure

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn, not with the package.
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure as MplFigure

PLOT, MARKDOWN = "finding.png", "finding.md"


def _colors(n: int) -> list:
    from matplotlib import colormaps

    return [colormaps["tab10"](i % 10) for i in range(n)]


def _curves(ax: "Axes", split: str, key: str, conditions: Sequence[trials.Condition]) -> None:
    for color, c in zip(_colors(len(conditions)), conditions, strict=True):
        runs = [dict(trials.curve(t, split, key)) for t in c.trials]
        for run in runs:
            ax.plot(list(run), list(run.values()), color=color, alpha=0.35, linewidth=0.8)
        common = sorted(set.intersection(*(set(run) for run in runs)))
        means = [trials.mean_std([run[s] for run in runs])[0] for s in common]
        ax.plot(common, means, color=color, linewidth=2.2, label=f"{c.label} (n={len(runs)})")
    ax.set_xlabel("step")
    ax.set_ylabel(f"{split} {key}")


def _length(ax: "Axes", section: str, key: str, conditions: Sequence[trials.Condition]) -> None:
    buckets = table.row_stats(conditions, trials.LENGTH_BUCKETS, section, key)
    x = list(range(len(buckets.labels)))
    for color, c in zip(_colors(len(conditions)), conditions, strict=True):
        points = [(i, s) for i, s in zip(x, buckets.stats[c.label], strict=True) if s.n]
        ax.errorbar(
            [i for i, _ in points],
            [s.mean for _, s in points],
            yerr=[0.0 if s.n < 2 else s.std for _, s in points],
            color=color,
            marker="o",
            capsize=3,
            label=f"{c.label} (n={len(c.trials)})",
        )
    ax.set_xticks(x, buckets.labels)
    ax.set_xlabel("source length (bucket)")
    ax.set_ylabel(f"{section} {key}")


_LINE_STYLES = ("-", "--", ":", "-.")  # One per length penalty, in turn.


def _beam(ax: "Axes", figure: Figure, conditions: Sequence[trials.Condition]) -> None:
    section, key = figure.grid_split
    rows = table.row_stats(conditions, trials.BEAM_GRID, section, key)
    alphas = sorted({alpha for _, alpha in rows.keys})
    for color, c in zip(_colors(len(conditions)), conditions, strict=True):
        for i, alpha in enumerate(alphas):
            points = sorted(
                (beam, stat)
                for (beam, a), stat in zip(rows.keys, rows.stats[c.label], strict=True)
                if a == alpha and stat.n
            )
            ax.errorbar(
                [beam for beam, _ in points],
                [s.mean for _, s in points],
                yerr=[0.0 if s.n < 2 else s.std for _, s in points],
                color=color,
                linestyle=_LINE_STYLES[i % len(_LINE_STYLES)],
                marker="o",
                capsize=3,
                label=f"{c.label}, alpha {alpha:g} (n={len(c.trials)})",
            )
    ax.set_xticks(sorted({beam for beam, _ in rows.keys}))
    ax.set_xlabel("beam size (1: greedy)")
    ax.set_ylabel(f"{section} {key}")


def _bars(ax: "Axes", path: str, conditions: Sequence[trials.Condition]) -> None:
    stats = table.metric_stats(conditions, path)
    x = list(range(len(conditions)))
    colors = _colors(len(conditions))
    ax.bar(
        x,
        [s.mean for s in stats],
        color=colors,
        alpha=0.6,
        yerr=[0.0 if s.n < 2 else s.std for s in stats],
        capsize=4,
    )
    for i, c in enumerate(conditions):
        values = [trials.metric(t, path) for t in c.trials]
        ax.scatter([i] * len(values), values, color="black", s=10, zorder=3)
    ax.set_xticks(x, [c.label.replace(",", "\n") for c in conditions], fontsize=7)
    ax.set_ylabel(path)


def draw(figure: Figure, conditions: Sequence[trials.Condition]) -> "MplFigure":
    """The finding's figure (Agg canvas)."""
    from matplotlib.figure import Figure as MplFigure

    panels = {
        "bars": len(figure.metrics),
        "curves": 1 + len(figure.minima),
        "length": len(figure.buckets),
    }.get(figure.kind, 1)
    ncols = min(panels, 2)
    nrows = math.ceil(panels / ncols)
    width = max(4.0, 1.5 * len(conditions)) if figure.kind == "bars" else 7.0
    fig = MplFigure(figsize=(width * ncols, 4.4 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[panels:]:
        ax.set_visible(False)
    axes = axes[:panels]
    if figure.kind == "curves":
        for ax, split in zip(axes, (figure.curve_split, *figure.minima_splits), strict=True):
            _curves(ax, *split, conditions)
    elif figure.kind == "length":
        for ax, split in zip(axes, figure.buckets_splits, strict=True):
            _length(ax, *split, conditions)
    elif figure.kind == "beam":
        _beam(axes[0], figure, conditions)
    else:
        for ax, path in zip(axes, figure.metrics, strict=True):
            _bars(ax, path, conditions)
    for ax in axes:
        ax.grid(alpha=0.3)
        if figure.kind != "bars":
            ax.legend(fontsize=7)
    fig.suptitle(figure.title)
    return fig


def write(workdir: str, figure: Figure) -> str:
    """Reads W's trials, writes W/finding.png and W/finding.md; returns the Markdown.

    Raises trials.MissingTrialError naming any trial of W/sweep.json that has not finished.
    """
    sweep, loaded = trials.load(workdir)
    conditions = trials.group(loaded)
    text = table.markdown(figure, conditions, sweep["experiment"], workdir)
    fig = draw(figure, conditions)
    fig.savefig(os.path.join(workdir, PLOT), dpi=100)
    with open(os.path.join(workdir, MARKDOWN), "w", encoding="utf-8") as f:
        f.write(text)
    return text
