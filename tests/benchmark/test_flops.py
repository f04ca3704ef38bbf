"""The analytic FLOP count against XLA's own count of a fully unrolled model; the device's peak:
the best of several matmuls, or the table's figure."""

import itertools
from types import SimpleNamespace

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
    """On CPU the peak is a measured matmul rate, a positive number; there is no table entry."""
    peak, source = flops.device_peak("float32", repeats=1)
    assert peak > 1e8 and source == "measured: best of 1 2048x2048 matmuls"
    assert flops.table_peak("float32") is None


def test_matmul_peak_is_the_best_of_its_repeats():
    """On a fake clock, calls of a 4x4 matmul (2·4³ = 128 FLOPs) taking 4, 1 and 2 s: the peak
    is the fastest, 128 FLOP/s (the median would be 64); the compiling call is not timed."""
    ticks = itertools.accumulate([0.0, 4.0, 0.0, 1.0, 0.0, 2.0])  # start, end per call.
    assert flops.matmul_peak("float32", n=4, repeats=3, clock=lambda: next(ticks)) == 128.0
    with pytest.raises(StopIteration):  # Exactly three calls were timed.
        next(ticks)


def test_a_points_check_is_cheaper_and_accelerators_keep_the_table(monkeypatch):
    """A point checks the peak with at most POINT_PEAK_REPEATS calls; a device of the table is
    never measured, its peak the vendor's figure for the dtype."""
    calls = []
    monkeypatch.setattr(flops, "matmul_peak", lambda dtype, repeats: calls.append(repeats) or 1.0)
    assert flops.point_peak("float32", 7) == flops.point_peak("float32", 1) == 1.0
    assert calls == [flops.POINT_PEAK_REPEATS, 1] and flops.POINT_PEAK_REPEATS < 7
    h100 = SimpleNamespace(platform="gpu", device_kind="NVIDIA H100 80GB HBM3")
    monkeypatch.setattr(flops.jax, "devices", lambda: [h100])
    assert flops.device_peak("bfloat16", 7) == (989e12, "table: H100")
    assert flops.device_peak("float32", 7) == (67e12, "table: H100")
    assert flops.point_peak("float32", 7) is None and len(calls) == 2
