"""The files of a sweep's workdir W, and how they are read and written.

W/sweep.json               the sweep definition: experiment, shared overrides, trials, metric
W/<trial>/overrides.json   the trial's overrides: {"experiment", "swept", "shared"}
W/<trial>/status.json      how its last run ended: status, exit_code, error, wall_seconds, ...
W/<trial>/final_eval.json  written by the trial's training run (train.py)
W/<trial>/stdout.log, stderr.log   the trial's output, appended over reruns
W/<trial>/slurm/           submitit's files of the trial's jobs (--sweep_executor=slurm)
W/results.csv, results.md, results.png, sweep.log
"""

import json
import math
import os
from typing import Any

from s2s_jax import atomic_write
from s2s_jax.errors import UserError

SWEEP = "sweep.json"
OVERRIDES = "overrides.json"
STATUS = "status.json"
FINAL_EVAL = "final_eval.json"
STDOUT = "stdout.log"
STDERR = "stderr.log"

# Values of status.json's "status"; a trial folder without status.json is "pending".
OK, FAILED, INTERRUPTED, RUNNING, PENDING = "ok", "failed", "interrupted", "running", "pending"


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # A numpy scalar.
        return value.item()
    raise TypeError(f"{value!r} is not a number, string, bool or list of them")


def plain(value: Any) -> Any:
    """`value` as it reads back from JSON (tuples become lists, numpy scalars Python numbers)."""
    return json.loads(json.dumps(value, default=_json_default))


def read_json(path: str) -> Any:
    """The JSON in `path`, or None if there is no such file."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as e:
        raise UserError(f"{path} is not valid JSON ({e}); delete it or fix it") from e


def write_json(path: str, value: Any) -> None:
    """Writes `value` to `path` atomically: a reader sees the old file or the new one."""
    atomic_write.write_json(path, value, default=_json_default)


def trial_dirs(workdir: str) -> list[str]:
    """The trial folders of `workdir` (those holding overrides.json), sorted by name."""
    if not os.path.isdir(workdir):
        return []
    names = sorted(os.listdir(workdir))
    dirs = [os.path.join(workdir, n) for n in names]
    return [d for d in dirs if os.path.isfile(os.path.join(d, OVERRIDES))]


def metric_value(final_eval: dict[str, Any] | None, metric: str) -> float | None:
    """The value at `metric` ('<section>.<key>', split at the last dot) of final_eval.json."""
    if final_eval is None:
        return None
    section, _, key = metric.rpartition(".")
    node = final_eval.get(section) if section else final_eval
    value = node.get(key) if isinstance(node, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def nan_paths(value: Any, prefix: str = "") -> list[str]:
    """The dotted paths of the NaN numbers in a JSON value."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in nan_paths(v, f"{prefix}{k}.")]
    return [prefix.rstrip(".")] if isinstance(value, float) and math.isnan(value) else []
