"""Benchmark grids for `launch.py --mode=benchmark`.

    python launch.py --mode=benchmark --config=experiments/benchmark.py:base \
        --workdir=workdirs/bench

Each point is an ordinary experiment config (the shared base, synthetic data,
the point's fields set), built and jitted by `experiment.build` as a training
run is, and checked by config_checks before anything is measured.

Variants. The first three are the reference configurations of the PyTorch twin
in ../shared/bench (compare with `python scripts/compare_torch.py`):

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
- `scaling`: `base` on 1, 2, 4 and 8 devices (the grid's optional `devices` axis
  sets config.devices), at a global batch of 64 and of 512 (64 rows per device
  on 8): train tokens/s against the device count, and the efficiency against
  linear scaling, in benchmark.md and benchmark_scaling.png. Points for more
  devices than exist are skipped (the log names them). On CPU, try it on 8 fake
  devices: XLA_FLAGS=--xla_force_host_platform_device_count=8.
"""

import ml_collections

from experiments import base

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
    "loss_chunk": (-1,),  # The shipped default: chosen from the shape.
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
        "decoder": ("basic", "context", "bahdanau", "luong"),
    },
    "sizes": {"hidden_size": (256, 512, 1024), "scan_unroll": (1, 2)},
    "scaling": {"devices": (1, 2, 4, 8), "batch_size": (64, 512)},
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    variant = arg or "base"
    if variant not in _VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; use one of {list(_VARIANTS)}")
    small = variant == "small"
    c = base.get_config()
    # Random token ids (s2s_jax/data/synthetic.py); the grid's `lengths` set src_len, tgt_len.
    c.synthetic = ml_collections.ConfigDict()
    c.synthetic.vocab_size = 1000 if small else 8000  # Source and target vocabulary.
    c.synthetic.src_len = 32  # Set per point by the grid.
    c.synthetic.tgt_len = 32  # Set per point by the grid (target tokens plus EOS).
    c.synthetic.num_eval = 64  # Held-out pairs (a training run on this config evaluates them).
    base.override(c, {
        "model.embed_size": 64 if small else 256,
        # As the PyTorch twin trains: Adam at a constant 1e-3, no clipping, no smoothing.
        "optim.learning_rate": 1e-3,
        "optim.schedule": "constant",
        "optim.warmup_steps": 0,
        "optim.grad_clip_norm": 0.0,
        "eval.early_exit": False,  # Decode tgt_len tokens per sentence: a fixed amount of work.
    })  # fmt: skip

    c.benchmark = ml_collections.ConfigDict()  # How each point is measured.
    c.benchmark.warmup = 2  # Untimed calls after compiling.
    c.benchmark.reps = 5  # Timed blocks; the median, min and max are reported.
    c.benchmark.calls_per_rep = 5 if variant in ("small", "base") else 3  # Calls per timed block.
    c.benchmark.peak_repeats = 7  # CPU peak: best of this many matmuls, at the start and the end.
    c.benchmark.decode = True  # Also time greedy decoding (tgt_len tokens, no early exit).
    # Also time beam search with this many beams; 0 skips it (`scaling` is about training).
    c.benchmark.beam_size = 0 if variant == "scaling" else 4
    # Peak memory every point must stay within (MiB of device memory, or of the process's
    # peak RSS on CPU); a point above it is flagged in the table and fails the run.
    # 0 = no bound. `long` states 1,024 MiB for B=32, length 128 (measured: 909-918 MiB).
    c.benchmark.memory_bound_mib = 1024 if variant == "long" else 0
    # Also time the step's kernels alone, its matmuls and its update, for the fastest the step
    # could be with this device's kernels (s2s_jax/benchmark/kernel_bound.py); points of the
    # basic decoder on one device only. compare_torch's --kernel_bound turns it on.
    c.benchmark.kernel_bound = False

    # Every combination of these lists is one point; each sets one experiment config field
    # (s2s_jax/benchmark/grid.py), and the other fields are the ones above.
    c.benchmark.grid = ml_collections.ConfigDict()
    grid = {**_BASE, **_VARIANTS[variant]}
    c.benchmark.grid.batch_size = grid["batch_size"]  # train.batch_size.
    c.benchmark.grid.lengths = grid["lengths"]  # (synthetic.src_len, synthetic.tgt_len) pairs.
    c.benchmark.grid.hidden_size = grid["hidden_size"]  # model.hidden_size.
    c.benchmark.grid.cell = grid["cell"]  # model.cell: 'lstm', 'gru' or 'rnn'.
    c.benchmark.grid.dtype = grid["dtype"]  # model.dtype, the compute dtype; params stay float32.
    c.benchmark.grid.scan_unroll = grid["scan_unroll"]  # model.scan_unroll.
    # model.backend: 'fused' is the custom-VJP path, the fastest on CPU; 'scan' is plain
    # nn.scan; 'cudnn' needs a CUDA GPU and the LSTM.
    c.benchmark.grid.backend = grid["backend"]
    c.benchmark.grid.decoder = grid["decoder"]  # model.decoder: basic | context | bahdanau | luong.
    c.benchmark.grid.remat = grid["remat"]  # model.remat: recompute in the backward pass.
    c.benchmark.grid.loss_chunk = grid["loss_chunk"]  # train.loss_chunk_size; 0 whole, -1 auto.
    if "devices" in grid:  # An optional axis: config.devices (-1 = all) holds without it.
        c.benchmark.grid.devices = grid["devices"]  # config.devices of each point.
    return c
