"""Analytic FLOP counts of the model, and the peak FLOP/s of the device.

XLA's cost analysis counts a scan body once, not once per time step, so it
cannot count an RNN's FLOPs; these formulas count the matmuls, which dominate
(elementwise gate math is left out). A multiply-add is 2 FLOPs.

The peak: a vendor figure for the accelerators of `PEAK_FLOPS`; elsewhere (the
CPU) a measured 2048×2048 matmul, the *best* of several timed calls, since noise
on a shared machine only ever slows a call down. A benchmark run (run.py)
measures it once at its start and once at its end, in its own process, which
launch.py set up as it sets up the points' processes (the same XLA_FLAGS and
platform, the same intra-op thread pool over all cores, `keep_freed_memory`)
and which sits idle while a point runs; the run's peak is the larger of the two.
Each point's process also checks the peak itself right before its timing
(`point_peak`, fewer calls): the check that the parent's figure holds in the
kind of process that is timed, and that nothing else took the cores meanwhile.
"""

import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from s2s_jax.model import ModelConfig
from s2s_jax.model.recurrent import NUM_GATES

# Dense peak FLOP/s by device kind (vendor figures, no sparsity): (float32, bfloat16).
PEAK_FLOPS = {
    "A100": (19.5e12, 312e12),
    "H100": (67e12, 989e12),
    "H200": (67e12, 989e12),
    "TPU v4": (275e12, 275e12),
    "TPU v5 lite": (197e12, 197e12),  # v5e.
    "TPU v5e": (197e12, 197e12),
    "TPU v5p": (459e12, 459e12),
    "TPU v5": (459e12, 459e12),
}


def _layer_flops(cfg: ModelConfig, tokens: int, input_size: int) -> int:
    """One recurrent layer over `tokens` (batch × time) steps: input and recurrent matmuls."""
    gates = NUM_GATES[cfg.cell] * cfg.hidden_size
    return 2 * tokens * (input_size + cfg.hidden_size) * gates


def forward_flops(cfg: ModelConfig, batch: int, src_len: int, tgt_len: int) -> int:
    """FLOPs of one teacher-forced forward pass over a [batch, src_len] → [batch, tgt_len] batch."""
    directions = 2 if cfg.bidirectional else 1
    flops, size = 0, cfg.embed_size
    for _ in range(cfg.num_layers):
        flops += directions * _layer_flops(cfg, batch * src_len, size)
        size = directions * cfg.hidden_size
    if cfg.bidirectional:  # The bridge: one Dense(2H → H) per carry component and layer.
        flops += (
            cfg.num_layers * 2 * batch * 2 * cfg.hidden_size**2 * (2 if cfg.cell == "lstm" else 1)
        )
    H, D = cfg.hidden_size, directions * cfg.hidden_size
    extra = {"context": H, "bahdanau": D, "luong": H if cfg.input_feeding else 0}
    size = cfg.embed_size + extra.get(cfg.decoder, 0)  # [x; c], [x; c_t] or [x; h̃_{t-1}].
    for _ in range(cfg.num_layers):
        flops += _layer_flops(cfg, batch * tgt_len, size)
        size = H
    if cfg.decoder in ("bahdanau", "luong"):
        flops += _attention_flops(cfg, batch, src_len, tgt_len, H, D)
        out_size = H  # The attentional vector h̃_t.
    else:
        out_size = H + (H if cfg.decoder == "context" else 0)  # [ĥ; c] for 'context'.
    return flops + 2 * batch * tgt_len * out_size * cfg.tgt_vocab_size


def _attention_flops(cfg: ModelConfig, B: int, S: int, T: int, H: int, D: int) -> int:
    """Keys once per source; per target step the query, scores, context and W_c·[s; c]."""
    additive = cfg.decoder == "bahdanau" or cfg.attention_score == "concat"
    keys = 0 if not additive and cfg.attention_score == "dot" else 2 * B * S * D * H
    query = 2 * B * H * H if additive else 0
    scores = 2 * B * S * H  # vᵀ·tanh(...), or s·key with keys of size H.
    context = 2 * B * S * D
    return keys + T * (query + scores + context + 2 * B * (H + D) * H)


def train_flops(cfg: ModelConfig, batch: int, src_len: int, tgt_len: int) -> int:
    """Forward plus backward; the backward pass costs two forwards (input and weight grads)."""
    return 3 * forward_flops(cfg, batch, src_len, tgt_len)


POINT_PEAK_REPEATS = 3  # A point's own check (`point_peak`): at most this many timed calls.


def matmul_peak(
    dtype: str = "float32",
    n: int = 2048,
    repeats: int = 7,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Measured FLOP/s of an n×n matmul on the default device: the best of `repeats` calls
    timed on `clock`, after an untimed one (which compiles)."""
    a = jnp.asarray(np.random.default_rng(0).standard_normal((n, n)), dtype)
    matmul = jax.jit(lambda x: x @ x)
    return 2 * n**3 / best_time(lambda: matmul(a), repeats, clock)


def best_time(
    run: Callable[[], Any], repeats: int, clock: Callable[[], float] = time.perf_counter
) -> float:
    """The fastest of `repeats` calls of `run` timed on `clock` (each until its result is
    ready), after an untimed one (which compiles), in seconds."""
    jax.block_until_ready(run())
    fastest = float("inf")
    for _ in range(repeats):
        start = clock()
        jax.block_until_ready(run())
        fastest = min(fastest, clock() - start)
    return fastest


def table_peak(dtype: str) -> tuple[float, str] | None:
    """(the vendor's peak FLOP/s, its table entry) of the default device, or None when it has
    none (the CPU, an accelerator the table lacks): then the peak is measured."""
    device = jax.devices()[0]
    if device.platform != "cpu":
        for kind, (fp32, bf16) in PEAK_FLOPS.items():
            if kind.lower() in device.device_kind.lower():
                return (bf16 if dtype == "bfloat16" else fp32), f"table: {kind}"
    return None


def device_peak(dtype: str, repeats: int) -> tuple[float, str]:
    """(peak FLOP/s, where it comes from): the table for accelerators, else `matmul_peak`."""
    if table := table_peak(dtype):
        return table
    return matmul_peak(dtype, repeats=repeats), f"measured: best of {repeats} 2048x2048 matmuls"


def point_peak(dtype: str, repeats: int) -> float | None:
    """A point's own quick check of the measured peak (the best of min(`POINT_PEAK_REPEATS`,
    `repeats`) calls), or None where the peak is a table figure."""
    if table_peak(dtype):
        return None
    return matmul_peak(dtype, repeats=min(POINT_PEAK_REPEATS, repeats))
