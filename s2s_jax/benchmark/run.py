"""`run_benchmark(config, workdir)`: every point of `config.benchmark.grid`, measured.

Each point (grid.py) is an ordinary experiment config on synthetic data, built
by `experiment.build` like any run, and measured in fresh processes, one for
speed and one for memory (measure.py), so that compile time and peak memory
belong to that point alone. Per point:

- compile time of the train step and of greedy and beam-search decoding;
- train steps/s and target tokens/s, greedy and beam-search decoding tokens/s
  (fixed length, no early exit): warm-up excluded, `block_until_ready`,
  median of `reps` timed blocks, with min and max;
- peak memory of training: the device's `peak_bytes_in_use` where the backend
  reports it, else the process's peak RSS; and XLA's buffer plan for one step
  (arguments + outputs + temporaries − aliased), the same on every machine;
- achieved FLOP/s from the analytic count (flops.py), and utilization against
  the run's peak.

The peak (flops.py): on CPU, the best of `config.benchmark.peak_repeats` timed
matmuls, measured in this process at the start of the run and again at its end;
the run's peak is the larger, and every row keeps both. Each point's process also
checks the peak right before its timing. A point is flagged (report.peak_flags:
the table's `flags` column and a log warning) when its own check is more than
10% off the run's peak, when the start and the end differ by more than 10%, or
when its utilization is over 100% (then the FLOP count or the peak is wrong; it
is never clipped).

Writes workdir/benchmark.jsonl (one line per point, with the device, versions,
the point and its whole config; appended as each point ends, with utilization
against the start's peak, and rewritten at the end against the run's peak),
benchmark.md (the peaks, then a table) and benchmark.png (step time against
target length, one fitted series per batch size; tokens/s against batch size,
one series per length) (report.py).

Scaling: points that differ only in their device count (the grid's `devices`
axis) also give tokens/s against the device count, with the speedup and the
efficiency against linear scaling: a table in benchmark.md and
benchmark_scaling.png. A point that needs more devices than exist is skipped,
and the log says so.
"""

import concurrent.futures
import json
import multiprocessing
import os
from typing import Any

import ml_collections
from absl import logging

from s2s_jax import atomic_write
from s2s_jax.benchmark import flops, grid, measure, report
from s2s_jax.errors import ConfigError, UserError


def _environment(peak_source: str) -> dict[str, Any]:
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
        "peak_source": peak_source,
    }


def with_run_peak(row: dict[str, Any], start: float, end: float) -> dict[str, Any]:
    """`row` with the run's peak FLOP/s (the larger of the start's and the end's), the
    utilization against it, and its flags (report.peak_flags).

    The peak is that of all the point's devices; on CPU, where the measured peak is the host's
    (a matmul on all its cores), fake devices share it.
    """
    peak = max(start, end)
    devices_peak = peak * (1 if row["platform"] == "cpu" else row["num_devices"])
    row = {**row, "peak_flops": peak, "peak_flops_start": start, "peak_flops_end": end,
           "utilization": row["train_flops_per_s"] / devices_peak}  # fmt: skip
    return {**row, "peak_flags": report.peak_flags(row)}


def _log_peaks(when: str, peaks: dict[str, tuple[float, str]]) -> None:
    for dtype, (peak, source) in peaks.items():
        logging.info("Peak at the %s, %s: %.1f GFLOP/s (%s)", when, dtype, peak / 1e9, source)


def run_benchmark(config: ml_collections.ConfigDict, workdir: str) -> list[dict[str, Any]]:
    """Measures every grid point; writes benchmark.jsonl, .md and .png in `workdir`."""
    import jax

    grid.validate(config, jax.device_count(), jax.devices()[0].platform)
    points, skipped = grid.runnable(config, jax.device_count())
    for point in skipped:
        logging.warning("Skipping point %s: it needs %d devices, and %d exist", point,
                        grid.point_devices(point, config), jax.device_count())  # fmt: skip
    if not points:
        raise ConfigError(
            f"every point of config.benchmark.grid needs more than the {jax.device_count()} "
            "devices that exist (config.benchmark.grid.devices)"
        )
    os.makedirs(workdir, exist_ok=True)
    settings = config.benchmark.to_dict()
    del settings["grid"]
    dtypes = sorted(set(config.benchmark.grid.dtype))
    start = {d: flops.device_peak(d, settings["peak_repeats"]) for d in dtypes}
    _log_peaks("start", start)
    rows = []
    path = os.path.join(workdir, "benchmark.jsonl")
    earlier = ""  # Rows of earlier runs in this workdir, kept when the file is rewritten.
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            earlier = f.read()
    context = multiprocessing.get_context("spawn")
    for i, point in enumerate(points):
        peak, source = start[point["dtype"]]
        point_cfg = grid.point_config(config, point).to_dict()
        result = {}
        for measure_fn in (measure.measure_speed, measure.measure_memory):
            with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
                result |= pool.submit(measure_fn, point_cfg, settings, workdir).result()
        row = {**_environment(source), "point": point, "settings": settings,
               "config": point_cfg, **result}  # fmt: skip
        row = with_run_peak(row, peak, peak)  # Until the end's measurement.
        bound = settings["memory_bound_mib"]
        row["within_memory_bound"] = not bound or row["peak_memory_bytes"] <= bound * 2**20
        rows.append(row)
        with open(path, "a", encoding="utf-8") as f:  # Appended point by point: a crash keeps them.
            f.write(json.dumps(row) + "\n")
        own = report.own_peak_change(row)  # Against the start's peak, the row's until the end.
        logging.info("Point %d: %s -> %.0f train tok/s, %.1f%% of the start's peak; its own peak "
                     "check: %s", i + 1, point, row["train_tgt_tokens_per_s"],
                     100 * row["utilization"], "-" if own is None else f"{own:+.1%}")  # fmt: skip
    end = {d: flops.device_peak(d, settings["peak_repeats"]) for d in dtypes}
    _log_peaks("end", end)
    dtype_of = [r["point"]["dtype"] for r in rows]
    rows = [with_run_peak(r, start[d][0], end[d][0]) for r, d in zip(rows, dtype_of, strict=True)]
    atomic_write.write_text(path, earlier + "".join(json.dumps(r) + "\n" for r in rows))
    for r in rows:
        if r["peak_flags"]:
            logging.warning("Point %s: %s", r["point"], "; ".join(r["peak_flags"]))
    table = report.markdown_table(rows)
    if scaling := report.scaling(rows):
        table += "\nScaling (train tokens/s against the device count):\n\n"
        table += report.scaling_table(scaling)
        report.plot_scaling(scaling, os.path.join(workdir, "benchmark_scaling.png"))
    with open(os.path.join(workdir, "benchmark.md"), "w", encoding="utf-8") as f:
        f.write(table)
    report.plot(rows, os.path.join(workdir, "benchmark.png"))
    print(table)
    over = [r["point"] for r in rows if not r["within_memory_bound"]]
    if over:
        raise UserError(
            f"{len(over)} point(s) went over config.benchmark.memory_bound_mib="
            f"{settings['memory_bound_mib']}: {over} (results kept in {workdir})"
        )
    return rows
