"""Tests for s2s_jax.batching: pad_batch layout and bucketed, resumable train batches."""

import collections
import json

import numpy as np
import pytest
from helpers import assert_same_batches, take
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from s2s_jax.data.batching import BucketedBatches, pad_batch
from s2s_jax.distributed import Share
from s2s_jax.errors import CheckpointError, ConfigError
from s2s_jax.vocab import BOS_ID, EOS_ID, PAD_ID

BOUNDARIES = [8, 16, 24, 32, 48, 64]


def _examples(n: int = 600, seed: int = 0, max_len: int = 80) -> list[tuple[list, list]]:
    """Random id pairs (ids >= 4, so never a special id), a few longer than 64 tokens."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        s, t = rng.integers(0, max_len, size=2) if rng.random() < 0.05 else rng.integers(0, 40, 2)
        out.append((rng.integers(4, 50, s).tolist(), rng.integers(4, 50, t).tolist()))
    return out


def _fits(example) -> bool:
    src, tgt = example
    return max(len(src), len(tgt) + 1) <= BOUNDARIES[-1]


def _rows(batch) -> list[tuple[tuple, tuple]]:
    """(src, tgt) of every non-empty row, read back from the padded arrays."""
    rows = []
    for src, tgt_in, tgt_out in zip(*batch.values(), strict=True):
        if (tgt_out == PAD_ID).all():
            assert (src == PAD_ID).all() and (tgt_in == PAD_ID).all()
            continue
        tgt = tuple(tgt_out[: list(tgt_out).index(EOS_ID)].tolist())
        assert tgt_in[0] == BOS_ID and tuple(tgt_in[1 : len(tgt) + 1]) == tgt
        rows.append((tuple(src[src != PAD_ID].tolist()), tgt))
    return rows


def test_pad_batch_layout():
    """BOS + target in, target + EOS out, PAD after; rows past the pairs are all PAD."""
    batch = pad_batch([([5, 6, 7], [8, 9]), ([], [10])], S=4, T=3, batch_size=3)
    assert {k: v.shape for k, v in batch.items()} == {
        "src_BxS": (3, 4),
        "tgt_in_BxT": (3, 3),
        "tgt_out_BxT": (3, 3),
    }
    assert all(v.dtype == np.int32 for v in batch.values())
    np.testing.assert_array_equal(batch["src_BxS"], [[5, 6, 7, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(batch["tgt_in_BxT"], [[BOS_ID, 8, 9], [BOS_ID, 10, 0], [0] * 3])
    np.testing.assert_array_equal(batch["tgt_out_BxT"], [[8, 9, EOS_ID], [10, EOS_ID, 0], [0] * 3])


def test_pad_batch_refuses_what_does_not_fit():
    with pytest.raises(ValueError, match=r"pair 0 .*target of 3 ids.*T=3"):
        pad_batch([([5], [6, 7, 8])], S=4, T=3, batch_size=1)
    with pytest.raises(ValueError, match=r"2 pairs do not fit a batch of 1"):
        pad_batch([([5], [6])] * 2, S=4, T=3, batch_size=1)


def test_every_example_exactly_once_per_epoch():
    """One epoch's batches hold each kept example once; the over-long ones are dropped."""
    examples = _examples()
    batches = BucketedBatches(examples, BOUNDARIES, seed=0, max_tokens=512, multiple_of=4)
    kept = [(tuple(s), tuple(t)) for s, t in examples if _fits((s, t))]
    assert 0 < batches.num_dropped == len(examples) - len(kept)
    assert batches.num_examples == len(kept)
    for epoch in range(2):
        assert batches.epoch == epoch
        rows = [r for b in take(batches, batches.batches_per_epoch) for r in _rows(b)]
        assert collections.Counter(rows) == collections.Counter(kept)
    assert batches.epoch == 2


