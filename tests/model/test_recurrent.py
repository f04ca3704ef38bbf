"""The recurrent cells and the layer's backends, against NumPy, Python loops and each other."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from s2s_jax.model.recurrent import CARRY_SIZE, CELLS, RecurrentLayer, masked_step

B, T, D, H = 3, 6, 5, 8


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _numpy_step(cell: str, p: dict, carry: tuple, x: np.ndarray) -> tuple:
    """One step of the recurrent.py docstring equations, in float64 NumPy."""
    xp = x @ p["Wx"] + p["bx"]
    h = carry[-1]
    hp = h @ p["Wh"] + p["bh"]
    if cell == "lstm":
        i, f, g, o = np.split(xp + hp, 4, axis=-1)
        c = _sigmoid(f) * carry[0] + _sigmoid(i) * np.tanh(g)
        return c, _sigmoid(o) * np.tanh(c)
    if cell == "gru":
        xr, xz, xn = np.split(xp, 3, axis=-1)
        hr, hz, hn = np.split(hp, 3, axis=-1)
        r, z = _sigmoid(xr + hr), _sigmoid(xz + hz)
        n = np.tanh(xn + r * hn)
        return ((1.0 - z) * n + z * h,)
    return (np.tanh(xp + hp),)


def _numpy_params(params: dict) -> dict:
    """The layer's weights as float64 NumPy; a missing recurrent bias is zero."""
    rec = params["recurrent"]
    Wh = np.asarray(rec["kernel"], np.float64)
    return {
        "Wx": np.asarray(params["input"]["kernel"], np.float64),
        "bx": np.asarray(params["input"]["bias"], np.float64),
        "Wh": Wh,
        "bh": np.asarray(rec.get("bias", np.zeros(Wh.shape[1])), np.float64),
    }


def _setup(cell: str, seed: int = 0, **layer_kwargs):
    """A layer, random params (biases included, so they are tested), a random carry and input."""
    rng = np.random.default_rng(seed)
    layer = RecurrentLayer(cell, H, **layer_kwargs)
    carry = tuple(
        jnp.asarray(rng.normal(size=(B, H)), jnp.float32) for _ in range(CARRY_SIZE[cell])
    )
    x = jnp.asarray(rng.normal(size=(B, T, D)), jnp.float32)
    mask = jnp.ones((B, T), bool)
    # Random values for every weight and bias, in the shapes `init` would give (without
    # running the slow initializers op by op).
    shapes = jax.eval_shape(layer.init, jax.random.key(0), carry, x, mask)["params"]
    params = jax.tree.map(lambda s: jnp.asarray(0.5 * rng.normal(size=s.shape), s.dtype), shapes)
    return layer, params, carry, x, mask


@functools.partial(jax.jit, static_argnums=0)
def _apply(layer: RecurrentLayer, params: dict, carry: tuple, x: jax.Array, mask: jax.Array):
    """layer.apply, jitted once per layer config and input shape and shared by the tests."""
    return layer.apply({"params": params}, carry, x, mask)


def _numpy_carries(cell: str, params: dict, carry: tuple, x: jax.Array) -> list[tuple]:
    """The NumPy carry after each time step (all steps unmasked)."""
    p = _numpy_params(params)
    ref = tuple(np.asarray(c, np.float64) for c in carry)
    out = []
    for t in range(x.shape[1]):
        ref = _numpy_step(cell, p, ref, np.asarray(x[:, t], np.float64))
        out.append(ref)
    return out


