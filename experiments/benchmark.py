"""Benchmark grids for `launch.py --mode=benchmark`.

    python launch.py --mode=benchmark --config=experiments/benchmark.py:base \
        --workdir=workdirs/bench

Variants (the first three are the reference configurations of the PyTorch twin
in ../shared/bench): `small`, `base`, `long` (length 128, with and without
remat), and `grid` (batch sizes, lengths, cells and dtypes around `base`).
"""

import ml_collections

_VARIANTS = {
    # name: (batch sizes, (src_len, tgt_len) pairs, vocab, embed, hidden sizes)
    "small": ((32,), ((16, 16),), 1000, 64, (128,)),
    "base": ((64,), ((32, 32),), 8000, 256, (512,)),
    "long": ((32,), ((128, 128),), 8000, 256, (512,)),
    "grid": ((16, 32, 64, 128), ((16, 16), (32, 32), (64, 64)), 8000, 256, (512,)),
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    variant = arg or "base"
    if variant not in _VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; use one of {list(_VARIANTS)}")
    batches, lengths, vocab, embed, hiddens = _VARIANTS[variant]
    c = ml_collections.ConfigDict()
    c.seed = 0

    c.settings = ml_collections.ConfigDict()  # Shared by every point.
    c.settings.vocab_size = vocab  # Source and target vocabulary.
    c.settings.embed_size = embed
    c.settings.num_layers = 1
    c.settings.warmup = 2  # Untimed calls after compiling.
    c.settings.reps = 5  # Timed blocks; the median, min and max are reported.
    c.settings.calls_per_rep = 3 if variant in ("long", "grid") else 5  # Calls per timed block.
    c.settings.decode = True  # Also time greedy decoding (tgt_len tokens, no early exit).

    c.grid = ml_collections.ConfigDict()  # Every combination of these lists is one point.
    c.grid.batch_size = batches
    c.grid.lengths = lengths  # (source, target) length pairs.
    c.grid.hidden_size = hiddens
    c.grid.cell = ("lstm", "gru") if variant == "grid" else ("lstm",)
    c.grid.dtype = ("float32", "bfloat16") if variant == "grid" else ("float32",)
    c.grid.scan_unroll = (1,)
    c.grid.decoder = ("basic",)  # The context-vector decoder.
    c.grid.remat = (False, True) if variant == "long" else (False,)
    return c