def test_fixed_shapes_token_budget_and_multiples():
    """Only one shape per bucket, S = T = boundary, B * S <= max_tokens, B % multiple_of == 0."""
    batches = BucketedBatches(_examples(), BOUNDARIES, seed=1, max_tokens=512, multiple_of=4)
    assert batches.batch_sizes == {8: 64, 16: 32, 24: 20, 32: 16, 48: 8, 64: 8}
    shapes = set()
    for batch in take(batches, batches.batches_per_epoch):
        (B, S), (_, T) = batch["src_BxS"].shape, batch["tgt_out_BxT"].shape
        assert S == T and S in BOUNDARIES
        assert batches.batch_sizes[S] == B
        assert B * S <= 512 and B % 4 == 0
        shapes.add((B, S))
    assert len(shapes) <= len(BOUNDARIES)


def test_process_shares_put_together_are_the_global_batches():
    """With 4 processes each makes a quarter of each batch's rows: side by side, they are the
    batches of one process, over a whole epoch (partial batches' all-PAD rows included)."""
    kwargs = {"seed": 1, "max_tokens": 512, "multiple_of": 4}
    whole = BucketedBatches(_examples(), BOUNDARIES, **kwargs)
    n = whole.batches_per_epoch
    shares = [take(BucketedBatches(_examples(), BOUNDARIES, **kwargs, share=Share(i, 4)), n)
              for i in range(4)]  # fmt: skip
    together = [{k: np.concatenate([s[k] for s in parts]) for k in parts[0]}
                for parts in zip(*shares, strict=True)]  # fmt: skip
    assert_same_batches(together, take(whole, n))


def test_fixed_batch_size_rounded_to_multiple():
    batches = BucketedBatches(_examples(), BOUNDARIES, seed=0, batch_size=30, multiple_of=8)
    assert set(batches.batch_sizes.values()) == {24}
    assert {next(batches)["src_BxS"].shape[0] for _ in range(10)} == {24}


def test_deterministic_by_seed_and_different_across_epochs():
    examples = _examples()
    a = BucketedBatches(examples, BOUNDARIES, seed=3, max_tokens=512)
    b = BucketedBatches(examples, BOUNDARIES, seed=3, max_tokens=512)
    c = BucketedBatches(examples, BOUNDARIES, seed=4, max_tokens=512)
    n = a.batches_per_epoch
    epoch0, epoch1 = take(a, n), take(a, n)
    assert_same_batches(epoch0 + epoch1, take(b, 2 * n))
    order = [x["src_BxS"].tobytes() for x in epoch0]
    assert order != [x["src_BxS"].tobytes() for x in epoch1]
    assert order != [x["src_BxS"].tobytes() for x in take(c, n)]


@pytest.mark.parametrize("stop", [5, "end_of_epoch"])
def test_restore_continues_with_the_same_batches(stop):
    """A fresh iterator restored from state() yields exactly the batches that followed."""
    examples = _examples()
    batches = BucketedBatches(examples, BOUNDARIES, seed=0, max_tokens=256, multiple_of=2)
    n = batches.batches_per_epoch
    take(batches, n + (stop if stop != "end_of_epoch" else n))
    state = batches.state()
    assert state == ({"epoch": 1, "batch": 5} if stop == 5 else {"epoch": 2, "batch": 0})
    expected = take(batches, n)
    resumed = BucketedBatches(examples, BOUNDARIES, seed=0, max_tokens=256, multiple_of=2)
    resumed.restore(state)
    assert resumed.state() == state
    assert_same_batches(take(resumed, n), expected)


def test_restore_refuses_a_position_past_the_epoch():
    batches = BucketedBatches(_examples(), BOUNDARIES, seed=0, max_tokens=512)
    with pytest.raises(CheckpointError, match="batching config changed"):
        batches.restore({"epoch": 0, "batch": batches.batches_per_epoch})


