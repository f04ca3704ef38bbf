"""Analytic FLOP counts of the model, and the peak FLOP/s of the device.

XLA's cost analysis counts a scan body once, not once per time step, so it
cannot count an RNN's FLOPs; these formulas count the matmuls, which dominate
(elementwise gate math is left out). A multiply-add is 2 FLOPs.
"""

import time

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


def matmul_peak(dtype: str = "float32", n: int = 2048, reps: int = 5) -> float:
    """Measured FLOP/s of an n×n matmul on the default device (the median of `reps`)."""
    a = jnp.asarray(np.random.default_rng(0).standard_normal((n, n)), dtype)
    matmul = jax.jit(lambda x: x @ x)
    matmul(a).block_until_ready()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        matmul(a).block_until_ready()
        times.append(time.perf_counter() - start)
    return 2 * n**3 / float(np.median(times))


def device_peak(dtype: str) -> tuple[float, str]:
    """(peak FLOP/s, where it comes from): the table for accelerators, a measurement on CPU."""
    device = jax.devices()[0]
    if device.platform != "cpu":
        for kind, (fp32, bf16) in PEAK_FLOPS.items():
            if kind.lower() in device.device_kind.lower():
                return (bf16 if dtype == "bfloat16" else fp32), f"table: {kind}"
    return matmul_peak(dtype), "measured: 2048x2048 matmul"
