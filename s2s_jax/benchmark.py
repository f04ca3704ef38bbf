"""Benchmark mode: speed, memory and FLOP/s at every point of a grid.

`run_benchmark(config, workdir)` measures each point of `config.grid` (the
cartesian product of its lists) in fresh processes, one for speed and one for
memory, so compile time and peak memory belong to that point alone. Per point:

- compile time of the train step and of greedy decoding;
- train steps/s and target tokens/s, greedy and beam-search decoding tokens/s
  (fixed length, no early exit): warm-up excluded, `block_until_ready`,
  median of `reps` timed blocks, with min and max;
- peak memory of training: the device's `peak_bytes_in_use` where the backend
  reports it, else the process's peak RSS; and XLA's buffer plan for one step
  (arguments + outputs + temporaries − aliased), the same on every machine;
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


def _train_setup(point: dict[str, Any], settings: dict[str, Any]):
    """The point's model config, model, random batch, train state and jitted train step."""
    import jax
    import numpy as np
    import optax

    from s2s_jax import steps
    from s2s_jax.model import ModelConfig, Seq2Seq

    B, S, T = point["batch_size"], point["src_len"], point["tgt_len"]
    V = settings["vocab_size"]
    cfg = ModelConfig(
        src_vocab_size=V, tgt_vocab_size=V, cell=point["cell"], embed_size=settings["embed_size"],
        hidden_size=point["hidden_size"], num_layers=settings["num_layers"],
        scan_unroll=point["scan_unroll"], dtype=point["dtype"], remat=point["remat"],
        backend=point["backend"], decoder=point["decoder"],
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
        functools.partial(
            steps.train_step, model=model, label_smoothing=0.0, loss_chunk=point["loss_chunk"]
        ),
        donate_argnums=0,
    )
    return cfg, model, batch, state, train_step


