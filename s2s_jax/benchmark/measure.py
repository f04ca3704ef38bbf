"""What a benchmark point's processes measure; each call runs in a process of its own.

Everything is built by `experiment.build` from the point's experiment config:
the same model, optimizer, shardings and jitted steps as a training run.
"""

import functools
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any

import ml_collections


def _timed(fn: Callable[[], Any], reps: int, calls: int) -> tuple[float, float, float]:
    """(median, min, max) calls/s over `reps` blocks of `calls` calls; fn blocks on its result."""
    rates = []
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        rates.append(calls / (time.perf_counter() - start))
    return statistics.median(rates), min(rates), max(rates)


def _train_setup(config: dict[str, Any], workdir: str):
    """The point's experiment, its initial state, a batch on the devices, the compiled step."""
    from s2s_jax import experiment

    exp = experiment.build(ml_collections.ConfigDict(config), workdir)
    state = exp.initial_state()
    batch = exp.put_batch(next(exp.data.train_batches()))
    start = time.perf_counter()
    compiled = exp.train_step.lower(state, batch).compile()
    return exp, state, batch, compiled, time.perf_counter() - start


def peak_memory(device: Any) -> dict[str, Any]:
    """The device's peak bytes in use where it reports them, else the process's peak RSS."""
    stats = device.memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        return {"peak_memory_bytes": stats["peak_bytes_in_use"], "memory_source": "device"}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux.
    return {"peak_memory_bytes": rss, "memory_source": "process peak RSS"}


def measure_memory(config: dict[str, Any], settings: dict[str, Any], workdir: str) -> dict:
    """Peak memory of training one point.

    Separate from `measure_speed`, and with the C library's default allocator
    (which `keep_freed_memory` changes for speed), so that peak RSS is what
    training needs, not what a tuned heap keeps.
    """
    import jax

    exp, state, batch, compiled, _ = _train_setup(config, workdir)
    for _ in range(settings["warmup"] + 2):
        state, metrics = compiled(state, batch)
        jax.block_until_ready(metrics)
    plan = compiled.memory_analysis()  # XLA's buffer plan for one step.
    return {
        **peak_memory(exp.mesh.devices.flat[0]),
        "train_step_plan_bytes": plan.argument_size_in_bytes + plan.output_size_in_bytes
        + plan.temp_size_in_bytes - plan.alias_size_in_bytes,
    }  # fmt: skip


def measure_speed(config: dict[str, Any], settings: dict[str, Any], workdir: str) -> dict:
    """Compile time, train and decoding rates, achieved FLOP/s of one point, and this process's
    own check of the peak (flops.point_peak) right before the timing; the parent takes the
    utilization against the run's peak (run.py)."""
    from s2s_jax.host_memory import keep_freed_memory

    keep_freed_memory()  # As launch.py does, before JAX allocates.
    import jax

    from s2s_jax import experiment
    from s2s_jax.benchmark import flops

    exp, state, batch, compiled, compile_s = _train_setup(config, workdir)
    B, T = batch["tgt_out_BxT"].shape
    num_devices = exp.mesh.devices.size
    holder = {"state": state}

    def one_step():
        holder["state"], metrics = compiled(holder["state"], batch)
        jax.block_until_ready(metrics)

    for _ in range(settings["warmup"]):
        one_step()
    point_peak = flops.point_peak(config["model"]["dtype"], settings["peak_repeats"])
    steps_s, steps_min, steps_max = _timed(one_step, settings["reps"], settings["calls_per_rep"])
    step_flops = flops.train_flops(exp.model_cfg, B, batch["src_BxS"].shape[1], T)
    result = {
        "num_devices": num_devices,
        "compile_s": compile_s,
        "train_steps_per_s": steps_s,
        "train_steps_per_s_min": steps_min,
        "train_steps_per_s_max": steps_max,
        "train_tgt_tokens_per_s": steps_s * B * T,
        "train_flops_per_step": step_flops,
        "train_flops_per_s": step_flops * steps_s,
        "point_peak_flops": point_peak,
    }
    if settings["kernel_bound"]:  # Each of the step's kernels alone (kernel_bound.py).
        from s2s_jax.benchmark import kernel_bound

        shape, dtype = (B, batch["src_BxS"].shape[1], T), config["model"]["dtype"]
        result |= kernel_bound.measure(exp.model_cfg, holder["state"], shape, dtype,
                                       settings["peak_repeats"], settings["decode"])  # fmt: skip
    params = holder["state"].params
    # Decoding of tgt_len tokens per sentence (config.eval.early_exit is off): greedy, and
    # beam search with settings["beam_size"] hypotheses, each built as a run would build it.
    beams = {"greedy": 1 if settings["decode"] else 0, "beam": settings["beam_size"]}
    rng = jax.random.key(0)  # Read by sampling only.
    for name, beam_size in beams.items():
        if not beam_size:
            continue
        decode_config = ml_collections.ConfigDict(config)
        decode_config.eval.decode = name
        decode_config.eval.beam_size = beam_size
        decode = experiment.build(decode_config, workdir).decode
        start = time.perf_counter()
        decode_compiled = decode.lower(params, batch["src_BxS"], rng).compile()
        result[f"{name}_compile_s"] = time.perf_counter() - start
        run = functools.partial(
            lambda c: jax.block_until_ready(c(params, batch["src_BxS"], rng)), decode_compiled
        )
        run()
        rate, low, high = _timed(run, settings["reps"], settings["calls_per_rep"])
        result |= {
            f"{name}_tokens_per_s": rate * B * T,
            f"{name}_tokens_per_s_min": low * B * T,
            f"{name}_tokens_per_s_max": high * B * T,
        }
    return result
