"""Tests for s2s_jax.benchmark.kernel_bound: the train step's and greedy decoding's matmuls add
up to their FLOP counts, each timed program computes the product it names, and timing the
update leaves the state alone."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax.training.train_state import TrainState

from s2s_jax.benchmark import flops, kernel_bound
from s2s_jax.benchmark.kernel_bound import Matmul
from s2s_jax.model import ModelConfig


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional,layers", [(False, 1), (False, 2), (True, 2)])
def test_matmul_flops_add_up_to_the_train_and_forward_flops(cell, bidirectional, layers):
    cfg = ModelConfig(src_vocab_size=50, tgt_vocab_size=70, cell=cell, embed_size=24,
                      hidden_size=32, num_layers=layers, bidirectional=bidirectional)  # fmt: skip
    matmuls = kernel_bound.train_matmuls(cfg, 4, 5, 6)
    assert sum(m.flops for m in matmuls) == flops.train_flops(cfg, 4, 5, 6)
    assert len({m.name for m in matmuls}) == len(matmuls)  # Names key the times.
    decode = kernel_bound.decode_matmuls(cfg, 4, 5, 6)  # Greedy decoding: the forward's FLOPs.
    assert sum(m.flops for m in decode) == flops.forward_flops(cfg, 4, 5, 6)
    assert len({m.name for m in decode}) == len(decode)


@pytest.mark.parametrize("decoder", ["context", "luong", "bahdanau"])
def test_other_decoders_are_refused(decoder):
    cfg = ModelConfig(src_vocab_size=50, tgt_vocab_size=70, decoder=decoder)
    for matmuls in (kernel_bound.train_matmuls, kernel_bound.decode_matmuls):
        with pytest.raises(ValueError, match=f"decoder='basic', not '{decoder}'"):
            matmuls(cfg, 4, 5, 6)


@pytest.mark.parametrize(
    "mm",
    [Matmul("plain", 3, 4, 5), Matmul("weight gradient", 3, 4, 5, weight_gradient=True),
     Matmul("loop", 3, 4, 8, steps=3), Matmul("loop dh", 3, 8, 3, steps=2)],
    ids=lambda mm: mm.name,
)  # fmt: skip
def test_each_program_computes_its_product(mm):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(mm.k, mm.m) if mm.weight_gradient else (mm.m, mm.k)).astype(np.float32)
    w = rng.normal(size=(mm.k, mm.n)).astype(np.float32)
    if mm.steps == 1:
        want = x.T @ w if mm.weight_gradient else x @ w
    else:  # Each step's input: the last product, tiled to width k, through a tanh.
        want = x
        for _ in range(mm.steps):
            want = np.tanh(np.tile(want @ w, (1, -(-mm.k // mm.n)))[:, : mm.k])
    got = jax.jit(kernel_bound._program(mm))(x, w)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_measure_times_the_update_on_a_copy_of_the_state():
    cfg = ModelConfig(src_vocab_size=20, tgt_vocab_size=30, embed_size=8, hidden_size=16)
    params = {"w": jnp.arange(12.0).reshape(3, 4)}
    state = TrainState.create(apply_fn=None, params=params, tx=optax.adam(1e-3))
    fields = kernel_bound.measure(cfg, state, (2, 3, 4), "float32", repeats=2, decode=True)
    np.testing.assert_array_equal(state.params["w"], np.arange(12.0).reshape(3, 4))
    assert int(state.step) == 0  # The caller's state was not donated, nor stepped.
    total = fields["kernel_bound_matmul_s"] + fields["kernel_bound_update_s"]
    assert fields["kernel_bound_tgt_tokens_per_s"] == pytest.approx(2 * 4 / total)
    assert fields["greedy_kernel_bound_tokens_per_s"] > 0
    assert "greedy_kernel_bound_tokens_per_s" not in kernel_bound.measure(
        cfg, state, (2, 3, 4), "float32", repeats=1, decode=False
    )
