"""Greedy decoding: stopping at EOS, agreement with a plain Python loop, and early exit."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import StepCounter

from s2s_jax.decoding.greedy import first_argmax, greedy_decode
from s2s_jax.model import ModelConfig, Seq2Seq
from s2s_jax.vocab import BOS_ID, EOS_ID, PAD_ID

V = 8
SRC = jnp.array(
    [
        [4, 5, 6, 7, 3],
        [7, 6, 0, 0, 0],
        [5, 0, 0, 0, 0],
        [3, 3, 4, 4, 5],
        [6, 6, 6, 0, 0],
        [7, 3, 5, 4, 0],
        [4, 4, 0, 0, 0],
        [5, 7, 3, 6, 4],
    ]
)


CFG = ModelConfig(src_vocab_size=V, tgt_vocab_size=V, cell="gru", embed_size=8, hidden_size=16)
MODEL = Seq2Seq(CFG)  # A tiny GRU Seq2Seq: the one model of these tests.


def _params(seed: int = 2) -> dict:
    """Random params for MODEL (in the shapes `model.init` would give)."""
    shapes = jax.eval_shape(MODEL.init, jax.random.key(0), SRC, SRC)["params"]
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda s: jnp.asarray(rng.normal(size=s.shape), s.dtype), shapes)


def _with_output_bias(params: dict, token: int) -> dict:
    """Params whose output layer favours `token` so strongly that it always wins the argmax."""
    logits = params["decoder"]["logits"]
    bias = jnp.zeros_like(logits["bias"]).at[token].set(1e4)
    return {**params, "decoder": {**params["decoder"], "logits": {**logits, "bias": bias}}}


# Jitted once for the module: a call with new params (same shapes) and a max_len already
# seen reuses the compilation; the counter is reset before each call.
_COUNTER = StepCounter(MODEL)
_GREEDY = jax.jit(functools.partial(greedy_decode, _COUNTER), static_argnames="max_len")


def _decode(params: dict, max_len: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Jitted greedy_decode on SRC; returns tokens, lengths and how many steps ran."""
    _COUNTER.steps = 0
    tokens, lengths = _GREEDY(params, SRC, max_len=max_len)
    jax.effects_barrier()
    return np.asarray(tokens), np.asarray(lengths), _COUNTER.steps


def test_stops_at_eos_and_exits_loop_early():
    """When EOS always wins: tokens are [EOS, PAD, ...], lengths 0, and one step runs of 1000."""
    tokens, lengths, steps = _decode(_with_output_bias(_params(), EOS_ID), max_len=1000)
    expected = np.full((len(SRC), 1000), PAD_ID)
    expected[:, 0] = EOS_ID
    np.testing.assert_array_equal(tokens, expected)
    np.testing.assert_array_equal(lengths, 0)
    assert steps == 1


def test_runs_max_len_steps_without_eos():
    """When another token always wins: no EOS, lengths == max_len, and max_len steps run."""
    # max_len 8, as in test_matches_python_argmax_loop: the same compilation.
    tokens, lengths, steps = _decode(_with_output_bias(_params(), 5), max_len=8)
    np.testing.assert_array_equal(tokens, np.full((len(SRC), 8), 5))
    np.testing.assert_array_equal(lengths, 8)
    assert steps == 8


def test_matches_python_argmax_loop():
    """On random params, greedy_decode equals encode + decode_step + argmax in a Python loop.

    The loop's argmax skips PAD and BOS, which are never predictions.
    """
    params = _params(seed=5)
    max_len = 8
    tokens, lengths, steps = _decode(params, max_len)

    variables = {"params": params}
    carries = jax.jit(functools.partial(MODEL.apply, method=Seq2Seq.encode))(variables, SRC)
    decode_step = jax.jit(functools.partial(MODEL.apply, method=Seq2Seq.decode_step))
    token = jnp.full((len(SRC),), BOS_ID)
    predicted = []
    for _ in range(max_len):
        carries, logits = decode_step(variables, carries, token)
        token = jnp.argmax(logits.at[:, jnp.array([PAD_ID, BOS_ID])].set(-jnp.inf), axis=-1)
        predicted.append(np.asarray(token))
    predicted = np.stack(predicted, axis=1)

    expected = np.full_like(predicted, PAD_ID)
    expected_lengths = []
    for b, row in enumerate(predicted):
        eos = np.flatnonzero(row == EOS_ID)
        n = int(eos[0]) if eos.size else max_len
        expected[b, : n + 1] = row[: n + 1]  # The EOS is kept; PAD follows it.
        expected_lengths.append(n)
    # These params give a mix of EOS positions, including rows with none.
    assert len(set(expected_lengths)) >= 3 and max_len in expected_lengths

    np.testing.assert_array_equal(tokens, expected)
    np.testing.assert_array_equal(lengths, expected_lengths)
    assert steps == max_len
    for row, n in zip(np.asarray(tokens), expected_lengths, strict=True):
        assert not np.isin(row[:n], [PAD_ID, BOS_ID]).any()


@pytest.mark.parametrize("width", [5, 32, 33, 64, 1000, 1003])
def test_first_argmax_equals_numpy_argmax_with_ties(width):
    """Few distinct values, so the max is tied within and across chunks; -inf like masked PAD
    and BOS. Widths below, at and past whole chunks; a tail past them that holds the max."""
    rng = np.random.default_rng(width)
    x = rng.integers(0, 4, size=(3, 7, width)).astype(np.float32)
    x[..., :2] = -np.inf
    x[0, 0, -1] = 9.0  # The tail (or last chunk) alone holds the max.
    x[1, 1, -2:] = 9.0  # Two maxima at the end.
    got = jax.jit(first_argmax)(x)
    assert got.dtype == jnp.int32
    np.testing.assert_array_equal(got, np.argmax(x, axis=-1))
