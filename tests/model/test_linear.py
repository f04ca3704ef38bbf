"""`linear` and `Dense`: the values and gradients of plain x·W + b, and nn.Dense's parameters."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from s2s_jax.model.linear import Dense, linear


@pytest.mark.parametrize("shape", [(7, 5), (3, 4, 5)], ids=["2d", "3d"])
def test_linear_value_and_gradients_match_plain_matmul(shape):
    kx, kw, kb, kg = jax.random.split(jax.random.key(0), 4)
    x = jax.random.normal(kx, shape)
    kernel = jax.random.normal(kw, (5, 6))
    bias = jax.random.normal(kb, (6,))
    g = jax.random.normal(kg, (*shape[:-1], 6))  # A cotangent that weights every output.

    def plain(x, kernel, bias):
        return x @ kernel + bias

    y, vjp = jax.vjp(linear, x, kernel, bias)
    y_ref, vjp_ref = jax.vjp(plain, x, kernel, bias)
    np.testing.assert_allclose(y, y_ref, rtol=1e-6)
    for got, want in zip(vjp(g), vjp_ref(g), strict=True):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_linear_gradients_under_jit_and_second_use():
    """Used twice in one jitted loss (as the chunked loss does), the gradients still add up."""
    kx, kw = jax.random.split(jax.random.key(1))
    x = jax.random.normal(kx, (4, 3))
    kernel = jax.random.normal(kw, (3, 2))
    bias = jnp.zeros(2)

    def loss(f, kernel):
        return jnp.sum(jnp.sin(f(x[:2], kernel, bias))) + jnp.sum(f(x[2:], kernel, bias) ** 2)

    got = jax.jit(jax.grad(lambda k: loss(linear, k)))(kernel)
    want = jax.grad(lambda k: loss(lambda a, w, b: a @ w + b, k))(kernel)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_dense_has_nn_dense_parameters_and_output():
    x = jax.random.normal(jax.random.key(2), (2, 3, 5))
    ours = Dense(7)
    params = ours.init(jax.random.key(3), x)
    reference = nn.Dense(7)
    assert jax.tree.map(jnp.shape, params) == jax.tree.map(
        jnp.shape, reference.init(jax.random.key(3), x)
    )
    params = jax.tree.map(lambda p: p + 0.5, params)  # A nonzero bias, too.
    np.testing.assert_allclose(
        ours.apply(params, x), reference.apply(params, x), rtol=1e-6, atol=1e-6
    )


def test_dense_computes_in_its_dtype():
    x = jnp.ones((2, 5))
    layer = Dense(3, dtype=jnp.bfloat16)
    params = layer.init(jax.random.key(0), x)
    assert params["params"]["kernel"].dtype == jnp.float32
    assert layer.apply(params, x).dtype == jnp.bfloat16
    grads = jax.grad(lambda p: layer.apply(p, x).astype(jnp.float32).sum())(params)
    assert grads["params"]["kernel"].dtype == jnp.float32
