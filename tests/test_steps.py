"""Tests for s2s_jax.steps: pure steps; dropout keyed by step; eval sums; the chunked loss path."""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from fast_compile import USERS_FUSION

from experiments import base
from s2s_jax import scheduled_sampling, steps
from s2s_jax.model import ModelConfig, Seq2Seq
from s2s_jax.vocab import PAD_ID

V = 12
# Several tests hold two programs equal bit for bit: compiled as users compile them.
jit = functools.partial(jax.jit, compiler_options=USERS_FUSION)


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
    train = jit(functools.partial(steps.train_step, model=model, label_smoothing=0.0))
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
    chunked = jit(
        functools.partial(steps.train_step, model=model, label_smoothing=0.0, loss_chunk=2)
    )
    whole, sums_whole = train(state, batch)
    parts, sums_parts = chunked(state, batch)
    np.testing.assert_allclose(sums_parts["objective_sum"], sums_whole["objective_sum"], rtol=1e-5)
    for x, y in zip(jax.tree.leaves(parts.params), jax.tree.leaves(whole.params), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def _schedule(**fields) -> ml_collections.ConfigDict:
    """A `config.train.scheduled_sampling` block: the base config's, with `fields` set."""
    config = base.get_config().train.scheduled_sampling
    config.update(fields)
    return config


def _gradient_recorder() -> optax.GradientTransformation:
    """An 'optimizer' whose state is the step's gradient and whose update is 0: the step's
    gradients, exactly, to compare."""
    zeros = functools.partial(jax.tree.map, jnp.zeros_like)
    return optax.GradientTransformation(
        zeros, lambda grads, state, params=None: (zeros(grads), grads)
    )


@functools.cache
def _decoder_setup(decoder: str):
    """A GRU of this decoder type with dropout, its state at step 3, and a batch."""
    cfg = ModelConfig(V, V, cell="gru", embed_size=8, hidden_size=16, num_layers=1,
                      dropout_rate=0.3, decoder=decoder, backend="fused")  # fmt: skip
    model = Seq2Seq(cfg)
    rng = np.random.default_rng(1)
    batch = {k: rng.integers(4, V, (8, 6)).astype(np.int32)
             for k in ("src_BxS", "tgt_in_BxT", "tgt_out_BxT")}  # fmt: skip
    batch["src_BxS"][1, 3:] = PAD_ID
    batch["tgt_out_BxT"][2, 2:] = PAD_ID
    state = steps.init_state(model, _gradient_recorder(), jax.random.PRNGKey(0), batch)
    return model, state.replace(step=state.step + 3), batch


def _train_step(model: Seq2Seq, schedule: ml_collections.ConfigDict | None):
    return jit(functools.partial(steps.train_step, model=model, label_smoothing=0.1,
                                     scheduled_sampling=schedule))  # fmt: skip


def _assert_same_step(a, b) -> None:
    """Two train steps' (state, sums) equal bit for bit: gradients, params and metric sums."""
    (state_a, sums_a), (state_b, sums_b) = a, b
    for x, y in zip(jax.tree.leaves((state_a, sums_a)), jax.tree.leaves((state_b, sums_b)),
                    strict=True):  # fmt: skip
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize(
    # At p = 0 the inputs are the gold ones for every decoder (tests/test_scheduled_sampling.py);
    # the step then runs the decoder's usual path: one whole-sequence and one attention decoder.
    "decoder",
    [pytest.param(d, marks=pytest.mark.slow) for d in ("basic", "bahdanau")],
)
def test_scheduled_sampling_at_probability_0_is_the_teacher_forced_step(decoder):
    """p = 0: loss, metric sums and gradients equal teacher forcing's bit for bit, with
    dropout on (its masks unchanged); only the probability is added to the sums."""
    model, state, batch = _decoder_setup(decoder)
    plain = _train_step(model, None)(state, batch)
    scheduled = _train_step(model, _schedule(decay="constant", constant_probability=0.0))
    new_state, sums = scheduled(state, batch)
    assert float(sums.pop("sampling_probability_sum")) == 0.0
    _assert_same_step(plain, (new_state, sums))
    assert float(optax.tree.norm(new_state.opt_state)) > 0  # Gradients were recorded.


def test_decay_none_is_todays_train_step():
    """decay='none' traces exactly the program of a step built without the block."""
    model, state, batch = _decoder_setup("luong")
    jaxprs = [
        str(jax.make_jaxpr(functools.partial(steps.train_step, model=model, label_smoothing=0.1,
                                             scheduled_sampling=schedule))(state, batch))
        for schedule in (None, _schedule(decay="none"))
    ]  # fmt: skip
    assert jaxprs[0] == jaxprs[1]
    _, sums = jax.eval_shape(_train_step(model, _schedule(decay="none")), state, batch)
    assert "sampling_probability_sum" not in sums


@pytest.mark.slow
def test_scheduled_sampling_steps_follow_the_schedule_and_feed_the_chosen_inputs():
    """A short run with a linear decay over 4 steps: each step reports its p_i, and is the
    teacher-forced step on the inputs `scheduled_inputs` chooses with that step's coin key."""
    model, state, batch = _decoder_setup("basic")
    state = state.replace(step=0)
    train = _train_step(model, _schedule(decay="linear", decay_steps=4))
    plain = _train_step(model, None)
    probabilities = []
    for _ in range(5):
        inputs, _ = scheduled_sampling.scheduled_inputs(
            model, state.params, batch["src_BxS"], batch["tgt_in_BxT"],
            float(state.step) / 4, scheduled_sampling.coin_rng(state.rng, state.step),
        )  # fmt: skip
        expected = plain(state, {**batch, "tgt_in_BxT": inputs})
        new_state, sums = train(state, batch)
        probabilities.append(float(sums.pop("sampling_probability_sum")))
        _assert_same_step(expected, (new_state, sums))
        sgd = jax.tree.map(lambda p, g: p - 0.1 * g, state.params, new_state.opt_state)
        last_state, state = state, new_state.replace(params=sgd)
    np.testing.assert_allclose(probabilities, [0.0, 0.25, 0.5, 0.75, 1.0], rtol=1e-6)
    # At p = 1 the inputs are the model's own predictions: another loss than teacher forcing.
    _, teacher_forced = plain(last_state, batch)
    assert float(teacher_forced["objective_sum"]) != float(sums["objective_sum"])


def test_a_nonfinite_step_is_flagged_and_with_skip_changes_nothing_but_the_step(setup):
    """A NaN in the output bias makes the loss NaN: both modes flag the step; 'skip' keeps
    params and optimizer state bit for bit, plain applies the (NaN) update. On a finite
    step, skip's new state is plain's."""
    model, state, batch, train = setup
    skip = jit(
        functools.partial(steps.train_step, model=model, label_smoothing=0.0, skip_nonfinite=True)
    )
    params = jax.tree_util.tree_map_with_path(
        lambda path, x: x.at[0].set(jnp.nan) if "logits" in str(path) and x.ndim == 1 else x,
        state.params,
    )
    poisoned = state.replace(params=params)
    kept, kept_sums = skip(poisoned, batch)
    applied, applied_sums = train(poisoned, batch)
    assert int(kept_sums["nonfinite_steps"]) == int(applied_sums["nonfinite_steps"]) == 1
    assert int(kept.step) == int(state.step) + 1
    before = jax.tree.leaves((poisoned.params, poisoned.opt_state))
    for x, y in zip(jax.tree.leaves((kept.params, kept.opt_state)), before, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not all(bool(jnp.isfinite(x).all()) for x in jax.tree.leaves(applied.params))
    (a, a_sums), (b, _) = skip(state, batch), train(state, batch)
    assert int(a_sums["nonfinite_steps"]) == 0
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params), strict=True):
        np.testing.assert_array_equal(x, y)


def test_tree_add():
    assert steps.tree_add(None, {"a": 1}) == {"a": 1}
    assert steps.tree_add({"a": 1, "b": 2}, {"a": 3, "b": 4}) == {"a": 4, "b": 6}
