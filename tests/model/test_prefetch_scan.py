"""`prefetch_scan` against `jax.lax.scan`: the same carry and outputs, bit for bit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from s2s_jax.model.prefetch_scan import prefetch_scan


def _step(carry, inputs):
    """A step that uses its inputs in order: a different order gives a different result."""
    h, count = carry
    x_BxF, mask_B = inputs["x"], inputs["mask"]
    h = jnp.where(mask_B[:, None], jnp.tanh(0.9 * h + x_BxF), h)
    return (h, count + 1), (h, h.sum() * count)


@pytest.mark.parametrize("length,unroll", [(1, 1), (5, 1), (5, 2), (6, 4)])
def test_equals_lax_scan(length, unroll):
    rng = np.random.default_rng(length)
    xs = {
        "x": rng.normal(size=(length, 3, 4)).astype(np.float32),
        "mask": rng.random((length, 3)) < 0.7,
    }
    init = (np.zeros((3, 4), np.float32), np.int32(0))

    @jax.jit
    def both(init, xs):
        return prefetch_scan(_step, init, xs, unroll=unroll), jax.lax.scan(
            _step, init, xs, unroll=unroll
        )

    got, want = both(init, xs)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert g.shape == w.shape
        np.testing.assert_array_equal(g, w)


def test_empty_sequence_returns_init():
    init = np.ones((2, 4), np.float32)
    xs = np.zeros((0, 2, 4), np.float32)
    carry, ys = prefetch_scan(lambda c, x: (c + x, c), init, xs)
    np.testing.assert_array_equal(carry, init)
    assert ys.shape == (0, 2, 4)
