"""A finding's numbers: per condition, mean ± std over seeds, as Markdown (W/finding.md).

The first table has one row per condition: the number of seeds, the steps trained, and
each of Figure.metrics. A 'length' finding adds a table of its bucket score: one row
per source-length bucket, one column per condition. Numbers have 4 significant digits;
the std is the sample std (n-1), left out when a condition has one seed.
"""

import dataclasses
import math
from collections.abc import Sequence

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


@dataclasses.dataclass(frozen=True)
class Buckets:
    labels: list[str]  # '1-10', '11-20', ..., '51+', in order.
    counts: list[list[int]]  # Per bucket: its count in every trial.
    stats: dict[str, list[Stat]]  # Condition label -> a Stat per bucket (seeds with examples).


def bucket_stats(conditions: Sequence[trials.Condition], section: str, key: str) -> Buckets:
    """Per condition and bucket, `key` of the trials' length_buckets.json `section` rows."""
    rows = {t.name: trials.bucket_rows(t, section) for c in conditions for t in c.trials}
    labels = list(dict.fromkeys(r["bucket"] for table in rows.values() for r in table))
    by_label = {name: {r["bucket"]: r for r in table} for name, table in rows.items()}
    counts = [[by_label[n].get(b, {}).get("count", 0) for n in by_label] for b in labels]
    stats = {
        c.label: [
            Stat.of(
                [
                    float(by_label[t.name][b][key])
                    for t in c.trials
                    if key in by_label[t.name].get(b, {})
                ]
            )
            for b in labels
        ]
        for c in conditions
    }
    return Buckets(labels, counts, stats)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _count_text(counts: list[int]) -> str:
    low, high = min(counts), max(counts)
    return str(low) if low == high else f"{low}-{high}"


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
        _row(["condition", "n", "steps", *figure.metrics]),
        "|" + "---|" * (3 + len(figure.metrics)),
    ]
    columns = [metric_stats(conditions, path) for path in figure.metrics]
    steps = [Stat.of([float(t.final_eval["step"]) for t in c.trials]) for c in conditions]
    for i, c in enumerate(conditions):
        lines.append(
            _row([c.label, str(len(c.trials)), cell(steps[i]), *(cell(col[i]) for col in columns)])
        )
    if figure.kind == "length":
        section, key = figure.buckets_split
        buckets = bucket_stats(conditions, section, key)
        lines += [
            "",
            f"## {key} of {section} by source length",
            "",
            "Count: examples in the bucket (a range when the seeds' eval sets differ).",
            "",
            _row(["bucket", "count", *(c.label for c in conditions)]),
            "|" + "---|" * (2 + len(conditions)),
        ]
        for b, bucket in enumerate(buckets.labels):
            stats = [cell(buckets.stats[c.label][b]) for c in conditions]
            lines.append(_row([bucket, _count_text(buckets.counts[b]), *stats]))
    return "\n".join(lines) + "\n"
