"""The analytic FLOP count against XLA's own count of a fully unrolled model."""

import jax
import jax.numpy as jnp
import pytest

from s2s_jax.benchmark import flops
from s2s_jax.model import ModelConfig, Seq2Seq


@pytest.mark.parametrize(
    "cell,bidirectional,decoder",
    [(c, b, "basic") for c in ("lstm", "gru", "rnn") for b in (False, True)]
    + [("lstm", False, "context"), ("gru", True, "bahdanau"), ("lstm", False, "luong")],
)
def test_forward_flops_match_xla_cost_analysis(cell, bidirectional, decoder):
    """With the scan fully unrolled XLA counts every step; the matmul count is within 7%.

    The analytic count leaves out elementwise gate math, small next to the matmuls at H=128.
    Three source and four target steps (unrolled, so counted three and four times) and a batch
    of two keep the compilation small; only the params' shapes are needed, not their values.
    """
    B, S, T = 2, 3, 4
    cfg = ModelConfig(
        src_vocab_size=50, tgt_vocab_size=60, cell=cell, embed_size=64, hidden_size=128,
        num_layers=2, bidirectional=bidirectional, scan_unroll=max(S, T), decoder=decoder,
    )  # fmt: skip
    model = Seq2Seq(cfg)
    src, tgt = jnp.ones((B, S), jnp.int32) * 5, jnp.ones((B, T), jnp.int32) * 5
    params = jax.eval_shape(model.init, jax.random.PRNGKey(0), src, tgt)
    cost = jax.jit(model.apply).lower(params, src, tgt).compile().cost_analysis()
    xla = (cost[0] if isinstance(cost, list) else cost)["flops"]
    analytic = flops.forward_flops(cfg, B, S, T)
    assert analytic == pytest.approx(xla, rel=0.07), (analytic, xla)


def test_train_flops_are_three_forwards():
    """Training counts forward plus a backward of twice the forward."""
    cfg = ModelConfig(src_vocab_size=10, tgt_vocab_size=10)
    assert flops.train_flops(cfg, 2, 3, 4) == 3 * flops.forward_flops(cfg, 2, 3, 4)


def test_device_peak_on_cpu_is_measured():
    """On CPU the peak is a measured matmul rate, a positive number."""
    peak, source = flops.device_peak("float32")
    assert peak > 1e8 and source.startswith("measured")
