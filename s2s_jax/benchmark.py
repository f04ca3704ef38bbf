"""Benchmark mode: speed, memory and FLOP/s at every point of a grid.

`run_benchmark(config, workdir)` measures each point of `config.grid` (the
cartesian product of its lists) in a fresh process, so compile time and peak
memory belong to that point alone. Per point:

- compile time of the train step and of greedy decoding;
- train steps/s and target tokens/s, greedy decoding tokens/s (fixed length,
  no early exit): warm-up excluded, `block_until_ready`, median of `reps`
  timed blocks, with min and max;
- peak memory: the device's `peak_bytes_in_use` where the backend reports it,
  else the process's peak RSS;
- achieved FLOP/s from the analytic count (flops.py), and utilization against
  the device's peak.

Writes workdir/benchmark.jsonl (one line per point, with the device, versions
and full point), benchmark.md (a table) and benchmark.png (tokens/s against
batch size, and step time against length, which should be a straight line).
"""

import concurrent.futures
import functools
import itertools
import json
import multiprocessing
import os
import resource
import statistics
import time
from typing import Any

import ml_collections

DECODERS = ("basic",)  # The context-vector decoder; the only one so far.


def grid_points(config: ml_collections.ConfigDict) -> list[dict[str, Any]]:
    """Every combination of the grid's lists, in order; `lengths` pairs become src_len, tgt_len."""
    keys = list(config.grid.keys())
    points = []
    for values in itertools.product(*config.grid.values()):
        point = dict(zip(keys, values, strict=True))
        point["src_len"], point["tgt_len"] = point.pop("lengths")
        points.append(point)
    return points


def _timed(fn, reps: int, calls: int) -> tuple[float, float, float]:
    """(median, min, max) calls/s over `reps` blocks of `calls` calls; fn blocks on its result."""
    rates = []
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        rates.append(calls / (time.perf_counter() - start))
    return statistics.median(rates), min(rates), max(rates)


def measure_point(
    point: dict[str, Any], settings: dict[str, Any], peak_flops: float
) -> dict[str, Any]:
    """Measures one grid point; runs in its own process."""
    import jax
    import numpy as np
    import optax

    from s2s_jax import decoding, flops, steps
    from s2s_jax.model import ModelConfig, Seq2Seq

    B, S, T = point["batch_size"], point["src_len"], point["tgt_len"]
    V = settings["vocab_size"]
    cfg = ModelConfig(
        src_vocab_size=V, tgt_vocab_size=V, cell=point["cell"], embed_size=settings["embed_size"],
        hidden_size=point["hidden_size"], num_layers=settings["num_layers"],
        scan_unroll=point["scan_unroll"], dtype=point["dtype"], remat=point["remat"],
    )  # fmt: skip
    model = Seq2Seq(cfg)
    rng = np.random.default_rng(0)
    batch = {
        "src_BxS": rng.integers(4, V, (B, S), dtype=np.int32),
        "tgt_in_BxT": rng.integers(4, V, (B, T), dtype=np.int32),
        "tgt_out_BxT": rng.integers(4, V, (B, T), dtype=np.int32),
    }
    batch = jax.device_put(batch)
    init = jax.jit(functools.partial(steps.init_state, model, optax.adam(1e-3), batch=batch))
    state = init(jax.random.PRNGKey(0))
    train_step = jax.jit(
        functools.partial(steps.train_step, model=model, label_smoothing=0.0), donate_argnums=0
    )
    start = time.perf_counter()
    train_compiled = train_step.lower(state, batch).compile()
    compile_s = time.perf_counter() - start

    holder = {"state": state}

    def one_step():
        holder["state"], metrics = train_compiled(holder["state"], batch)
        jax.block_until_ready(metrics)

    for _ in range(settings["warmup"]):
        one_step()
    steps_s, steps_min, steps_max = _timed(one_step, settings["reps"], settings["calls_per_rep"])
    result = {
        "compile_s": compile_s,
        "train_steps_per_s": steps_s,
        "train_steps_per_s_min": steps_min,
        "train_steps_per_s_max": steps_max,
        "train_tgt_tokens_per_s": steps_s * B * T,
    }
    step_flops = flops.train_flops(cfg, B, S, T)
    result["train_flops_per_step"] = step_flops
    result["train_flops_per_s"] = step_flops * steps_s
    result["utilization"] = step_flops * steps_s / peak_flops
    if settings["decode"]:
        decode = jax.jit(
            functools.partial(decoding.greedy_decode, model, max_len=T, early_exit=False)
        )
        params = holder["state"].params
        start = time.perf_counter()
        decode_compiled = decode.lower(params, batch["src_BxS"]).compile()
        result["decode_compile_s"] = time.perf_counter() - start
        run = lambda: jax.block_until_ready(decode_compiled(params, batch["src_BxS"]))  # noqa: E731
        run()
        rate, low, high = _timed(run, settings["reps"], settings["calls_per_rep"])
        result |= {
            "greedy_tokens_per_s": rate * B * T,
            "greedy_tokens_per_s_min": low * B * T,
            "greedy_tokens_per_s_max": high * B * T,
        }
    device = jax.devices()[0]
    stats = device.memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        result |= {"peak_memory_bytes": stats["peak_bytes_in_use"], "memory_source": "device"}
    else:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux.
        result |= {"peak_memory_bytes": rss, "memory_source": "process peak RSS"}
    return result


