"""Tests for s2s_jax.scheduled_sampling: the schedules against hand-worked values, and the
inputs it chooses against the teacher-forced pass on those inputs, for every decoder type."""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from model.seq2seq_helpers import V, model_and_params, teacher_forced

from experiments import base
from s2s_jax import scheduled_sampling
from s2s_jax.decoding.greedy import first_argmax, never_predicted
from s2s_jax.model.decoders import DECODERS
from s2s_jax.vocab import BOS_ID, PAD_ID

# One decoder in the quick tests, all four when slow.
QUICK = ("basic",)
SOME_DECODERS = [d if d in QUICK else pytest.param(d, marks=pytest.mark.slow) for d in DECODERS]


def _schedule(**fields) -> ml_collections.ConfigDict:
    config = base.get_config().train.scheduled_sampling
    config.update(fields)
    return config


# (fields, step, expected p_i = 1 − ε_i), worked by hand.
HAND_WORKED = [
    ({"decay": "none"}, 500, 0.0),
    ({"decay": "constant", "constant_probability": 0.3}, 0, 0.3),
    ({"decay": "constant", "constant_probability": 0.3}, 10**6, 0.3),
    ({"decay": "linear", "decay_steps": 1000}, 0, 0.0),  # ε = 1.
    ({"decay": "linear", "decay_steps": 1000}, 250, 0.25),  # ε = 1 − 250/1000.
    ({"decay": "linear", "decay_steps": 1000, "min_teacher_forcing": 0.2}, 700, 0.7),
    ({"decay": "linear", "decay_steps": 1000, "min_teacher_forcing": 0.2}, 900, 0.8),  # floor.
    ({"decay": "linear", "decay_steps": 1000}, 5000, 1.0),  # ε = max(0, −4).
    ({"decay": "exponential", "exponential_base": 0.5}, 3, 0.875),  # ε = 1/8.
    ({"decay": "exponential", "exponential_base": 0.99}, 100, 0.6339677),  # ε = 0.99^100.
    ({"decay": "exponential", "exponential_base": 0.5, "min_teacher_forcing": 0.25}, 3, 0.75),
    ({"decay": "inverse_sigmoid", "inverse_sigmoid_k": 10.0}, 0, 1 / 11),  # ε = 10/(10 + 1).
    ({"decay": "inverse_sigmoid", "inverse_sigmoid_k": 10.0}, 20, 0.4249257),  # e²/(10 + e²).
    ({"decay": "inverse_sigmoid", "inverse_sigmoid_k": 10.0}, 50, 0.9368739),  # 1 − 10/(10 + e⁵).
    ({"decay": "inverse_sigmoid", "inverse_sigmoid_k": 10.0}, 10**6, 1.0),  # e^(10⁵) = inf.
]


