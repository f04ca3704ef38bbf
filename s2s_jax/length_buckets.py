"""Scores by source length (`config.eval.length_buckets`): one row per length bucket.

The edges are the inclusive upper bounds of the buckets, strictly ascending; the
last bucket is open. Edges (10, 20, 30) give "1-10", "11-20", "21-30" and "31+".
A source of length 0 counts in the first bucket. Lengths are in the data's unit
(`Data.source_length`: words of text, symbols of a generated task).

The file `write_tables` writes (length_buckets.json after training,
length_buckets_step<k>.json after --mode=eval) maps each eval section, named as in
final_eval.json ("best_eval", "best_dev", ...), to its rows in bucket order:

    {"bucket": "11-20", "min": 11, "max": 20, "count": 57, "bleu": 21.3, "chrf": 48.0, ...}

"max" is null for the open bucket; an empty bucket has only the first four keys.
"""

import bisect
from collections.abc import Sequence
from typing import Any

from s2s_jax import atomic_write
from s2s_jax.data.base import Data, Pair

Row = dict[str, Any]


def bounds(edges: Sequence[int]) -> list[tuple[int, int | None]]:
    """(min, max) of each bucket, inclusive; max None for the last, open one."""
    lows = [1, *(e + 1 for e in edges)]
    return list(zip(lows, [*edges, None], strict=True))


def bucket_labels(edges: Sequence[int]) -> list[str]:
    """'1-10', '11-20', ..., '31+': one label per bucket, len(edges) + 1 of them."""
    return [f"{lo}+" if hi is None else f"{lo}-{hi}" for lo, hi in bounds(edges)]


def assign(lengths: Sequence[int], edges: Sequence[int]) -> list[int]:
    """The bucket index of each length: the first edge >= it, else the open bucket."""
    return [bisect.bisect_left(edges, n) for n in lengths]


def bucket_table(data: Data, hyps: list[str], pairs: list[Pair], edges: Sequence[int]) -> list[Row]:
    """One row per bucket, in order: label, bounds, count and `data.score` of its examples."""
    index = assign([data.source_length(src) for src, _ in pairs], edges)
    rows = []
    for b, (label, (lo, hi)) in enumerate(zip(bucket_labels(edges), bounds(edges), strict=True)):
        members = [i for i, k in enumerate(index) if k == b]
        row: Row = {"bucket": label, "min": lo, "max": hi, "count": len(members)}
        if members:
            row.update(data.score([hyps[i] for i in members], [pairs[i] for i in members]))
        rows.append(row)
    return rows


def format_table(rows: list[Row]) -> str:
    """A Markdown table of the rows: bucket, count, then each score (4 significant digits)."""
    keys = list(dict.fromkeys(k for row in rows for k in row if k not in ("min", "max")))

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(cell(row.get(k)) for k in keys) + " |" for row in rows]
    return "\n".join(lines)


def write_tables(path: str, tables: dict[str, list[Row]]) -> None:
    """Writes {section: rows} as JSON, atomically (atomic_write.py)."""
    atomic_write.write_json(path, tables)