def measure_memory(point: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """Peak memory of training one point; runs in its own process.

    Separate from `measure_point`, and with the C library's default allocator
    (which `keep_freed_memory` changes for speed), so that peak RSS is what
    training needs, not what a tuned heap keeps.
    """
    import jax

    _, _, batch, state, train_step = _train_setup(point, settings)
    compiled = train_step.lower(state, batch).compile()
    for _ in range(settings["warmup"] + 2):
        state, metrics = compiled(state, batch)
        jax.block_until_ready(metrics)
    plan = compiled.memory_analysis()  # XLA's buffer plan for one step.
    return {
        **_peak_memory(jax.devices()[0]),
        "train_step_plan_bytes": plan.argument_size_in_bytes + plan.output_size_in_bytes
        + plan.temp_size_in_bytes - plan.alias_size_in_bytes,
    }  # fmt: skip


def measure_point(
    point: dict[str, Any], settings: dict[str, Any], peak_flops: float
) -> dict[str, Any]:
    """Measures one grid point's speed; runs in its own process."""
    from s2s_jax.host_memory import keep_freed_memory

    keep_freed_memory()  # As launch.py does, before JAX allocates.
    import jax

    from s2s_jax import beam_search, decoding, flops

    B, S, T = point["batch_size"], point["src_len"], point["tgt_len"]
    cfg, model, batch, state, train_step = _train_setup(point, settings)
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
    params = holder["state"].params
    decoders = {}
    if settings["decode"]:
        decoders["greedy"] = functools.partial(decoding.greedy_decode, model)
    if settings["beam_size"]:
        decoders["beam"] = functools.partial(
            beam_search.beam_search,
            model,
            beam_size=settings["beam_size"],
            length_penalty=settings["length_penalty"],
        )
    for name, decoder in decoders.items():
        # Fixed-length decoding (no early exit): tgt_len output tokens per sentence.
        decode = jax.jit(functools.partial(decoder, max_len=T, early_exit=False))
        start = time.perf_counter()
        compiled = decode.lower(params, batch["src_BxS"]).compile()
        result[f"{name}_compile_s"] = time.perf_counter() - start
        run = functools.partial(
            lambda c: jax.block_until_ready(c(params, batch["src_BxS"])), compiled
        )
        run()
        rate, low, high = _timed(run, settings["reps"], settings["calls_per_rep"])
        result |= {
            f"{name}_tokens_per_s": rate * B * T,
            f"{name}_tokens_per_s_min": low * B * T,
            f"{name}_tokens_per_s_max": high * B * T,
        }
    return result


def _peak_memory(device: Any) -> dict[str, Any]:
    """The device's peak bytes in use where it reports them, else the process's peak RSS."""
    stats = device.memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        return {"peak_memory_bytes": stats["peak_bytes_in_use"], "memory_source": "device"}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux.
    return {"peak_memory_bytes": rss, "memory_source": "process peak RSS"}


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
    import jax

    from s2s_jax.config_checks import check_backend
    from s2s_jax.errors import ConfigError
    from s2s_jax.model import DECODERS
    from s2s_jax.recurrent import BACKENDS, CELLS

    lengths = [v for pair in config.grid.lengths for v in pair]
    if not all(len(pair) == 2 for pair in config.grid.lengths):
        raise ConfigError(f"config.grid.lengths={config.grid.lengths}: expected (src, tgt) pairs")
    for key in ("batch_size", "lengths", "hidden_size", "scan_unroll", "loss_chunk"):
        values = lengths if key == "lengths" else config.grid[key]
        least = 0 if key == "loss_chunk" else 1  # loss_chunk 0 means no chunking.
        if not all(isinstance(v, int) and v >= least for v in values):
            raise ConfigError(
                f"config.grid.{key}={config.grid[key]} is invalid: expected integers >= {least}"
            )
    for key, meaning in (("beam_size", "0 skips beam search"), ("memory_bound_mib", "0: none")):
        value = config.settings[key]
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            raise ConfigError(
                f"config.settings.{key}={value!r} is invalid: expected an integer >= 0 ({meaning})"
            )
    for key, allowed in (("cell", CELLS), ("dtype", ("float32", "bfloat16")),
                         ("decoder", DECODERS), ("remat", (False, True)),
                         ("backend", BACKENDS)):  # fmt: skip
        bad = [v for v in config.grid[key] if v not in allowed]
        if bad:
            raise ConfigError(f"config.grid.{key} has {bad}: expected values from {allowed}")
    for point in grid_points(config):
        check_backend(ml_collections.ConfigDict(point), jax.devices()[0].platform, "config.grid")


def run_benchmark(config: ml_collections.ConfigDict, workdir: str) -> list[dict[str, Any]]:
    """Measures every grid point; writes benchmark.jsonl, .md and .png in `workdir`."""
    from absl import logging

    from s2s_jax import flops
    from s2s_jax.errors import UserError

    _check(config)
    os.makedirs(workdir, exist_ok=True)
    settings = config.settings.to_dict()
    peaks = {d: flops.device_peak(d) for d in set(config.grid.dtype)}
    rows = []
    path = os.path.join(workdir, "benchmark.jsonl")
    context = multiprocessing.get_context("spawn")
    for i, point in enumerate(grid_points(config)):
        peak, source = peaks[point["dtype"]]
        result = {}
        for measure, args in ((measure_point, (peak,)), (measure_memory, ())):
            with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
                result |= pool.submit(measure, point, settings, *args).result()
        row = {**_environment(peak, source), "point": point, "settings": settings, **result}
        bound = settings["memory_bound_mib"]
        row["within_memory_bound"] = not bound or row["peak_memory_bytes"] <= bound * 2**20
        rows.append(row)
        with open(path, "a", encoding="utf-8") as f:  # Appended point by point: a crash keeps them.
            f.write(json.dumps(row) + "\n")
        logging.info("Point %d: %s -> %.0f train tok/s, %.1f%% of peak", i + 1, point,
                     row["train_tgt_tokens_per_s"], 100 * row["utilization"])  # fmt: skip
    with open(os.path.join(workdir, "benchmark.md"), "w", encoding="utf-8") as f:
        f.write(markdown_table(rows))
    plot(rows, os.path.join(workdir, "benchmark.png"))
    print(markdown_table(rows))
    over = [r["point"] for r in rows if not r["within_memory_bound"]]
    if over:
        raise UserError(
            f"{len(over)} point(s) went over config.settings.memory_bound_mib="
            f"{settings['memory_bound_mib']}: {over} (results kept in {workdir})"
        )
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| batch | src | tgt | hidden | cell | dtype | unroll | remat | loss chunk | backend "
        "| decoder "
        "| compile s "
        "| train steps/s (min-max) | train tok/s | greedy tok/s | beam tok/s | peak MiB "
        "| step plan MiB | TFLOP/s | util |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        p = r["point"]
        lines.append(
            f"| {p['batch_size']} | {p['src_len']} | {p['tgt_len']} | {p['hidden_size']} | "
            f"{p['cell']} | {p['dtype']} | {p['scan_unroll']} | {p['remat']} | {p['loss_chunk']} | "
            f"{p['backend']} | {p['decoder']} | "
            f"{r['compile_s']:.2f} | "
            f"{r['train_steps_per_s']:.2f} ({r['train_steps_per_s_min']:.2f}-"
            f"{r['train_steps_per_s_max']:.2f}) | {r['train_tgt_tokens_per_s']:.0f} | "
            f"{_rate(r, 'greedy_tokens_per_s')} | {_rate(r, 'beam_tokens_per_s')} | "
            f"{r['peak_memory_bytes'] / 2**20:.0f}{'' if r['within_memory_bound'] else ' OVER'} | "
            f"{r['train_step_plan_bytes'] / 2**20:.0f} | "
            f"{r['train_flops_per_s'] / 1e12:.3f} | "
            f"{100 * r['utilization']:.0f}% |"
        )
    device = rows[0]["device_kind"] if rows else "?"
    return f"Device: {device}\n\n" + "\n".join(lines) + "\n"


def _rate(row: dict[str, Any], key: str) -> str:
    """A decoding rate, or '-' for a decoder the settings did not time."""
    return f"{row[key]:.0f}" if key in row else "-"


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
