"""`linear` and `Dense`: the values and gradients of plain x·W + b, and nn.Dense's parameters.

Inputs are NumPy arrays and each check's JAX work is one jitted call: one compilation
instead of many small ones op by op.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from s2s_jax.model.linear import Dense, linear


def _normal(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("shape", [(7, 5), (3, 4, 5)], ids=["2d", "3d"])
def test_linear_value_and_gradients_match_plain_matmul(shape):
    rng = np.random.default_rng(0)
    x, kernel, bias = _normal(rng, *shape), _normal(rng, 5, 6), _normal(rng, 6)
    g = _normal(rng, *shape[:-1], 6)  # A cotangent that weights every output.

    def plain(x, kernel, bias):
        return x @ kernel + bias

    @jax.jit
    def both(x, kernel, bias, g):
        y, vjp = jax.vjp(linear, x, kernel, bias)
        y_ref, vjp_ref = jax.vjp(plain, x, kernel, bias)
        return y, vjp(g), y_ref, vjp_ref(g)

    y, grads, y_ref, grads_ref = both(x, kernel, bias, g)
    np.testing.assert_allclose(y, y_ref, rtol=1e-6)
    for got, want in zip(grads, grads_ref, strict=True):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_linear_gradients_under_jit_and_second_use():
    """Used twice in one jitted loss (as the chunked loss does), the gradients still add up."""
    rng = np.random.default_rng(1)
    x, kernel, bias = _normal(rng, 4, 3), _normal(rng, 3, 2), np.zeros(2, np.float32)

    def loss(f, kernel):
        return jnp.sum(jnp.sin(f(x[:2], kernel, bias))) + jnp.sum(f(x[2:], kernel, bias) ** 2)

    got = jax.jit(jax.grad(lambda k: loss(linear, k)))(kernel)
    # d/dW of sum(sin(x1·W + b)) + sum((x2·W + b)²), by hand in float64.
    x64, k64 = x.astype(np.float64), kernel.astype(np.float64)
    want = x64[:2].T @ np.cos(x64[:2] @ k64 + bias) + x64[2:].T @ (2 * (x64[2:] @ k64 + bias))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_dense_has_nn_dense_parameters_and_output():
    x = _normal(np.random.default_rng(2), 2, 3, 5)
    ours, reference = Dense(7), nn.Dense(7)
    shapes = jax.eval_shape(ours.init, jax.random.key(3), x)
    reference_shapes = jax.eval_shape(reference.init, jax.random.key(3), x)
    assert jax.tree.map(lambda s: (s.shape, s.dtype), shapes) == jax.tree.map(
        lambda s: (s.shape, s.dtype), reference_shapes
    )
    # Random values, a nonzero bias too.
    rng = np.random.default_rng(4)
    params = jax.tree.map(lambda s: _normal(rng, *s.shape) + 0.5, shapes)
    got, want = jax.jit(lambda p, x: (ours.apply(p, x), reference.apply(p, x)))(params, x)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_dense_computes_in_its_dtype():
    x = np.ones((2, 5), np.float32)
    layer = Dense(3, dtype=jnp.bfloat16)
    shapes = jax.eval_shape(layer.init, jax.random.key(0), x)
    assert shapes["params"]["kernel"].dtype == jnp.float32
    params = jax.tree.map(lambda s: np.full(s.shape, 0.5, s.dtype), shapes)

    @jax.jit
    def output_and_grads(params, x):
        grads = jax.grad(lambda p: layer.apply(p, x).astype(jnp.float32).sum())(params)
        return layer.apply(params, x), grads

    y, grads = output_and_grads(params, x)
    assert y.dtype == jnp.bfloat16
    assert grads["params"]["kernel"].dtype == jnp.float32
