"""Tests for s2s_jax.model.attention: weights over real tokens only, padding invariance,
teacher forcing equal to step-by-step decoding, and beam 1 equal to greedy."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from s2s_jax.decoding.beam_search import beam_search
from s2s_jax.decoding.greedy import greedy_decode
from s2s_jax.model import ModelConfig, Seq2Seq
from s2s_jax.model.attention import attend
from s2s_jax.vocab import PAD_ID

V = 20
# (decoder, attention_score, input_feeding, cell, bidirectional, layers): every decoder and
# score, input feeding on and off, each cell, a bidirectional memory, one and two layers.
CASES = [
    ("bahdanau", "general", True, "gru", True, 2),
    ("luong", "general", True, "lstm", False, 1),
    ("luong", "dot", False, "rnn", False, 2),
    ("luong", "concat", True, "gru", True, 1),
]
# The quick tests take the first two (Bahdanau, Luong 'general'); all four run when slow.
SOME_CASES = [*CASES[:2], *(pytest.param(c, marks=pytest.mark.slow) for c in CASES[2:])]


@functools.cache
def _model(case):
    decoder, score, feeding, cell, bidirectional, layers = case
    cfg = ModelConfig(
        V, V, cell=cell, embed_size=8, hidden_size=16, num_layers=layers,
        bidirectional=bidirectional, decoder=decoder, attention_score=score,
        input_feeding=feeding, dropout_rate=0.2,
    )  # fmt: skip
    model = Seq2Seq(cfg)
    src, tgt = jnp.full((1, 3), 5), jnp.full((1, 2), 5)
    params = jax.jit(model.init)(jax.random.PRNGKey(0), src, tgt)["params"]
    return model, params


@functools.cache
def _jitted(case, method: str, **kwargs):
    """model.apply of `method` with `kwargs`, jitted once per case."""
    model, _ = _model(case)
    return jax.jit(functools.partial(model.apply, method=getattr(Seq2Seq, method), **kwargs))


def _batch():
    rng = np.random.default_rng(0)
    src_BxS = rng.integers(4, V, (3, 6)).astype(np.int32)
    src_BxS[1, 4:] = PAD_ID
    src_BxS[2, 2:] = PAD_ID
    tgt_BxT = rng.integers(4, V, (3, 5)).astype(np.int32)
    return src_BxS, tgt_BxT


def test_attend_is_a_softmax_over_real_tokens():
    scores = jnp.array([[1.0, 2.0, 30.0], [0.5, -1.0, 2.0]])
    mask = jnp.array([[True, True, False], [False, False, False]])
    weights = np.asarray(attend(scores, mask))
    np.testing.assert_allclose(weights[0, :2], np.exp([1, 2]) / np.exp([1, 2]).sum(), rtol=1e-6)
    assert weights[0, 2] == 0.0 and (weights[1] == 0.0).all()  # An empty source attends to none.


@pytest.mark.parametrize("case", SOME_CASES, ids=lambda c: "-".join(map(str, c)))
def test_weights_sum_to_one_over_real_tokens_and_padding_changes_nothing(case):
    _, params = _model(case)
    src, tgt = _batch()
    with_weights = _jitted(case, "__call__", mutable=("intermediates",))
    logits, state = with_weights({"params": params}, src, tgt)
    (weights_BxTxS,) = state["intermediates"]["decoder"]["attention"]
    weights = np.asarray(weights_BxTxS)
    real = src != PAD_ID
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)
    assert (weights[~np.broadcast_to(real[:, None], weights.shape)] == 0.0).all()
    assert (weights[np.broadcast_to(real[:, None], weights.shape)] > 0.0).all()
    # Three more PAD columns: the same logits.
    wider = np.concatenate([src, np.full((3, 3), PAD_ID, np.int32)], axis=1)
    np.testing.assert_allclose(
        _jitted(case, "__call__")({"params": params}, wider, tgt), logits, rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("case", SOME_CASES, ids=lambda c: "-".join(map(str, c)))
def test_teacher_forcing_equals_step_by_step_decoding(case):
    """The scan over time and the one-step path (as decoding runs it) give the same logits."""
    _, params = _model(case)
    src, tgt = _batch()
    variables = {"params": params}
    whole = _jitted(case, "__call__")(variables, src, tgt)
    state = _jitted(case, "encode")(variables, src)
    for t in range(tgt.shape[1]):
        state, logits_BxV = _jitted(case, "decode_step")(variables, state, tgt[:, t])
        np.testing.assert_allclose(logits_BxV, whole[:, t], rtol=1e-5, atol=1e-5)


def test_dropout_draws_a_fresh_mask_per_step():
    """Training with dropout differs from evaluation and between rngs; the same rng repeats."""
    _, params = _model(CASES[1])
    src, tgt = _batch()
    apply = _jitted(CASES[1], "__call__", train=True)

    def train(seed):
        return apply({"params": params}, src, tgt, rngs={"dropout": jax.random.PRNGKey(seed)})

    np.testing.assert_array_equal(train(1), train(1))
    assert not np.allclose(train(1), train(2))
    assert not np.allclose(train(1), _jitted(CASES[1], "__call__")({"params": params}, src, tgt))


@pytest.mark.parametrize("case", [CASES[0], CASES[1]], ids=["bahdanau", "luong"])
def test_beam_of_one_is_greedy(case):
    model, params = _model(case)
    src, _ = _batch()
    greedy, _ = jax.jit(functools.partial(greedy_decode, model, max_len=7))(params, src)
    beam, _ = jax.jit(
        functools.partial(beam_search, model, max_len=7, beam_size=1, length_penalty=0.0)
    )(params, src)
    np.testing.assert_array_equal(beam, greedy)