def test_padding_fraction_on_a_handmade_case():
    """Two buckets of two rows: 18 real slots of 48, counted on both source and target."""
    examples = [
        ([5, 6], [7]),  # Needs 2: bucket 4. Real: 2 source + 2 target (with EOS).
        ([5], [6, 7, 8]),  # Needs 4: bucket 4. Real: 1 + 4.
        ([5] * 6, [6, 6]),  # Needs 6: bucket 8, with an empty row. Real: 6 + 3.
    ]
    batches = BucketedBatches(examples, [4, 8], seed=0, batch_size=2)
    assert batches.batches_per_epoch == 2
    # Slots: bucket 4, 2 rows x (4 + 4) = 16; bucket 8, 2 rows x (8 + 8) = 32.
    assert batches.padding_fraction(0) == pytest.approx(1 - 18 / 48)
    assert batches.padding_fraction(7) == pytest.approx(1 - 18 / 48)
    # The same from the arrays themselves.
    real = total = 0
    for batch in take(batches, 2):
        real += int((batch["src_BxS"] != PAD_ID).sum() + (batch["tgt_out_BxT"] != PAD_ID).sum())
        total += batch["src_BxS"].size + batch["tgt_out_BxT"].size
    assert (real, total) == (18, 48)


def test_overlong_examples_are_dropped_and_counted():
    """A target needs room for EOS: len(tgt) == largest boundary is one too many."""
    examples = [([5] * 8, [6] * 7), ([5] * 9, [6]), ([5], [6] * 8), ([5] * 3, [6] * 3)]
    batches = BucketedBatches(examples, [4, 8], seed=0, batch_size=4)
    assert batches.num_dropped == 2 and batches.num_examples == 2
    rows = _rows(next(batches)) + _rows(next(batches))
    assert sorted(rows) == sorted([((5,) * 8, (6,) * 7), ((5,) * 3, (6,) * 3)])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, r"exactly one of max_tokens \(got None\) and batch_size \(got None\)"),
        ({"max_tokens": 512, "batch_size": 8}, r"exactly one of max_tokens"),
        ({"max_tokens": 100, "multiple_of": 2}, r"max_tokens=100 is invalid.*>= 128"),
        ({"batch_size": 3, "multiple_of": 4}, r"batch_size=3 is invalid.*be >= 4"),
        ({"batch_size": 8, "boundaries": [2]}, r"no training example fits.*2 tokens"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    """Only what config_checks cannot know is checked here; the settings' own rules are its
    (tested there: data.bucket_boundaries, data.max_tokens, seed, train.batch_size vs devices).
    """
    boundaries = kwargs.pop("boundaries", [32, 64])
    with pytest.raises(ConfigError, match=message):
        BucketedBatches(_examples(50), boundaries, seed=0, **kwargs)


# Property tests (hypothesis): any example lengths, boundaries, budget or batch size, within
# what the class accepts (max_tokens >= multiple_of * largest boundary, batch_size >=
# multiple_of, rows divisible by the process count).
_PROPERTY = settings(max_examples=60, deadline=None)


@st.composite
def _setups(draw, processes: tuple[int, int] = (1, 1)) -> tuple[list, list[int], dict, int]:
    """(example lengths, boundaries, BucketedBatches' keyword arguments, process count in
    the range `processes`)."""
    count = draw(st.integers(*processes))
    boundaries = sorted(draw(st.sets(st.integers(1, 12), min_size=1, max_size=4)))
    pair = st.tuples(st.integers(0, 14), st.integers(0, 14)).filter(any)  # Not both empty.
    lengths = draw(st.lists(pair, min_size=1, max_size=40))
    multiple_of = count * draw(st.integers(1, 3))  # So every batch splits into equal shares.
    if draw(st.booleans()):
        least = multiple_of * boundaries[-1]
        budget = {"max_tokens": draw(st.integers(least, least + 64))}
    else:
        budget = {"batch_size": draw(st.integers(multiple_of, 12))}
    kwargs = {"seed": draw(st.integers(0, 2**32 - 1)), "multiple_of": multiple_of, **budget}
    return lengths, boundaries, kwargs, count


def _distinct(lengths: list[tuple[int, int]]) -> list[tuple[list, list]]:
    """Example i is id 4 + i repeated: its rows are told apart by content alone."""
    return [([4 + i] * s, [4 + i] * t) for i, (s, t) in enumerate(lengths)]


def _bucket(example, boundaries: list[int]) -> int | None:
    """The smallest boundary that holds the source and the target plus EOS (None: dropped)."""
    need = max(len(example[0]), len(example[1]) + 1)
    return next((b for b in boundaries if b >= need), None)


@_PROPERTY
@given(setup=_setups())
def test_any_lengths_and_budget_give_every_example_once_per_epoch(setup):
    """Each epoch holds every example that fits exactly once, each in the batches of its own
    bucket (S = T = its boundary) with the rows that bucket's budget gives; the epoch has
    sum(ceil(examples of a bucket / its rows)) batches. None fitting is a ConfigError."""
    lengths, boundaries, kwargs, _ = setup
    examples = _distinct(lengths)
    kept = [(tuple(s), tuple(t)) for s, t in examples if _bucket((s, t), boundaries)]
    if not kept:
        with pytest.raises(ConfigError, match="no training example fits"):
            BucketedBatches(examples, boundaries, **kwargs)
        return
    m = kwargs["multiple_of"]
    if "max_tokens" in kwargs:
        rows_of = {b: kwargs["max_tokens"] // b // m * m for b in boundaries}
    else:
        rows_of = {b: kwargs["batch_size"] // m * m for b in boundaries}
    per_bucket = collections.Counter(_bucket(e, boundaries) for e in kept)
    n = sum(-(-count // rows_of[b]) for b, count in per_bucket.items())
    batches = BucketedBatches(examples, boundaries, **kwargs)
    assert (batches.batches_per_epoch, batches.num_dropped) == (n, len(examples) - len(kept))
    for epoch in range(2):
        seen = []
        for batch in take(batches, n):
            B, S = batch["src_BxS"].shape
            assert batch["tgt_in_BxT"].shape == batch["tgt_out_BxT"].shape == (B, S)
            assert rows_of[S] == B
            if "max_tokens" in kwargs:
                assert kwargs["max_tokens"] >= B * S
            rows = _rows(batch)
            assert rows and all(_bucket(row, boundaries) == S for row in rows)
            seen += rows
        assert collections.Counter(seen) == collections.Counter(kept)
        assert batches.state() == {"epoch": epoch + 1, "batch": 0}


@_PROPERTY
@given(setup=_setups(processes=(1, 4)), data=st.data())
def test_restoring_at_any_point_continues_the_same_batches(setup, data):
    """A process's stream cut after any number of batches (up to two epochs) and restored
    from its state() (through JSON, as a checkpoint keeps it) into a fresh one continues with
    the batches of the uninterrupted stream, across the next epoch boundary too."""
    lengths, boundaries, kwargs, count = setup
    examples = _distinct(lengths)
    assume(any(_bucket(e, boundaries) for e in examples))
    kwargs["share"] = Share(data.draw(st.integers(0, count - 1), label="index"), count)
    straight = BucketedBatches(examples, boundaries, **kwargs)
    n = straight.batches_per_epoch
    cut = data.draw(st.integers(0, 2 * n), label="cut")
    expected = take(straight, cut + n + 1)[cut:]
    interrupted = BucketedBatches(examples, boundaries, **kwargs)
    take(interrupted, cut)
    resumed = BucketedBatches(examples, boundaries, **kwargs)
    resumed.restore(json.loads(json.dumps(interrupted.state())))
    assert_same_batches(take(resumed, n + 1), expected)


@_PROPERTY
@given(setup=_setups(processes=(2, 4)))
def test_process_shares_of_any_setup_put_together_are_the_batches(setup):
    """Every process's rows of each batch, side by side in process order, are the batch of
    one process (an epoch and one batch more), for any lengths, budget and process count."""
    lengths, boundaries, kwargs, count = setup
    examples = _distinct(lengths)
    assume(any(_bucket(e, boundaries) for e in examples))
    whole = BucketedBatches(examples, boundaries, **kwargs)
    n = whole.batches_per_epoch + 1
    shares = [
        take(BucketedBatches(examples, boundaries, **kwargs, share=Share(i, count)), n)
        for i in range(count)
    ]
    for parts in zip(*shares, strict=True):
        assert {p["src_BxS"].shape[0] for p in parts} == {parts[0]["src_BxS"].shape[0]}
    together = [
        {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        for parts in zip(*shares, strict=True)
    ]
    assert_same_batches(together, take(whole, n))