def _environment(peak: float, peak_source: str) -> dict[str, Any]:
    import flax
    import jax
    import jaxlib
    import optax

    device = jax.devices()[0]
    return {
        "platform": device.platform,
        "device_kind": device.device_kind,
        "device_count": jax.device_count(),
        "versions": {
            "jax": jax.__version__,
            "jaxlib": jaxlib.__version__,
            "flax": flax.__version__,
            "optax": optax.__version__,
        },
        "peak_flops": peak,
        "peak_source": peak_source,
    }


def _check(config: ml_collections.ConfigDict) -> None:
    from s2s_jax.errors import ConfigError

    lengths = [v for pair in config.grid.lengths for v in pair]
    if not all(len(pair) == 2 for pair in config.grid.lengths):
        raise ConfigError(f"config.grid.lengths={config.grid.lengths}: expected (src, tgt) pairs")
    for key in ("batch_size", "lengths", "hidden_size", "scan_unroll"):
        values = lengths if key == "lengths" else config.grid[key]
        if not all(isinstance(v, int) and v > 0 for v in values):
            raise ConfigError(
                f"config.grid.{key}={config.grid[key]} is invalid: expected integers > 0"
            )
    for key, allowed in (("cell", ("lstm", "gru", "rnn")), ("dtype", ("float32", "bfloat16")),
                         ("decoder", DECODERS), ("remat", (False, True))):  # fmt: skip
        bad = [v for v in config.grid[key] if v not in allowed]
        if bad:
            raise ConfigError(f"config.grid.{key} has {bad}: expected values from {allowed}")


def run_benchmark(config: ml_collections.ConfigDict, workdir: str) -> list[dict[str, Any]]:
    """Measures every grid point; writes benchmark.jsonl, .md and .png in `workdir`."""
    from absl import logging

    from s2s_jax import flops

    _check(config)
    os.makedirs(workdir, exist_ok=True)
    settings = config.settings.to_dict()
    peaks = {d: flops.device_peak(d) for d in set(config.grid.dtype)}
    rows = []
    path = os.path.join(workdir, "benchmark.jsonl")
    context = multiprocessing.get_context("spawn")
    for i, point in enumerate(grid_points(config)):
        peak, source = peaks[point["dtype"]]
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
            result = pool.submit(measure_point, point, settings, peak).result()
        row = {**_environment(peak, source), "point": point, "settings": settings, **result}
        rows.append(row)
        with open(path, "a", encoding="utf-8") as f:  # Appended point by point: a crash keeps them.
            f.write(json.dumps(row) + "\n")
        logging.info("Point %d: %s -> %.0f train tok/s, %.1f%% of peak", i + 1, point,
                     row["train_tgt_tokens_per_s"], 100 * row["utilization"])  # fmt: skip
    with open(os.path.join(workdir, "benchmark.md"), "w", encoding="utf-8") as f:
        f.write(markdown_table(rows))
    plot(rows, os.path.join(workdir, "benchmark.png"))
    print(markdown_table(rows))
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| batch | src | tgt | hidden | cell | dtype | unroll | remat | compile s "
        "| train steps/s (min-max) | train tok/s | greedy tok/s | peak MiB | TFLOP/s | util |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        p = r["point"]
        lines.append(
            f"| {p['batch_size']} | {p['src_len']} | {p['tgt_len']} | {p['hidden_size']} | "
            f"{p['cell']} | {p['dtype']} | {p['scan_unroll']} | {p['remat']} | "
            f"{r['compile_s']:.2f} | "
            f"{r['train_steps_per_s']:.2f} ({r['train_steps_per_s_min']:.2f}-"
            f"{r['train_steps_per_s_max']:.2f}) | {r['train_tgt_tokens_per_s']:.0f} | "
            f"{r.get('greedy_tokens_per_s', float('nan')):.0f} | "
            f"{r['peak_memory_bytes'] / 2**20:.0f} | {r['train_flops_per_s'] / 1e12:.3f} | "
            f"{100 * r['utilization']:.0f}% |"
        )
    device = rows[0]["device_kind"] if rows else "?"
    return f"Device: {device}\n\n" + "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], path: str) -> None:
    """Train tokens/s against batch size, and seconds per step against length."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for r in rows:
        p = r["point"]
        left.scatter(p["batch_size"], r["train_tgt_tokens_per_s"], color="C0")
        right.scatter(p["src_len"] + p["tgt_len"], 1 / r["train_steps_per_s"], color="C1")
    left.set(xlabel="batch size", ylabel="train target tokens/s", xscale="log")
    right.set(xlabel="source + target length", ylabel="seconds per train step")
    lengths = [
        (r["point"]["src_len"] + r["point"]["tgt_len"], 1 / r["train_steps_per_s"]) for r in rows
    ]
    if len({x for x, _ in lengths}) > 1:
        import numpy as np

        x, y = np.array(lengths).T
        slope, intercept = np.polyfit(x, y, 1)
        xs = np.linspace(0, x.max(), 50)
        right.plot(xs, slope * xs + intercept, "--", color="gray", label="linear fit")
        right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