@pytest.mark.parametrize(("fields", "step", "expected"), HAND_WORKED)
def test_sampling_probability_hand_worked(fields, step, expected):
    p = scheduled_sampling.sampling_probability(_schedule(**fields), step)
    assert p.dtype == jnp.float32 and p.shape == ()
    np.testing.assert_allclose(float(p), expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("decay", ["linear", "exponential", "inverse_sigmoid"])
def test_sampling_probability_jits_with_a_traced_step(decay):
    """Under jit (the step traced), the same values as eagerly; p never falls."""
    config = _schedule(decay=decay, decay_steps=30, exponential_base=0.9, inverse_sigmoid_k=3.0)
    steps = jnp.arange(0, 60, 7, dtype=jnp.int32)
    jitted = jax.jit(jax.vmap(functools.partial(scheduled_sampling.sampling_probability, config)))
    eager = [float(scheduled_sampling.sampling_probability(config, int(s))) for s in steps]
    np.testing.assert_allclose(jitted(steps), eager, rtol=1e-6)
    assert np.all(np.diff(eager) >= 0) and 0 <= eager[0] < eager[1] < eager[-1] <= 1


def test_unknown_decay_is_named():
    with pytest.raises(ValueError, match=r"scheduled_sampling\.decay: unknown 'cosine'"):
        scheduled_sampling.sampling_probability(_schedule(decay="cosine"), 0)


_scheduled_inputs = jax.jit(scheduled_sampling.scheduled_inputs, static_argnums=0)


def _batch(B: int, T: int, seed: int = 0) -> tuple[jax.Array, jax.Array]:
    """A padded source and gold decoder inputs (BOS, then random tokens, PAD-padded)."""
    rng = np.random.default_rng(seed)
    src = rng.integers(4, V, (B, 6))
    src[:, 4:] = np.where(rng.random((B, 2)) < 0.5, PAD_ID, src[:, 4:])
    tgt_in = rng.integers(3, V, (B, T))
    tgt_in[:, 0] = BOS_ID
    tgt_in[: B // 2, T - 2 :] = PAD_ID
    return jnp.asarray(src, jnp.int32), jnp.asarray(tgt_in, jnp.int32)


def _model(decoder: str):
    """A tiny 2-layer model of this decoder type on the default ('fused') backend."""
    return model_and_params(decoder=decoder, num_layers=2, backend="fused")


def _own_predictions(model, params, src, inputs) -> np.ndarray:
    """The teacher-forced pass on `inputs`: each step's prediction (as greedy chooses it),
    shifted to the position it would be the input of (position t: the prediction at t − 1)."""
    logits = teacher_forced(model, {"params": params}, src, inputs)
    B, T, _ = logits.shape
    chosen = first_argmax(never_predicted(logits.reshape(B * T, -1))).reshape(B, T)
    return np.asarray(chosen)[:, :-1]  # Inputs 1..T−1.


@pytest.mark.parametrize("decoder", SOME_DECODERS)
def test_probability_0_keeps_the_gold_inputs(decoder):
    model, params = _model(decoder)
    src, tgt_in = _batch(8, 5)
    inputs, sampled = _scheduled_inputs(model, params, src, tgt_in, 0.0, jax.random.key(1))
    np.testing.assert_array_equal(inputs, tgt_in)
    assert not np.any(sampled)


@pytest.mark.parametrize("decoder", SOME_DECODERS)
def test_probability_1_feeds_the_models_own_previous_outputs(decoder):
    """Every input at t ≥ 1 is the argmax at t − 1 of the teacher-forced pass on these inputs."""
    model, params = _model(decoder)
    src, tgt_in = _batch(8, 6)
    inputs, sampled = _scheduled_inputs(model, params, src, tgt_in, 1.0, jax.random.key(1))
    inputs = np.asarray(inputs)
    np.testing.assert_array_equal(inputs[:, 0], tgt_in[:, 0])  # BOS stays.
    assert np.all(sampled[:, 1:]) and not np.any(sampled[:, 0])
    np.testing.assert_array_equal(inputs[:, 1:], _own_predictions(model, params, src, inputs))
    assert np.any(inputs[:, 1:] != np.asarray(tgt_in)[:, 1:])  # Not the gold inputs.
    assert not np.any(np.isin(inputs[:, 1:], [PAD_ID, BOS_ID]))  # Never predicted.


@pytest.mark.parametrize("decoder", SOME_DECODERS)
def test_a_fraction_p_of_the_inputs_is_replaced(decoder):
    """With p = 0.3, about 30% of the inputs at t ≥ 1 are replaced (within 5 sigma), each
    by the model's own prediction given the inputs before it; the rest are gold."""
    model, params = _model(decoder)
    B, T, p = 512, 8, 0.3
    src, tgt_in = _batch(B, T, seed=1)
    inputs, sampled = _scheduled_inputs(model, params, src, tgt_in, p, jax.random.key(2))
    inputs, sampled, gold = np.asarray(inputs), np.asarray(sampled), np.asarray(tgt_in)
    n = B * (T - 1)
    assert abs(sampled[:, 1:].mean() - p) < 5 * np.sqrt(p * (1 - p) / n)
    assert not np.any(sampled[:, 0])
    own = _own_predictions(model, params, src, inputs)
    np.testing.assert_array_equal(inputs[:, 1:], np.where(sampled[:, 1:], own, gold[:, 1:]))
    # Other keys, other coins; the same key, the same ones.
    _, other = _scheduled_inputs(model, params, src, tgt_in, p, jax.random.key(3))
    _, again = _scheduled_inputs(model, params, src, tgt_in, p, jax.random.key(2))
    assert np.any(np.asarray(other) != sampled)
    np.testing.assert_array_equal(again, sampled)


def test_coin_keys_differ_from_the_dropout_keys():
    """Step k's coin key is none of the dropout keys fold_in(rng, j) (steps.TrainState)."""
    rng = jax.random.key(0)
    coins = [jax.random.key_data(scheduled_sampling.coin_rng(rng, k)) for k in range(4)]
    dropout = [jax.random.key_data(jax.random.fold_in(rng, j)) for j in range(4)]
    keys = {tuple(np.asarray(k).tolist()) for k in coins + dropout}
    assert len(keys) == 8
