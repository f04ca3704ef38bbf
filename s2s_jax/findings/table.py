"""A finding's numbers: per condition, mean ± std over seeds, as Markdown (W/finding.md).

The first table has one row per condition: the number of seeds, the steps trained, each
of Figure.metrics, the lowest value of each curve of Figure.minima, and each curve's value
at the steps of Figure.at_steps (over the seeds that logged that step; '(n=k)' when not
all did). A 'length' finding adds a table per bucket score of Figure.buckets: one row per
source-length bucket, one column per condition; a 'beam' finding likewise, one row per beam
size and length penalty of eval.beam_grid. Numbers have 4 significant digits; the std is
the sample std (n-1), left out when a condition has one seed.
"""

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

from s2s_jax.findings import trials
from s2s_jax.findings.spec import Figure


@dataclasses.dataclass(frozen=True)
class Stat:
    mean: float
    std: float
    n: int  # How many values (seeds) it is over.

    @classmethod
    def of(cls, values: Sequence[float]) -> "Stat":
        mean, std = trials.mean_std(values)
        return cls(mean, std, len(values))


def cell(stat: Stat) -> str:
    """'12.35 ± 0.4123'; the mean alone for one value; '-' for none."""
    if stat.n == 0:
        return "-"
    if math.isnan(stat.std):
        return f"{stat.mean:.4g}"
    return f"{stat.mean:.4g} ± {stat.std:.4g}"


def metric_stats(conditions: Sequence[trials.Condition], path: str) -> list[Stat]:
    """The final_eval.json value at `path`, over each condition's seeds."""
    return [Stat.of([trials.metric(t, path) for t in c.trials]) for c in conditions]


def _curve_stats(
    conditions: Sequence[trials.Condition],
    split: str,
    key: str,
    value_of: Callable[[dict[int, float]], float | None],
) -> list[Stat]:
    """`value_of` each seed's `key` curve of metrics.jsonl's `split` lines ({step: value}),
    over each condition's seeds; a seed it gives None for is left out."""
    stats = []
    for c in conditions:
        values = (value_of(dict(trials.curve(t, split, key))) for t in c.trials)
        stats.append(Stat.of([v for v in values if v is not None]))
    return stats


def minimum_stats(conditions: Sequence[trials.Condition], split: str, key: str) -> list[Stat]:
    """The lowest value of the `key` curve of metrics.jsonl's `split` lines, over each
    condition's seeds."""
    return _curve_stats(conditions, split, key, lambda curve: min(curve.values()))


def value_at_stats(
    conditions: Sequence[trials.Condition], split: str, key: str, step: int
) -> list[Stat]:
    """The `key` curve of metrics.jsonl's `split` lines at `step`, over each condition's
    seeds that logged it."""
    return _curve_stats(conditions, split, key, lambda curve: curve.get(step))


def _bucket(row: dict[str, Any]) -> tuple[str, str]:
    return row["bucket"], row["bucket"]


def _setting(row: dict[str, Any]) -> tuple[tuple[int, float], str]:
    beam, alpha = row["beam_size"], row["length_penalty"]
    return (beam, alpha), f"beam {beam}, alpha {alpha:g}"


@dataclasses.dataclass(frozen=True)
class _TableFile:
    """How a table file's rows are keyed, labelled and tabulated."""

    key_of: Callable[[dict[str, Any]], tuple[Any, str]]  # A row's key and its label.
    by: str  # The table's heading: '<key> of <section> by <by>'.
    counted: bool  # Rows carry an example count (buckets), shown beside the label.


_TABLE_FILES = {
    trials.LENGTH_BUCKETS: _TableFile(_bucket, "source length", counted=True),
    trials.BEAM_GRID: _TableFile(_setting, "beam size and length penalty alpha", counted=False),
}


@dataclasses.dataclass(frozen=True)
class Rows:
    keys: list[Any]  # '1-10', ..., '51+' (buckets); (beam_size, length_penalty) (beam grid).
    labels: list[str]  # '1-10', ...; 'beam 4, alpha 0.6', ...: in order.
    counts: list[list[int]]  # Per row: its example count in every trial (0 when not given).
    stats: dict[str, list[Stat]]  # Condition label -> a Stat per row (seeds that have it).


