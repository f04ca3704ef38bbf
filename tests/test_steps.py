"""Tests for s2s_jax.steps: pure steps; dropout keyed by step; eval sums; the chunked loss path."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from s2s_jax import steps
from s2s_jax.model import ModelConfig, Seq2Seq
from s2s_jax.vocab import PAD_ID

V = 12


@pytest.fixture(scope="module")
def setup():
    """A tiny GRU with dropout, its initial state, and a batch with padding."""
    model = Seq2Seq(ModelConfig(V, V, cell="gru", embed_size=8, hidden_size=16, dropout_rate=0.3))
    rng = np.random.default_rng(0)
    batch = {k: rng.integers(4, V, (4, 5)).astype(np.int32)
             for k in ("src_BxS", "tgt_in_BxT", "tgt_out_BxT")}  # fmt: skip
    batch["src_BxS"][1, 3:] = PAD_ID
    batch["tgt_out_BxT"][2, 2:] = PAD_ID
    state = steps.init_state(model, optax.sgd(0.1), jax.random.PRNGKey(0), batch)
    train = jax.jit(functools.partial(steps.train_step, model=model, label_smoothing=0.0))
    return model, state, batch, train


def test_train_step_is_pure_and_its_dropout_follows_the_step(setup):
    _, state, batch, train = setup
    a, sums_a = train(state, batch)
    b, sums_b = train(state, batch)
    assert float(sums_a["objective_sum"]) == float(sums_b["objective_sum"])
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params), strict=True):
        np.testing.assert_array_equal(x, y)
    assert int(a.step) == 1 and int(sums_a["steps"]) == 1
    # fold_in(rng, step): the same state at another step draws other dropout masks.
    _, sums_later = train(state.replace(step=state.step + 1), batch)
    assert float(sums_later["objective_sum"]) != float(sums_a["objective_sum"])


def test_eval_step_sums_the_nll_of_real_tokens(setup):
    model, state, batch, _ = setup
    sums = steps.eval_step(state.params, batch, model=model)
    logits = model.apply({"params": state.params}, batch["src_BxS"], batch["tgt_in_BxT"])
    logp = jax.nn.log_softmax(logits)
    real = batch["tgt_out_BxT"] != PAD_ID
    nll = -jnp.take_along_axis(logp, batch["tgt_out_BxT"][..., None], axis=-1)[..., 0]
    assert int(sums["tokens"]) == real.sum()
    np.testing.assert_allclose(sums["nll_sum"], (nll * real).sum(), rtol=1e-6)
    hits = (logits.argmax(-1) == batch["tgt_out_BxT"]) & real
    assert int(sums["correct_tokens"]) == int(hits.sum())


def test_chunked_loss_step_equals_the_whole_loss_step(setup):
    model, state, batch, train = setup
    chunked = jax.jit(
        functools.partial(steps.train_step, model=model, label_smoothing=0.0, loss_chunk=2)
    )
    whole, sums_whole = train(state, batch)
    parts, sums_parts = chunked(state, batch)
    np.testing.assert_allclose(sums_parts["objective_sum"], sums_whole["objective_sum"], rtol=1e-5)
    for x, y in zip(jax.tree.leaves(parts.params), jax.tree.leaves(whole.params), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def test_tree_add():
    assert steps.tree_add(None, {"a": 1}) == {"a": 1}
    assert steps.tree_add({"a": 1, "b": 2}, {"a": 3, "b": 4}) == {"a": 4, "b": 6}
