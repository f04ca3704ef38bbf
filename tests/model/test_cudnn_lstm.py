"""The 'cudnn' backend: its weight packing on any machine, the backend itself on a GPU."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import rnn

from s2s_jax.model.cudnn_lstm import pack_weights
from s2s_jax.model.recurrent import RecurrentLayer

B, T, D, H = 3, 6, 5, 8


def _setup(seed: int = 0):
    rng = np.random.default_rng(seed)
    layer = RecurrentLayer("lstm", H)
    carry = tuple(jnp.asarray(rng.normal(size=(B, H)), jnp.float32) for _ in range(2))
    x = jnp.asarray(rng.normal(size=(B, T, D)), jnp.float32)
    lengths = jnp.array([T, 2, 4], jnp.int32)
    mask = jnp.arange(T)[None, :] < lengths[:, None]
    shapes = jax.eval_shape(layer.init, jax.random.key(0), carry, x, mask)["params"]
    params = jax.tree.map(lambda s: jnp.asarray(0.5 * rng.normal(size=s.shape), s.dtype), shapes)
    return layer, params, carry, x, mask, lengths


def test_packed_weights_run_cudnns_reference_lstm_like_our_layer():
    """pack_weights puts our kernels, bias and gate order where cuDNN expects them:
    jax.experimental.rnn's own reference LSTM, reading the packed vector through
    its unpacker, gives our layer's outputs and final (h, c) for ragged lengths."""
    layer, params, carry, x, mask, lengths = _setup()

    @jax.jit  # One compilation for our layer, the packing and the reference.
    def ours_and_reference(params, carry, x, mask, lengths):
        (c, h), y = layer.apply({"params": params}, carry, x, mask)
        flat = pack_weights(
            (params["input"]["kernel"], params["input"]["bias"]),
            (params["recurrent"]["kernel"], None),
        )
        w_ih, w_hh, b_ih, b_hh = rnn.unpack_lstm_weights(flat, D, H, 1, False)
        c0, h0 = carry
        reference = rnn.lstm_ref(
            x, h0[None], c0[None], w_ih, w_hh, b_ih, b_hh, lengths, D, H, 1, 0.0, False
        )
        return (c, h, y), flat, reference

    (c, h, y), flat, (y_ref, h_ref, c_ref) = ours_and_reference(params, carry, x, mask, lengths)
    assert flat.shape == (rnn.get_num_params_in_lstm(D, H, 1, False),)
    np.testing.assert_allclose(h, h_ref[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(c, c_ref[0], rtol=1e-5, atol=1e-5)
    valid = np.asarray(mask)[..., None]
    np.testing.assert_allclose(np.where(valid, y, 0), y_ref, rtol=1e-5, atol=1e-5)


def _gpus() -> list:
    try:
        return jax.devices("gpu")
    except RuntimeError:
        return []


@pytest.mark.skipif(not _gpus(), reason="the 'cudnn' backend needs a CUDA GPU; none here")
def test_cudnn_backend_equals_scan_on_gpu():
    """On a GPU, cuDNN's fused LSTM gives the scan path's final carry, outputs and gradients."""
    layer, params, carry, x, mask, _ = _setup(seed=1)
    valid = mask[..., None]

    def loss(backend, p, carry, x):
        (c, h), y = layer.clone(backend=backend).apply({"params": p}, carry, x, mask)
        return jnp.sum(jnp.where(valid, y, 0) ** 2) + jnp.sum(c * h)

    # Full float32 on both paths: cuDNN and XLA would otherwise both be free to use TF32.
    with jax.default_device(_gpus()[0]), jax.default_matmul_precision("highest"):
        ref = jax.value_and_grad(functools.partial(loss, "scan"), argnums=(0, 1, 2))(
            params, carry, x
        )
        got = jax.value_and_grad(functools.partial(loss, "cudnn"), argnums=(0, 1, 2))(
            params, carry, x
        )
    for g, r in zip(jax.tree.leaves(got), jax.tree.leaves(ref), strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-4)
