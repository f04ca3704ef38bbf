"""Benchmark grids for `launch.py --mode=benchmark`.

    python launch.py --mode=benchmark --config=experiments/benchmark.py:base \
        --workdir=workdirs/bench

Variants. The first three are the reference configurations of the PyTorch twin
in ../shared/bench (compare with `python -m s2s_jax.compare_torch`):

- `small`, `base`: one point each.
- `long`: length 128 with the loss in chunks of 16 steps, with and without
  remat; the memory bound below is checked at every point. (Add 0 to
  `loss_chunk` to see the whole-sequence loss, which goes over it.)
- `remat`: `long`'s shape on both backends, with and without remat: on
  'scan' remat is `nn.remat` on the scan body; 'fused' recomputes only the
  hidden projections. Measurement only, no bound.
- `grid`: batch size x length around `base` (the plot's two panels).
- `axes`: cell x dtype x backend x decoder type at `base`.
- `sizes`: hidden size x scan unroll at `base`.
"""

import ml_collections

_BASE = {
    "batch_size": (64,),
    "lengths": ((32, 32),),
    "hidden_size": (512,),
    "cell": ("lstm",),
    "dtype": ("float32",),
    "scan_unroll": (1,),
    "backend": ("fused",),
    "decoder": ("basic",),
    "remat": (False,),
    "loss_chunk": (0,),
}
_LONG = {"batch_size": (32,), "lengths": ((128, 128),), "loss_chunk": (16,)}
_VARIANTS = {  # name: the grid lists that differ from _BASE.
    "small": {"batch_size": (32,), "lengths": ((16, 16),), "hidden_size": (128,)},
    "base": {},
    "long": {**_LONG, "remat": (False, True)},
    "remat": {**_LONG, "backend": ("scan", "fused"), "remat": (False, True)},
    "grid": {"batch_size": (16, 32, 64, 128), "lengths": ((16, 16), (32, 32), (64, 64))},
    "axes": {
        "cell": ("lstm", "gru"),
        "dtype": ("float32", "bfloat16"),
        "backend": ("scan", "fused"),
        "decoder": ("basic", "context"),
    },
    "sizes": {"hidden_size": (256, 512, 1024), "scan_unroll": (1, 2)},
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    variant = arg or "base"
    if variant not in _VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; use one of {list(_VARIANTS)}")
    small = variant == "small"
    c = ml_collections.ConfigDict()
    c.seed = 0

    c.settings = ml_collections.ConfigDict()  # Shared by every point.
    c.settings.vocab_size = 1000 if small else 8000  # Source and target vocabulary.
    c.settings.embed_size = 64 if small else 256
    c.settings.num_layers = 1
    c.settings.warmup = 2  # Untimed calls after compiling.
    c.settings.reps = 5  # Timed blocks; the median, min and max are reported.
    c.settings.calls_per_rep = 5 if variant in ("small", "base") else 3  # Calls per timed block.
    c.settings.decode = True  # Also time greedy decoding (tgt_len tokens, no early exit).
    c.settings.beam_size = 4  # Also time beam search with this many beams; 0 skips it.
    c.settings.length_penalty = 0.6  # Beam search's GNMT length-penalty alpha.
    # Peak memory every point must stay within (MiB of device memory, or of the process's
    # peak RSS on CPU); a point above it is flagged in the table and fails the run.
    # 0 = no bound. `long` states 1,024 MiB for B=32, length 128 (measured: 909-918 MiB).
    c.settings.memory_bound_mib = 1024 if variant == "long" else 0

    c.grid = ml_collections.ConfigDict()  # Every combination of these lists is one point.
    grid = {**_BASE, **_VARIANTS[variant]}
    c.grid.batch_size = grid["batch_size"]
    c.grid.lengths = grid["lengths"]  # (source, target) length pairs.
    c.grid.hidden_size = grid["hidden_size"]
    c.grid.cell = grid["cell"]  # 'lstm', 'gru' or 'rnn'.
    c.grid.dtype = grid["dtype"]  # Compute dtype; params stay float32.
    c.grid.scan_unroll = grid["scan_unroll"]  # Time steps per loop iteration.
    # How layers run over time (recurrent.py): 'fused' is the custom-VJP path, the
    # fastest on CPU; 'scan' is plain nn.scan; 'cudnn' needs a CUDA GPU and the LSTM.
    c.grid.backend = grid["backend"]
    # 'basic' (the context vector starts the decoder) or 'context' (it also feeds every step).
    c.grid.decoder = grid["decoder"]
    c.grid.remat = grid["remat"]  # Recompute activations in the backward pass.
    # Target steps per chunk of the output layer and loss (train.loss_chunk_size); 0 = whole.
    c.grid.loss_chunk = grid["loss_chunk"]
    return c
