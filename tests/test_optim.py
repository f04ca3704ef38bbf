"""Tests for s2s_jax.optim: learning-rate schedules, clipping and optimizers."""

import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from s2s_jax.optim import OPTIMIZERS, make_optimizer, make_schedule

LR, WARMUP, STEPS = 0.5, 10, 100


def _optim_config(make_config, **fields) -> ml_collections.ConfigDict:
    c = make_config().optim
    c.learning_rate, c.warmup_steps, c.final_lr_fraction = LR, WARMUP, 0.1
    c.update(fields)
    return c


def _lr(schedule, step) -> float:
    return float(schedule(jnp.asarray(step)))


def test_constant_schedule(make_config):
    """constant: the peak rate at every step."""
    schedule = make_schedule(_optim_config(make_config, schedule="constant"), STEPS)
    for step in (0, 1, WARMUP, STEPS):
        assert _lr(schedule, step) == pytest.approx(LR)


def test_warmup_cosine_schedule(make_config):
    """warmup_cosine: linear from 0 to the peak, then cosine down to lr * final_lr_fraction."""
    schedule = make_schedule(_optim_config(make_config, schedule="warmup_cosine"), STEPS)
    assert _lr(schedule, 0) == pytest.approx(0.0)
    assert _lr(schedule, WARMUP // 2) == pytest.approx(LR / 2)
    assert _lr(schedule, WARMUP) == pytest.approx(LR)
    middle = (WARMUP + STEPS) // 2  # Half-way through the decay: halfway between peak and end.
    assert _lr(schedule, middle) == pytest.approx((LR + 0.1 * LR) / 2, rel=1e-4)
    assert _lr(schedule, STEPS) == pytest.approx(0.1 * LR)
    assert _lr(schedule, 2 * STEPS) == pytest.approx(0.1 * LR)


def test_warmup_rsqrt_schedule(make_config):
    """warmup_rsqrt: linear from 0 to the peak, then lr * sqrt(warmup / step)."""
    schedule = make_schedule(_optim_config(make_config, schedule="warmup_rsqrt"), STEPS)
    assert _lr(schedule, 0) == pytest.approx(0.0)
    assert _lr(schedule, 3) == pytest.approx(LR * 3 / WARMUP)
    assert _lr(schedule, WARMUP) == pytest.approx(LR)
    for step in (WARMUP + 1, 4 * WARMUP, 1000):
        assert _lr(schedule, step) == pytest.approx(LR * np.sqrt(WARMUP / step), rel=1e-5)


def test_schedule_independent_of_num_steps(make_config):
    """constant and warmup_rsqrt do not depend on num_steps (resuming with more steps is exact)."""
    for name in ("constant", "warmup_rsqrt"):
        config = _optim_config(make_config, schedule=name)
        a, b = make_schedule(config, 20), make_schedule(config, 2000)
        for step in (0, 5, 15, 50):
            assert _lr(a, step) == _lr(b, step)


def test_unknown_schedule_raises(make_config):
    """An unknown schedule name is a ValueError naming the field."""
    with pytest.raises(ValueError, match=r"config\.optim\.schedule.*'linear'"):
        make_schedule(_optim_config(make_config, schedule="linear"), STEPS)


@pytest.mark.parametrize("clip", [1.0, 0.25])
def test_grad_clipping_bounds_update(make_config, clip):
    """With sgd at lr 1, a huge gradient gives an update of global norm grad_clip_norm."""
    config = _optim_config(
        make_config, name="sgd", schedule="constant", learning_rate=1.0, grad_clip_norm=clip
    )
    tx = make_optimizer(config, STEPS)
    params = {"w": jnp.zeros((3, 4)), "b": jnp.zeros(5)}
    grads = {"w": jnp.full((3, 4), 1e3), "b": jnp.arange(5.0) * 1e3}
    updates, _ = tx.update(grads, tx.init(params), params)
    assert float(optax.tree.norm(updates)) == pytest.approx(clip, rel=1e-5)
    # Direction is kept: the update is -clip * g / |g|.
    scale = clip / float(optax.tree.norm(grads))
    np.testing.assert_allclose(updates["w"], -scale * grads["w"], rtol=1e-5)
    # A small gradient passes through unchanged.
    small = {"w": jnp.full((3, 4), 1e-3), "b": jnp.zeros(5)}
    updates, _ = tx.update(small, tx.init(params), params)
    np.testing.assert_allclose(updates["w"], -small["w"], rtol=1e-6)


def test_no_clipping_when_zero(make_config):
    """grad_clip_norm=0 disables clipping."""
    config = _optim_config(
        make_config, name="sgd", schedule="constant", learning_rate=1.0, grad_clip_norm=0.0
    )
    tx = make_optimizer(config, STEPS)
    params = {"w": jnp.zeros(4)}
    grads = {"w": jnp.full(4, 1e3)}
    updates, _ = tx.update(grads, tx.init(params), params)
    np.testing.assert_allclose(updates["w"], -grads["w"])


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_each_optimizer_takes_a_step(make_config, name, momentum):
    """Every optimizer builds and moves the params against the gradient."""
    config = _optim_config(
        make_config, name=name, schedule="constant", learning_rate=0.1, momentum=momentum
    )
    config.weight_decay = 0.01 if name == "adamw" else 0.0
    tx = make_optimizer(config, STEPS)
    params = {"w": jnp.ones(3)}
    grads = {"w": jnp.array([0.5, -0.5, 0.1])}
    state = tx.init(params)
    updates, state = tx.update(grads, state, params)
    new = optax.apply_updates(params, updates)
    assert np.all(np.sign(np.asarray(new["w"] - params["w"])) == -np.sign(grads["w"]))
    updates, state = tx.update(grads, state, new)  # A second step works too.
    assert np.all(np.isfinite(np.asarray(updates["w"])))


def test_unknown_optimizer_raises(make_config):
    """An unknown optimizer name is a ValueError naming the field."""
    with pytest.raises(ValueError, match=r"config\.optim\.name.*'rmsprop'"):
        make_optimizer(_optim_config(make_config, name="rmsprop"), STEPS)