@pytest.mark.parametrize("cell", CELLS)
def test_layer_matches_numpy_equations(cell: str):
    """RecurrentLayer's carry and outputs equal a NumPy loop over the documented equations."""
    layer, params, carry, x, mask = _setup(cell)
    got_carry, got_y = _apply(layer, params, carry, x, mask)

    # Only the GRU has a recurrent bias (its b_hn sits inside r·(...)); here it is non-zero.
    recurrent = params["recurrent"]
    assert ("bias" in recurrent) == (cell == "gru")
    assert all(np.all(np.asarray(v) != 0) for v in jax.tree.leaves(params))
    ref = _numpy_carries(cell, params, carry, x)
    for g, r in zip(got_carry, ref[-1], strict=True):
        np.testing.assert_allclose(g, r, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(got_y, np.stack([c[-1] for c in ref], axis=1), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_scan_matches_python_loop_over_cell(cell: str):
    """The nn.scan layer equals a Python loop applying `masked_step` with the same params."""
    layer, params, carry, x, mask = _setup(cell, seed=2)
    got_carry, got_y = _apply(layer, params, carry, x, mask)

    weights = (params["recurrent"]["kernel"], params["recurrent"].get("bias"))
    xproj = x @ params["input"]["kernel"] + params["input"]["bias"]
    step = jax.jit(masked_step, static_argnums=0)  # Compiled once, called at every step.
    ref, ys = carry, []
    for t in range(T):
        ref, _ = step(cell, weights, ref, xproj[:, t], mask[:, t])
        ys.append(ref[-1])
    for g, r in zip(got_carry, ref, strict=True):
        np.testing.assert_allclose(g, r, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(got_y, jnp.stack(ys, axis=1), atol=1e-5, rtol=1e-5)


def _ragged_loss_inputs(cell: str):
    """_setup's layer, params, carry and input with a ragged mask, and output loss weights."""
    layer, params, carry, x, _ = _setup(cell, seed=7)
    mask = jnp.arange(T)[None, :] < jnp.array([T, 2, 4])[:, None]
    w = jnp.asarray(np.random.default_rng(8).normal(size=(B, T, H)), jnp.float32)
    return layer, params, carry, x, mask, w


@functools.partial(jax.jit, static_argnums=0)
def _loss_and_grads(layer: RecurrentLayer, params, carry, x, mask, w):
    """A loss on both the outputs and the final carry, and its gradients for the params, the
    initial carry and the inputs."""

    def loss(p, carry, x):
        c, y = layer.apply({"params": p}, carry, x, mask)
        return jnp.sum(y * w) + sum(jnp.sum(ci * ci) for ci in c)

    return jax.value_and_grad(loss, argnums=(0, 1, 2))(params, carry, x)


@pytest.mark.parametrize(
    "cell,remat",
    # Every cell without remat; remat (the hidden projections recomputed before the backward
    # loop) for a cell whose gates add both projections and for the GRU, which keeps them apart
    # and has a recurrent bias. The RNN with remat runs the LSTM's code path.
    [("lstm", False), ("gru", False), ("rnn", False), ("lstm", True), ("gru", True)],
)
def test_fused_backend_equals_scan_in_values_and_gradients(cell: str, remat: bool):
    """The custom-VJP path gives nn.scan's outputs and gradients (params, carry, inputs),
    with a ragged mask, a loss on both the outputs and the final carry, and remat on or off."""
    layer, params, carry, x, mask, w = _ragged_loss_inputs(cell)
    ref = _loss_and_grads(layer.clone(backend="scan", remat=remat), params, carry, x, mask, w)
    got = _loss_and_grads(layer.clone(backend="fused", remat=remat), params, carry, x, mask, w)
    assert jax.tree.structure(got) == jax.tree.structure(ref)
    for g, r in zip(jax.tree.leaves(got), jax.tree.leaves(ref), strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5)
    # Every gradient is really there: none of them is all zeros.
    assert all(np.any(np.asarray(g) != 0) for g in jax.tree.leaves(got[1]))


@pytest.mark.parametrize("cell", CELLS)
def test_mask_holds_carry_after_last_true_position(cell: str):
    """With a False tail in the mask, the returned carry is the one after the last True step."""
    layer, params, carry, x, _ = _setup(cell, seed=3)
    lengths = [T, 2, 4]
    mask = jnp.arange(T)[None, :] < jnp.array(lengths)[:, None]
    got_carry, _ = _apply(layer, params, carry, x, mask)

    ref = _numpy_carries(cell, params, carry, x)
    for b, n in enumerate(lengths):
        for g, r in zip(got_carry, ref[n - 1], strict=True):
            np.testing.assert_allclose(g[b], r[b], atol=1e-5, rtol=1e-5)
    # The test can fail: running on past the mask would have changed the carry.
    assert not np.allclose(ref[-1][-1][1], ref[1][-1][1], atol=1e-3)


@pytest.mark.parametrize("backend", ["scan", "fused"])
def test_dropout_mask_changes_across_time_steps(backend: str):
    """Output dropout draws a fresh mask at every time step (a frozen one is flax issue #4950)."""
    layer, params, carry, x, mask = _setup(
        "lstm", seed=4, dropout_rate=0.5, deterministic=False, backend=backend
    )
    variables = {"params": params}
    key = jax.random.key(5)
    _, y_det = _apply(layer.clone(deterministic=True), params, carry, x, mask)
    apply = jax.jit(layer.apply)
    _, y = apply(variables, carry, x, mask, rngs={"dropout": key})

    assert np.all(np.asarray(y_det) != 0)  # So a zero in y can only come from dropout.
    kept = np.asarray(y) != 0
    # Kept units are the deterministic output scaled by 1 / (1 - rate).
    np.testing.assert_allclose(np.where(kept, y, 0), np.where(kept, 2 * y_det, 0), rtol=1e-5)
    assert 0.3 < kept.mean() < 0.7
    for t in range(T - 1):
        assert np.any(kept[:, t] != kept[:, t + 1]), f"same dropout mask at steps {t} and {t + 1}"

    _, y_again = apply(variables, carry, x, mask, rngs={"dropout": key})
    np.testing.assert_array_equal(y, y_again)
    _, y_other = apply(variables, carry, x, mask, rngs={"dropout": jax.random.key(6)})
    assert np.any(np.asarray(y_other) != np.asarray(y))


def test_remat_gives_the_same_values_and_gradients():
    """nn.remat on the scan body changes memory use, not the outputs or the gradients (for the
    params, the initial carry and the inputs)."""
    layer, params, carry, x, mask, w = _ragged_loss_inputs("lstm")
    assert layer.backend == "scan" and not layer.remat
    value, grads = _loss_and_grads(layer, params, carry, x, mask, w)
    value_r, grads_r = _loss_and_grads(layer.clone(remat=True), params, carry, x, mask, w)
    np.testing.assert_allclose(value, value_r, rtol=1e-6)
    for g, g_r in zip(jax.tree.leaves(grads), jax.tree.leaves(grads_r), strict=True):
        np.testing.assert_allclose(g, g_r, rtol=1e-5, atol=1e-6)
