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
  the device's peak.

Writes workdir/benchmark.jsonl (one line per point, with the device, versions,
the point and its whole config), benchmark.md (a table) and benchmark.png
(tokens/s against batch size, and step time against length) (report.py).

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

from s2s_jax.benchmark import flops, grid, measure, report
from s2s_jax.errors import ConfigError, UserError


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
    peaks = {d: flops.device_peak(d) for d in set(config.benchmark.grid.dtype)}
    rows = []
    path = os.path.join(workdir, "benchmark.jsonl")
    context = multiprocessing.get_context("spawn")
    for i, point in enumerate(points):
        peak, source = peaks[point["dtype"]]
        point_cfg = grid.point_config(config, point).to_dict()
        result = {}
        for measure_fn, args in ((measure.measure_speed, (peak,)), (measure.measure_memory, ())):
            with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
                result |= pool.submit(measure_fn, point_cfg, settings, workdir, *args).result()
        row = {**_environment(peak, source), "point": point, "settings": settings,
               "config": point_cfg, **result}  # fmt: skip
        bound = settings["memory_bound_mib"]
        row["within_memory_bound"] = not bound or row["peak_memory_bytes"] <= bound * 2**20
        rows.append(row)
        with open(path, "a", encoding="utf-8") as f:  # Appended point by point: a crash keeps them.
            f.write(json.dumps(row) + "\n")
        logging.info("Point %d: %s -> %.0f train tok/s, %.1f%% of peak", i + 1, point,
                     row["train_tgt_tokens_per_s"], 100 * row["utilization"])  # fmt: skip
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
