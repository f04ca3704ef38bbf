"""A finding's trials, read from its sweep's workdir W alone, and grouped into conditions.

W/sweep.json lists the trials; each W/<trial> holds overrides.json (its swept fields),
final_eval.json (the best checkpoint's scores), metrics.jsonl (every eval during
training) and, when eval.length_buckets or eval.beam_grid was set, length_buckets.json
or beam_grid.json (their rows per final_eval.json section). A condition is
the trials that share every swept field but `seed`; its statistics are over seeds.
"""

import dataclasses
import json
import math
import os
from collections.abc import Sequence
from typing import Any

from s2s_jax.errors import UserError
from s2s_jax.sweeps import files
from s2s_jax.sweeps.spec import value_text

SEED = "seed"  # The swept field that repeats a condition.
METRICS = "metrics.jsonl"
LENGTH_BUCKETS = "length_buckets.json"
BEAM_GRID = "beam_grid.json"
_TABLE_FIELDS = {LENGTH_BUCKETS: "config.eval.length_buckets", BEAM_GRID: "config.eval.beam_grid"}


class MissingTrialError(UserError):
    """A trial of W/sweep.json has not finished: its folder or a file in it is missing."""


@dataclasses.dataclass(frozen=True)
class Trial:
    name: str  # Its folder in W.
    path: str  # W/<name>.
    swept: dict[str, Any]  # Its overrides from get_sweep, seed included.
    final_eval: dict[str, Any]  # Its final_eval.json.


@dataclasses.dataclass(frozen=True)
class Condition:
    label: str  # 'decoder=basic,hidden_size=256': the fields, keys shortened to their last part.
    fields: dict[str, Any]  # Every swept field but the seed.
    trials: tuple[Trial, ...]  # In order of seed.


def load(workdir: str) -> tuple[dict[str, Any], list[Trial]]:
    """W/sweep.json and every trial it lists, in its order.

    Raises MissingTrialError naming each trial folder without overrides.json or
    final_eval.json (a trial that has not run, or not to the end).
    """
    sweep_path = os.path.join(workdir, files.SWEEP)
    sweep = files.read_json(sweep_path)
    if sweep is None:
        raise UserError(f"{sweep_path} is missing: run the finding's sweep first (--sweep)")
    trials, missing = [], []
    for name, swept in sweep["trials"].items():
        path = os.path.join(workdir, name)
        absent = [f for f in (files.OVERRIDES, files.FINAL_EVAL)
                  if not os.path.isfile(os.path.join(path, f))]  # fmt: skip
        if absent:
            missing.append(f"{path} (no {' and no '.join(absent)})")
            continue
        final_eval = files.read_json(os.path.join(path, files.FINAL_EVAL))
        trials.append(Trial(name, path, swept, final_eval))
    if missing:
        raise MissingTrialError(
            f"{len(missing)} of {len(sweep['trials'])} trials have not finished: "
            f"{'; '.join(missing)}; rerun the sweep command to run them"
        )
    return sweep, trials


def label(fields: dict[str, Any]) -> str:
    """'decoder=luong,input_feeding=False': the fields, keys shortened, in their order."""
    text = ",".join(f"{k.rsplit('.', 1)[-1]}={value_text(v)}" for k, v in fields.items())
    return text or "all"


def group(trials: Sequence[Trial]) -> list[Condition]:
    """The conditions, in the order their first trial appears; trials in order of seed."""
    groups: dict[str, list[Trial]] = {}
    fields_of: dict[str, dict[str, Any]] = {}
    for trial in trials:
        fields = {k: v for k, v in trial.swept.items() if k != SEED}
        key = json.dumps(fields, sort_keys=True)
        groups.setdefault(key, []).append(trial)
        fields_of[key] = fields
    return [
        Condition(
            label(fields_of[key]),
            fields_of[key],
            tuple(sorted(members, key=lambda t: t.swept.get(SEED, 0))),
        )
        for key, members in groups.items()
    ]


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n-1); the std is NaN below two values."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = sum(values) / n
    if n < 2:
        return mean, math.nan
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def metric(trial: Trial, path: str) -> float:
    """The final_eval.json value at `path` ('<section>.<key>'); an error names a missing one."""
    value = files.metric_value(trial.final_eval, path)
    if value is None:
        sections = [k for k, v in trial.final_eval.items() if isinstance(v, dict)]
        raise UserError(
            f"{os.path.join(trial.path, files.FINAL_EVAL)} has no number at {path!r} "
            f"(its sections: {', '.join(sections)}); check the finding's Figure.metrics"
        )
    return value


def curve(trial: Trial, split: str, key: str) -> list[tuple[int, float]]:
    """(step, value) of `key` in the trial's metrics.jsonl lines of `split`, by step.

    A resumed run logs some steps twice; the last line of a step counts.
    """
    path = os.path.join(trial.path, METRICS)
    if not os.path.isfile(path):
        raise MissingTrialError(f"{path} is missing; the finding's curves are drawn from it")
    points: dict[int, float] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            if record.get("split") == split and key in record:
                points[int(record["step"])] = float(record[key])
    if not points:
        raise UserError(f"{path} has no {split!r} line with {key!r}; check Figure.curve")
    return sorted(points.items())


def table_rows(trial: Trial, filename: str, section: str) -> list[dict[str, Any]]:
    """The rows of `section` in the trial's `filename` (LENGTH_BUCKETS or BEAM_GRID), in
    their order: one per source-length bucket, or one per beam size and length penalty."""
    path = os.path.join(trial.path, filename)
    tables = files.read_json(path)
    if tables is None:
        raise MissingTrialError(
            f"{path} is missing; train the finding with {_TABLE_FIELDS[filename]} set"
        )
    if section not in tables:
        raise UserError(f"{path} has no section {section!r} (it has {', '.join(tables)})")
    return tables[section]
