"""Tests for s2s_jax.model.fused_loop: the fused loop equals the scan in values and gradients,
on every attention decoder (each score, cell, input feeding, one and two layers, dropout)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from s2s_jax.model import ModelConfig
from s2s_jax.model.attention import AttentionDecoder
from s2s_jax.model.fused_loop import fused_loop, scan_loop
from s2s_jax.model.recurrent import CARRY_SIZE

V = 20
CASES = [  # (decoder, attention_score, input_feeding, cell, layers); two run when slow.
    pytest.param(("bahdanau", "general", True, "gru", 2), marks=pytest.mark.slow),
    ("luong", "general", True, "lstm", 1),
    pytest.param(("luong", "concat", False, "rnn", 2), marks=pytest.mark.slow),
]


def _inputs(cell: str, layers: int):
    """Initial carries, a memory with padding, and target inputs/outputs."""
    rng = np.random.default_rng(1)
    B, S, T, H = 3, 7, 6, 16
    carries = tuple(
        tuple(rng.normal(size=(B, H)).astype(np.float32) for _ in range(CARRY_SIZE[cell]))
        for _ in range(layers)
    )
    memory_BxSxD = rng.normal(size=(B, S, H)).astype(np.float32)
    mask_BxS = np.ones((B, S), bool)
    mask_BxS[1, 5:] = False
    tgt_in_BxT, tgt_out_BxT = rng.integers(4, V, (2, B, T)).astype(np.int32)
    return carries, memory_BxSxD, mask_BxS, tgt_in_BxT, tgt_out_BxT


@functools.cache
def _loss_and_grads(case, backend: str):
    """The decoder alone (the encoder's backends draw dropout masks differently), with
    dropout: the loss and its gradients to the weights, the carries and the memory."""
    decoder, score, feeding, cell, layers = case
    cfg = ModelConfig(
        V, V, cell=cell, embed_size=8, hidden_size=16, num_layers=layers, decoder=decoder,
        attention_score=score, input_feeding=feeding, dropout_rate=0.25, backend=backend,
    )  # fmt: skip
    module = AttentionDecoder(cfg)
    carries, memory, mask, tgt_in, tgt_out = _inputs(cell, layers)

    def run(module, carries, memory, tgt_in_BxT):
        state = module.start(carries, memory, mask)
        return module.project(module(state, tgt_in_BxT, train=True)[1])

    variables = module.init(
        {"params": jax.random.PRNGKey(0), "dropout": jax.random.PRNGKey(1)},
        carries, memory, tgt_in, method=run,
    )  # fmt: skip

    def loss(params, carries, memory):
        logits = module.apply(
            {"params": params}, carries, memory, tgt_in, method=run,
            rngs={"dropout": jax.random.PRNGKey(3)},
        )  # fmt: skip
        logp = jax.nn.log_softmax(logits)
        return -jnp.take_along_axis(logp, tgt_out[..., None], -1).mean()

    grad = jax.value_and_grad(loss, argnums=(0, 1, 2))
    return jax.jit(grad)(variables["params"], carries, memory)


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_fused_equals_scan_in_values_and_gradients(case):
    (loss_scan, grads_scan), (loss_fused, grads_fused) = (
        _loss_and_grads(case, backend) for backend in ("scan", "fused")
    )
    np.testing.assert_allclose(loss_fused, loss_scan, rtol=1e-6)
    flat_scan = jax.tree_util.tree_leaves_with_path(grads_scan)
    flat_fused = jax.tree_util.tree_leaves_with_path(grads_fused)
    for (path, g_scan), (_, g_fused) in zip(flat_scan, flat_fused, strict=True):
        assert np.abs(g_scan).max() > 0, jax.tree_util.keystr(path)  # Every input is reached.
        np.testing.assert_allclose(
            g_fused, g_scan, rtol=2e-4, atol=1e-6, err_msg=jax.tree_util.keystr(path)
        )


def test_fused_loop_gradients_of_a_hand_written_step():
    """A step with two sites, a differentiated constant and a state: all its gradients equal
    those of the plain scan, including the initial state's and the per-step inputs'."""

    def step(sites, consts, aux, state, x_BxI, t):
        h_BxH = jnp.tanh(sites("a", x_BxI) + sites("b", state) * consts["scale"] + aux * t)
        return h_BxH, (h_BxH**2).sum(-1)

    rng = np.random.default_rng(0)
    weights = {
        "a": (rng.normal(size=(3, 4)), rng.normal(size=4)),
        "b": (rng.normal(size=(4, 4)), None),
    }
    consts = {"scale": jnp.array(0.7)}
    state0, xs = rng.normal(size=(2, 4)), rng.normal(size=(5, 2, 3))

    def total(loop, weights, consts, state0, xs):
        state, outs = loop(step, 1, weights, consts, 0.1, state0, xs)
        return (state * np.arange(4)).sum() + (outs * np.arange(10).reshape(5, 2)).sum()

    args = (weights, consts, state0, xs)
    want = jax.grad(functools.partial(total, scan_loop), argnums=(0, 1, 2, 3))(*args)
    got = jax.grad(functools.partial(total, fused_loop), argnums=(0, 1, 2, 3))(*args)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
