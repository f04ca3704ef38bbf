"""Tests for s2s_jax.length_buckets: the buckets partition a set, and each row scores its subset."""

import json
import os

import numpy as np
import pytest
from helpers import tiny_config

from s2s_jax import length_buckets
from s2s_jax.data.generated import GeneratedData
from s2s_jax.data.synthetic import SyntheticData
from s2s_jax.data.translation import TranslationData
from s2s_jax.length_buckets import assign, bucket_labels, bucket_table


def _translation_data() -> TranslationData:
    """TranslationData's scoring and length without its corpora: neither reads the instance."""
    return TranslationData.__new__(TranslationData)


def _reference_bucket(length: int, edges: tuple[int, ...]) -> int:
    """The first bucket whose upper edge is >= length; the open bucket past the last edge."""
    for i, edge in enumerate(edges):
        if length <= edge:
            return i
    return len(edges)


def _random_edges(rng: np.random.Generator) -> tuple[int, ...]:
    k = int(rng.integers(0, 6))
    return tuple(sorted(int(e) for e in rng.choice(np.arange(1, 40), size=k, replace=False)))


def test_labels():
    assert bucket_labels((10, 20, 30)) == ["1-10", "11-20", "21-30", "31+"]
    assert bucket_labels((1, 3)) == ["1-1", "2-3", "4+"]
    assert bucket_labels(()) == ["1+"]


def test_buckets_partition_the_set():
    """Random lengths and edges: each example is in exactly one bucket, its bounds hold its
    length (0 counts in the first bucket), and the counts add up to the whole set."""
    data = GeneratedData(tiny_config())  # Source length = the number of symbols.
    rng = np.random.default_rng(0)
    for _ in range(30):
        edges = _random_edges(rng)
        lengths = rng.integers(0, 50, size=int(rng.integers(1, 80))).tolist()
        index = assign(lengths, edges)
        assert index == [_reference_bucket(n, edges) for n in lengths]
        pairs = [("a" * n, "a" * n) for n in lengths]
        rows = bucket_table(data, [t for _, t in pairs], pairs, edges)
        assert [row["bucket"] for row in rows] == bucket_labels(edges)
        assert sum(row["count"] for row in rows) == len(lengths)
        for b, row in enumerate(rows):
            members = [n for n in lengths if _reference_bucket(n, edges) == b]
            assert row["count"] == len(members)
            for n in members:
                assert row["min"] <= max(n, 1)
                assert row["max"] is None or n <= row["max"]
            assert (row["max"] is None) == (b == len(edges))


def test_hand_worked_translation_buckets():
    """Sources of 2, 5, 11 and 30 words, edges (5, 10): two in '1-5', none in '6-10', two in
    '11+'; each row's scores are the real scorer's on those two pairs alone."""
    data = _translation_data()
    pairs = [
        ("Hello there.", "Hi there."),
        ("I am very hungry now.", "I am so hungry now."),
        (" ".join(["word"] * 11), "a long sentence of words"),
        (" ".join(["w"] * 30), "a very long sentence of many words indeed"),
    ]
    hyps = ["Hi there.", "I am hungry now.", "a short sentence of words", "quite different text"]
    rows = bucket_table(data, hyps, pairs, (5, 10))
    assert [data.source_length(s) for s, _ in pairs] == [2, 5, 11, 30]
    assert rows == [
        {"bucket": "1-5", "min": 1, "max": 5, "count": 2, **data.score(hyps[:2], pairs[:2])},
        {"bucket": "6-10", "min": 6, "max": 10, "count": 0},
        {"bucket": "11+", "min": 11, "max": None, "count": 2, **data.score(hyps[2:], pairs[2:])},
    ]
    assert {"bleu", "chrf", "exact_match"} <= set(rows[0])
    assert rows[0]["exact_match"] == 0.5 and rows[2]["exact_match"] == 0.0
    assert rows[0]["chrf"] != rows[2]["chrf"]  # Different subsets, different scores.


@pytest.mark.parametrize("kind", ["generated", "translation"])
def test_each_row_scores_its_subset_alone(kind):
    """Random sets: a row's scores equal `data.score` on the pairs its bounds select."""
    rng = np.random.default_rng(1)
    data = GeneratedData(tiny_config()) if kind == "generated" else _translation_data()
    words = ["ab", "c", "dd", "e", "fgh"]
    pairs, hyps = [], []
    for _ in range(60):
        n = int(rng.integers(1, 16))
        if kind == "generated":
            src = "".join(rng.choice(list("abcdef"), n))
            pairs.append((src, src[::-1]))
        else:
            src = " ".join(rng.choice(words, n))
            pairs.append((src, " ".join(rng.choice(words, int(rng.integers(1, 8))))))
        right = rng.random() < 0.4
        hyps.append(pairs[-1][1] if right else " ".join(rng.choice(words, 3)))
    edges = (3, 7, 12)
    rows = bucket_table(data, hyps, pairs, edges)
    for row in rows:
        hi = row["max"] if row["max"] is not None else float("inf")
        keep = [i for i, (s, _) in enumerate(pairs) if row["min"] <= data.source_length(s) <= hi]
        assert row["count"] == len(keep) > 0
        scores = {k: v for k, v in row.items() if k not in ("bucket", "min", "max", "count")}
        assert scores == data.score([hyps[i] for i in keep], [pairs[i] for i in keep])


def test_source_length_in_the_datas_unit():
    generated = GeneratedData(tiny_config())
    assert generated.source_length("cabd") == 4
    assert GeneratedData(tiny_config("addition")).source_length("123+45") == 6
    translation = _translation_data()
    assert translation.source_length("Hello, world!") == 2
    assert translation.source_length("  two\twords \n") == 2
    assert translation.source_length("") == 0
    assert SyntheticData.__new__(SyntheticData).source_length("17 5 902") == 3


def test_write_tables_and_format(tmp_path):
    """JSON round trip with nothing left beside it; the Markdown rendering, cell by cell."""
    rows = [
        {"bucket": "1-5", "min": 1, "max": 5, "count": 2, "exact_match": 0.5, "bleu": 12.34567},
        {"bucket": "6+", "min": 6, "max": None, "count": 0},
    ]
    path = tmp_path / "length_buckets.json"
    length_buckets.write_tables(str(path), {"best_eval": rows})
    assert json.loads(path.read_text()) == {"best_eval": rows}
    assert path.read_text().startswith('{\n "best_eval": [\n  {\n   "bucket": "1-5"')  # indent 1
    assert os.listdir(tmp_path) == ["length_buckets.json"]
    length_buckets.write_tables(str(path), {"best_dev": rows[:1]})  # Replaces the file.
    assert json.loads(path.read_text()) == {"best_dev": rows[:1]}
    assert length_buckets.format_table(rows).splitlines() == [
        "| bucket | count | exact_match | bleu |",
        "|---|---|---|---|",
        "| 1-5 | 2 | 0.5 | 12.35 |",
        "| 6+ | 0 | - | - |",
    ]