def row_stats(
    conditions: Sequence[trials.Condition], filename: str, section: str, key: str
) -> Rows:
    """Per condition and row, `key` of the trials' `filename` (trials.LENGTH_BUCKETS or
    trials.BEAM_GRID) `section` rows."""
    key_of = _TABLE_FILES[filename].key_of
    rows = {
        t.name: {key_of(r)[0]: r for r in trials.table_rows(t, filename, section)}
        for c in conditions
        for t in c.trials
    }
    labels: dict[Any, str] = {}  # Row key -> label, in order of first appearance.
    for table in rows.values():
        for r in table.values():
            labels.setdefault(*key_of(r))
    counts = [[table.get(k, {}).get("count", 0) for table in rows.values()] for k in labels]
    stats = {
        c.label: [
            Stat.of(
                [float(rows[t.name][k][key]) for t in c.trials if key in rows[t.name].get(k, {})]
            )
            for k in labels
        ]
        for c in conditions
    }
    return Rows(list(labels), list(labels.values()), counts, stats)


def _fewer(stat: Stat, seeds: int) -> str:
    """' (n=k)' for a Stat over fewer values than the condition's seeds (and some)."""
    return f" (n={stat.n})" if 0 < stat.n < seeds else ""


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _count_text(counts: list[int]) -> str:
    low, high = min(counts), max(counts)
    return str(low) if low == high else f"{low}-{high}"


def _rows_table(
    conditions: Sequence[trials.Condition], filename: str, section: str, key: str
) -> list[str]:
    """The table of `row_stats`: a row per bucket (with its count) or per search, a column
    per condition."""
    rows, spec = row_stats(conditions, filename, section, key), _TABLE_FILES[filename]
    head = ["bucket", "count"] if spec.counted else ["search"]
    lines = ["", f"## {key} of {section} by {spec.by}", ""]
    if spec.counted:
        lines += ["Count: examples in the bucket (a range when the seeds' eval sets differ).", ""]
    lines += [
        _row([*head, *(c.label for c in conditions)]),
        "|" + "---|" * (len(head) + len(conditions)),
    ]
    for r, label in enumerate(rows.labels):
        count = [_count_text(rows.counts[r])] if spec.counted else []
        lines.append(_row([label, *count, *(cell(rows.stats[c.label][r]) for c in conditions)]))
    return lines


def markdown(
    figure: Figure, conditions: Sequence[trials.Condition], experiment: str, workdir: str
) -> str:
    """The finding's tables, with a title and a line on what they are over."""
    n_trials = sum(len(c.trials) for c in conditions)
    lines = [
        f"# {figure.title}",
        "",
        f"{experiment}: {n_trials} trials in {workdir}, {len(conditions)} conditions. "
        "Mean ± std over seeds (sample std, n-1); n = seeds; steps = steps trained.",
        "",
        _row(["condition", "n", "steps", *figure.metrics, *(f"min {p}" for p in figure.minima),
              *(f"{s}.{k} at step {step}" for s, k, step in figure.at_steps_splits)]),
        "|" + "---|" * (3 + len(figure.metrics) + len(figure.minima) + len(figure.at_steps)),
    ]  # fmt: skip
    columns = [metric_stats(conditions, path) for path in figure.metrics]
    columns += [minimum_stats(conditions, *split) for split in figure.minima_splits]
    columns += [value_at_stats(conditions, *split) for split in figure.at_steps_splits]
    steps = [Stat.of([float(t.final_eval["step"]) for t in c.trials]) for c in conditions]
    for i, c in enumerate(conditions):
        cells = [cell(col[i]) + _fewer(col[i], len(c.trials)) for col in columns]
        lines.append(_row([c.label, str(len(c.trials)), cell(steps[i]), *cells]))
    for split in figure.buckets_splits:
        lines += _rows_table(conditions, trials.LENGTH_BUCKETS, *split)
    if figure.kind == "beam":
        lines += _rows_table(conditions, trials.BEAM_GRID, *figure.grid_split)
    return "\n".join(lines) + "\n"
