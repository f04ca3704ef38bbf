"""Tests of SyntheticData: random ids of fixed shape, from a `config.synthetic` block.

Train batches (shapes, id ranges, BOS/EOS as pad_batch lays them out), batch k as a pure
function of (seed, k) and resuming, the eval pairs' round trip through eval_batches and
detokenize, errors of encode_sources, and experiment.build on benchmark.py's base point.
"""

import json
import math

import jax
import ml_collections
import numpy as np
import pytest
from helpers import assert_same_batches, take

from experiments import benchmark
from s2s_jax import experiment
from s2s_jax.benchmark import grid
from s2s_jax.data.batching import pad_batch
from s2s_jax.data.synthetic import SyntheticData
from s2s_jax.distributed import Share
from s2s_jax.errors import UserError
from s2s_jax.vocab import BOS_ID, EOS_ID, PAD_ID, SPECIALS

V, S, T, B = 16, 5, 6, 8  # Vocabulary, source and target length (with EOS), batch rows.
KEYS = ("src_BxS", "tgt_in_BxT", "tgt_out_BxT")


def _config(**overrides) -> ml_collections.ConfigDict:
    """benchmark.py's base point as an experiment config, shrunk to test size.

    `overrides` use '__' for '.', e.g. synthetic__num_eval=3.
    """
    bench = benchmark.get_config("base")
    (point,) = grid.grid_points(bench)
    c = grid.point_config(bench, point)
    c.synthetic.update(vocab_size=V, src_len=S, tgt_len=T, num_eval=20)
    c.model.update(embed_size=8, hidden_size=16)
    c.train.batch_size = B  # Divisible by the 8 test devices.
    c.eval.batch_size = B
    for key, value in overrides.items():
        section, _, field = key.rpartition("__")
        (c[section] if section else c)[field] = value
    return c


def _is_content(ids: np.ndarray) -> bool:
    return bool(((len(SPECIALS) <= ids) & (ids < V)).all())


def test_train_batches_are_full_length_rows_of_content_ids():
    """Every row: S source ids, BOS + T - 1 target ids in, the same ids + EOS out; no PAD."""
    data = SyntheticData(_config())
    batches = take(data.train_batches(), 20)
    seen = set()
    for batch in batches:
        assert {k: (v.shape, v.dtype) for k, v in batch.items()} == {
            "src_BxS": ((B, S), np.int32),
            "tgt_in_BxT": ((B, T), np.int32),
            "tgt_out_BxT": ((B, T), np.int32),
        }
        src, tgt_in, tgt_out = (batch[k] for k in KEYS)
        assert (tgt_in[:, 0] == BOS_ID).all() and (tgt_out[:, -1] == EOS_ID).all()
        np.testing.assert_array_equal(tgt_in[:, 1:], tgt_out[:, :-1])
        assert _is_content(src) and _is_content(tgt_out[:, :-1])
        # Exactly the layout pad_batch gives these ids.
        pairs = list(zip(src.tolist(), tgt_out[:, :-1].tolist(), strict=True))
        assert_same_batches([pad_batch(pairs, S, T, B)], [batch])
        seen |= set(src.ravel().tolist()) | set(tgt_out[:, :-1].ravel().tolist())
    assert seen == set(range(len(SPECIALS), V))  # Every content id turns up, and no other.
    example = data.example_batch()
    assert {k: v.shape for k, v in example.items()} == {
        "src_BxS": (1, S),
        "tgt_in_BxT": (1, T),
        "tgt_out_BxT": (1, T),
    }
    assert (data.src_vocab_size, data.tgt_vocab_size, data.max_decode_len) == (V, V, T)
    assert SyntheticData(_config(eval__max_decode_len=9)).max_decode_len == 9


def test_process_shares_put_together_are_the_global_batches():
    """Two processes each make half of each batch's rows: side by side, one process's."""
    halves = [take(SyntheticData(_config()).train_batches(Share(i, 2)), 3) for i in range(2)]
    together = [
        {k: np.concatenate([a[k], b[k]]) for k in KEYS} for a, b in zip(*halves, strict=True)
    ]
    assert_same_batches(together, take(SyntheticData(_config()).train_batches(), 3))


def test_batch_k_is_a_pure_function_of_seed_and_k():
    """Any stream of the same seed gives batch k, whatever came before it; the seed changes it."""
    first = take(SyntheticData(_config()).train_batches(), 6)
    # Another instance, with another eval set (drawn from its own stream), draws the same.
    other_eval = SyntheticData(_config(synthetic__num_eval=3))
    assert_same_batches(take(other_eval.train_batches(), 6), first)
    assert len({b["src_BxS"].tobytes() for b in first}) == 6
    other_seed = take(SyntheticData(_config(seed=1)).train_batches(), 6)
    for a, b in zip(first, other_seed, strict=True):
        assert not np.array_equal(a["src_BxS"], b["src_BxS"])
    jumped = SyntheticData(_config()).train_batches()
    jumped.restore({"index": 4})
    assert_same_batches(take(jumped, 2), first[4:])


