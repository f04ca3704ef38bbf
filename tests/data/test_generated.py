"""Tests for s2s_jax.tasks and s2s_jax.vocab: generated data, splits and padding."""

import numpy as np
import pytest

from s2s_jax.data.generated import TrainStream, encode_batch, eval_batches, eval_pairs, make_task
from s2s_jax.distributed import Share
from s2s_jax.errors import ConfigError
from s2s_jax.vocab import BOS_ID, EOS_ID, PAD_ID


def _decoded_pairs(task, batch):
    """(source, target) strings of every row of an encoded batch."""
    vocab = task.vocab
    return [
        (vocab.decode(src), vocab.decode(tgt))
        for src, tgt in zip(batch["src_BxS"], batch["tgt_out_BxT"], strict=True)
    ]


def _stream(make_config, seed=0, batch_size=32, exclude=frozenset(), **overrides):
    task = make_task(make_config(**overrides).task)
    return task, TrainStream(task, seed, batch_size, set(exclude))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("copy", lambda s: s),
        ("reverse", lambda s: s[::-1]),
        ("sort", lambda s: "".join(sorted(s))),
    ],
)
def test_symbol_task_targets(make_config, name, expected):
    """copy/reverse/sort targets are the expected function of the decoded source."""
    task, stream = _stream(make_config, task=name)
    pairs = _decoded_pairs(task, next(stream))
    assert len(pairs) == 32
    for src, tgt in pairs:
        assert task.min_len <= len(src) <= task.max_len
        assert set(src) <= set(task.vocab.chars)
        assert tgt == expected(src)
    assert any(tgt != src for src, tgt in pairs) or name == "copy"


def test_addition_targets(make_config):
    """addition: 'a+b' decodes to a target equal to str(a + b), operands within max_digits."""
    config = make_config("addition")
    config.task.max_digits = 3
    task = make_task(config.task)
    pairs = _decoded_pairs(task, next(TrainStream(task, 0, 64, set())))
    for src, tgt in pairs:
        a, b = src.split("+")
        assert len(a) <= 3 and len(b) <= 3
        assert tgt == str(int(a) + int(b))


def test_encode_batch_layout(make_config):
    """tgt_in is BOS + target, tgt_out is target + EOS, and everything after is PAD."""
    task = make_task(make_config().task)
    batch = encode_batch(task, [("abc", "cba"), ("a", "a")])
    assert batch["src_BxS"].shape == (2, task.max_src_len)
    assert batch["tgt_in_BxT"].shape == batch["tgt_out_BxT"].shape == (2, task.max_tgt_len)
    ids = task.vocab.encode("cba")
    np.testing.assert_array_equal(batch["tgt_in_BxT"][0, :4], [BOS_ID, *ids])
    np.testing.assert_array_equal(batch["tgt_out_BxT"][0, :4], [*ids, EOS_ID])
    assert (batch["tgt_in_BxT"][0, 4:] == PAD_ID).all()
    assert (batch["tgt_out_BxT"][0, 4:] == PAD_ID).all()
    assert (batch["src_BxS"][1, 1:] == PAD_ID).all()


def test_train_stream_deterministic_per_seed(make_config):
    """Batch k is the same for the same seed and differs for another seed or index."""
    _, a = _stream(make_config, seed=0)
    _, b = _stream(make_config, seed=0)
    _, c = _stream(make_config, seed=1)
    batches_a, batches_b, batches_c = ([next(s) for _ in range(3)] for s in (a, b, c))
    for x, y, z in zip(batches_a, batches_b, batches_c, strict=True):
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])
        assert not np.array_equal(x["src_BxS"], z["src_BxS"])
    assert not np.array_equal(batches_a[0]["src_BxS"], batches_a[1]["src_BxS"])


def test_process_shares_put_together_are_the_global_batches(make_config):
    """Two processes each encode half of each batch's rows: side by side, one process's."""
    task, whole = _stream(make_config)
    halves = [TrainStream(task, 0, 32, set(), Share(i, 2)) for i in range(2)]
    for _ in range(3):
        want, parts = next(whole), [next(h) for h in halves]
        for key in want:
            np.testing.assert_array_equal(np.concatenate([p[key] for p in parts]), want[key])


def test_train_stream_restore_continues(make_config):
    """restore(state()) on a fresh stream continues the same sequence of batches."""
    _, stream = _stream(make_config)
    for _ in range(3):
        next(stream)
    state = stream.state()
    assert state == {"index": 3}
    expected = [next(stream) for _ in range(2)]
    _, resumed = _stream(make_config)
    resumed.restore(state)
    for want in expected:
        got = next(resumed)
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])


def test_eval_split_disjoint_from_train(make_config):
    """Sources of the eval split are distinct and never drawn by the train stream."""
    # A small task (3 + 9 + 27 = 39 sources) so a leak would surely show up.
    task = make_task(make_config(task__max_len=3, task__num_symbols=3).task)
    pairs = eval_pairs(task, seed=0, num_examples=10)
    eval_sources = [src for src, _ in pairs]
    assert len(pairs) == 10 and len(set(eval_sources)) == 10
    assert all(tgt == src[::-1] for src, tgt in pairs)

    def train_sources(exclude):
        stream = TrainStream(task, 0, 32, exclude)
        return {src for _ in range(50) for src, _ in _decoded_pairs(task, next(stream))}

    assert not train_sources(set(eval_sources)) & set(eval_sources)
    # Without the exclusion the same stream does draw eval sources: the check has teeth.
    assert train_sources(set()) & set(eval_sources)


def test_eval_pairs_fixed_by_seed(make_config):
    """The eval split is a function of the seed."""
    task = make_task(make_config().task)
    assert eval_pairs(task, 0, 20) == eval_pairs(task, 0, 20)
    assert eval_pairs(task, 0, 20) != eval_pairs(task, 1, 20)


def test_eval_batches_pad_and_cover(make_config):
    """eval_batches keeps every pair exactly once, in order, and pads extra rows with PAD only."""
    task = make_task(make_config().task)
    pairs = eval_pairs(task, 0, 70)
    batches = eval_batches(task, pairs, batch_size=32)
    assert len(batches) == 3
    for batch in batches:
        assert {k: v.shape[0] for k, v in batch.items()} == dict.fromkeys(batch, 32)
    decoded = [p for batch in batches for p in _decoded_pairs(task, batch)]
    assert decoded[:70] == pairs
    last = batches[-1]
    for array in last.values():
        assert (array[70 - 64 :] == PAD_ID).all()
        assert (array[: 70 - 64] != PAD_ID).any()


def test_eval_pairs_too_small_task_raises(make_config):
    """Holding out more than half the task's distinct sources is a ConfigError naming num_eval."""
    task = make_task(make_config(task__max_len=2, task__num_symbols=2).task)  # 6 sources.
    assert task.num_sources == 6
    with pytest.raises(ConfigError, match=r"config\.task\.num_eval=4 is more than half of the 6"):
        eval_pairs(task, 0, 4)
    assert len(eval_pairs(task, 0, 3)) == 3


def test_train_stream_refuses_when_eval_holds_almost_everything(make_config):
    """A stream whose draws are nearly all held out raises instead of looping forever."""
    task = make_task(make_config(task__min_len=1, task__max_len=2, task__num_symbols=2).task)
    stream = TrainStream(task, seed=0, batch_size=4, exclude={"a", "b", "aa", "ab", "ba", "bb"})
    with pytest.raises(ConfigError, match="held-out"):
        next(stream)