def test_restore_resumes_the_same_sequence():
    """A fresh stream restored from state() (through JSON, as a checkpoint keeps it)."""
    stream = SyntheticData(_config()).train_batches()
    assert stream.state() == {"index": 0}
    take(stream, 3)
    state = json.loads(json.dumps(stream.state()))
    assert state == {"index": 3}
    expected = take(stream, 4)
    resumed = SyntheticData(_config()).train_batches()
    resumed.restore(state)
    assert resumed.state() == state
    assert_same_batches(take(resumed, 4), expected)
    assert resumed.state() == stream.state() == {"index": 7}
    assert resumed.stats() == {}
    assert iter(resumed) is resumed


def test_eval_pairs_round_trip_through_eval_batches_and_detokenize():
    """Decoding a row of an eval batch gives back its pair's texts; extra rows are PAD."""
    data = SyntheticData(_config())
    assert list(data.eval_sets()) == ["eval"]
    pairs = data.eval_sets()["eval"]
    assert len(pairs) == 20 and len(set(pairs)) == 20
    for src, tgt in pairs:
        src_ids, tgt_ids = (np.array([int(w) for w in text.split(" ")]) for text in (src, tgt))
        assert len(src_ids) == S and len(tgt_ids) == T - 1
        assert _is_content(src_ids) and _is_content(tgt_ids)
    assert SyntheticData(_config()).eval_sets() == {"eval": pairs}
    assert SyntheticData(_config(seed=1)).eval_sets()["eval"] != pairs

    batches = data.eval_batches(pairs)
    assert [b["src_BxS"].shape for b in batches] == [(B, S)] * 3
    rows = {k: np.concatenate([b[k] for b in batches]) for k in KEYS}
    for i, (src, tgt) in enumerate(pairs):
        assert data.detokenize(rows["tgt_out_BxT"][i]) == tgt
        assert data.detokenize(rows["tgt_in_BxT"][i]) == tgt  # BOS skipped.
        assert data.detokenize(rows["src_BxS"][i]) == src
    for key in KEYS:  # 20 pairs in 3 batches of 8: the last 4 rows are all PAD.
        assert (rows[key][20:] == PAD_ID).all()
    assert data.detokenize(rows["tgt_out_BxT"][-1]) == ""

    # Shorter handwritten pairs are padded, and come back the same way.
    short = [("5 6", "7"), ("15", "4 15 8")]
    (batch,) = data.eval_batches(short)
    assert batch["tgt_out_BxT"][0].tolist() == [7, EOS_ID, PAD_ID, PAD_ID, PAD_ID, PAD_ID]
    assert [data.detokenize(row) for row in batch["tgt_out_BxT"][:2]] == ["7", "4 15 8"]
    assert data.detokenize([BOS_ID, 5, 6, EOS_ID, 7]) == "5 6"  # Stops at EOS.

    hyps = [tgt if i % 2 else "" for i, (_, tgt) in enumerate(pairs)]
    assert data.score(hyps, pairs) == {"exact_match": 0.5}
    assert data.score([t for _, t in pairs], pairs) == {"exact_match": 1.0}


def test_encode_sources_pads_and_cuts_and_names_a_bad_line():
    data = SyntheticData(_config())
    src = data.encode_sources(["5 6 7", "15", "4 5 6 7 8 9 10"], [1, 2, 3])
    assert src.dtype == np.int32
    np.testing.assert_array_equal(src, [[5, 6, 7, 0, 0], [15, 0, 0, 0, 0], [4, 5, 6, 7, 8]])
    with pytest.raises(UserError, match=r"^input line 7: synthetic data reads token ids \("):
        data.encode_sources(["5 6", "5 six"], [6, 7])
    outside = (
        r"^input line 9: ids \[2, 16\] are outside \[4, 16\) \(config\.synthetic\.vocab_size\)$"
    )
    with pytest.raises(UserError, match=outside):
        data.encode_sources(["5", "2 5 16"], [8, 9])
    with pytest.raises(UserError, match=r"^input line 2: ids \[3\]"):  # UNK is no content id.
        data.eval_batches([("5", "6"), ("5", "3")])


@pytest.mark.slow
def test_benchmark_base_point_builds_and_trains_one_step(tmp_path):
    """experiment.build on benchmark.py's base point (shrunk): synthetic data, one train step."""
    exp = experiment.build(_config(), str(tmp_path))
    assert isinstance(exp.data, SyntheticData)
    assert (exp.model_cfg.src_vocab_size, exp.model_cfg.tgt_vocab_size) == (V, V)
    assert exp.mesh.size == jax.device_count() == 8
    state = exp.initial_state()
    state, sums = exp.train_step(state, exp.put_batch(next(exp.data.train_batches())))
    sums = jax.device_get(sums)
    assert int(state.step) == 1 and int(sums["steps"]) == 1
    assert int(sums["tokens"]) == B * T  # Full-length rows: no target slot is PAD.
    # Near-uniform predictions at initialization: a loss close to log(V).
    assert abs(float(sums["objective_sum"]) - math.log(V)) < 0.5
    assert np.isfinite(float(sums["grad_norm_sum"])) and float(sums["grad_norm_sum"]) > 0
