"""Declaring a sweep beside the experiment config, in the style of big_vision.

An experiment file may define `get_sweep(arg)` (the same `arg` as `get_config`)
returning a `Sweep`: the trials, each a dict of dotted config overrides, and the
metric that ranks them, a path into each trial's final_eval.json:

    def get_sweep(arg=None):
        return sweeps.Sweep(
            trials=sweeps.product(
                {"model.hidden_size": [32, 64], "optim.learning_rate": [3e-3, 1e-2]}
            ),
            metric="best_eval.exact_match",
            mode="max",
            shared={"train.num_steps": 500},
        )

`product` and `zipped` combine axes (a mapping of dotted key -> list of values)
and whole sweeps (lists of override dicts); `random_search` draws trials from
`uniform`, `log_uniform` and `choice`, the same ones for the same seed. Plain
Python works too: a sweep is just a list of dicts, so `a + b` concatenates.

This module imports neither JAX nor the model: the sweep launcher reads it
without starting a backend.
"""

import dataclasses
import hashlib
import importlib.util
import itertools
import json
import math
import os
import random
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from s2s_jax.errors import ConfigError

Overrides = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Sweep:
    """What `get_sweep(arg)` returns.

    trials: one dict of dotted config overrides per trial, e.g. {"model.cell": "gru"}.
    metric: what ranks the trials: a path into final_eval.json, '<section>.<key>'
        split at the last dot, e.g. 'best_eval.exact_match' or 'best_dev.chrf'.
    mode: 'max' if higher is better, 'min' if lower is.
    shared: overrides applied to every trial (not part of the trial names);
        a --config.* flag on the sweep's command line takes precedence.
    slurm: where each trial runs with --sweep_executor=slurm (ignored otherwise):
        'partition', 'gpus_per_trial' (default 1), 'time_min' (default 60), and any other
        sbatch parameter by submitit's name ('account', 'qos', 'constraint',
        'cpus_per_task', 'mem_gb', ...). The --slurm_* flags take precedence.
    """

    trials: list[Overrides]
    metric: str
    mode: Literal["max", "min"] = "max"
    shared: Overrides = dataclasses.field(default_factory=dict)
    slurm: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.trials, list) or not self.trials:
            raise ValueError(f"Sweep.trials must be a non-empty list of dicts, not {self.trials!r}")
        for trial in [*self.trials, self.shared]:
            if not isinstance(trial, dict) or not all(isinstance(k, str) for k in trial):
                raise ValueError(f"a trial must be a dict of dotted config keys, not {trial!r}")
        if self.slurm is not None and not (
            isinstance(self.slurm, dict) and all(isinstance(k, str) for k in self.slurm)
        ):
            raise ValueError(f"Sweep.slurm must be a dict of sbatch settings, not {self.slurm!r}")
        if self.mode not in ("max", "min"):
            raise ValueError(f"Sweep.mode must be 'max' or 'min', not {self.mode!r}")
        if not isinstance(self.metric, str) or not self.metric:
            raise ValueError(
                "Sweep.metric must name a final_eval.json value, e.g. 'best_eval.exact_match', "
                f"not {self.metric!r}"
            )


def _factors(
    sweeps: Sequence[Mapping[str, Sequence[Any]] | Sequence[Overrides]],
    axes: Mapping[str, Sequence[Any]],
) -> list[list[Overrides]]:
    """Each axis becomes a list of one-key dicts; each given sweep stays a list of dicts."""
    factors = []
    for item in [*sweeps, axes]:
        if isinstance(item, Mapping):
            for key, values in item.items():
                if isinstance(values, str | bytes) or not isinstance(values, Sequence):
                    raise ValueError(f"axis {key!r}: give a list of values, not {values!r}")
                if not values:
                    raise ValueError(f"axis {key!r} has no values")
                factors.append([{key: v} for v in values])
        else:
            factors.append([dict(trial) for trial in item])
    return factors


def _merge(parts: Sequence[Overrides]) -> Overrides:
    merged: Overrides = {}
    for part in parts:
        for key in part:
            if key in merged:
                raise ValueError(f"{key!r} is set by two of the combined axes or sweeps")
        merged.update(part)
    return merged


def product(
    *sweeps: Mapping[str, Sequence[Any]] | Sequence[Overrides], **axes: Sequence[Any]
) -> list[Overrides]:
    """Every combination of the axes and sweeps given; the first one varies slowest.

    product({"model.cell": ["lstm", "gru"]}, seed=[0, 1]) gives 4 trials.
    """
    return [_merge(parts) for parts in itertools.product(*_factors(sweeps, axes))]


def zipped(
    *sweeps: Mapping[str, Sequence[Any]] | Sequence[Overrides], **axes: Sequence[Any]
) -> list[Overrides]:
    """The i-th values of all the axes and sweeps together; they must be equally long.

    zipped({"optim.learning_rate": [1e-3, 1e-2], "optim.warmup_steps": [0, 100]}) gives 2 trials.
    """
    factors = _factors(sweeps, axes)
    lengths = {len(f) for f in factors}
    if len(lengths) > 1:
        raise ValueError(
            f"zipped needs equally long axes and sweeps, got lengths {sorted(lengths)}"
        )
    return [_merge(parts) for parts in zip(*factors, strict=True)]


def _round(x: float, digits: int | None, lo: float, hi: float) -> float:
    """`x` to `digits` significant digits, kept within [lo, hi]."""
    return x if digits is None else min(max(float(f"{x:.{digits}g}"), lo), hi)


@dataclasses.dataclass(frozen=True)
class Uniform:
    """Uniform in [lo, hi], rounded to `digits` significant digits (None: not rounded)."""

    lo: float
    hi: float
    digits: int | None = 3

    def __post_init__(self) -> None:
        if not self.lo < self.hi:
            raise ValueError(f"uniform({self.lo}, {self.hi}) needs lo < hi")

    def draw(self, u: float) -> float:
        return _round(self.lo + u * (self.hi - self.lo), self.digits, self.lo, self.hi)


@dataclasses.dataclass(frozen=True)
class LogUniform:
    """Log-uniform in [lo, hi], 0 < lo < hi, rounded to `digits` significant digits."""

    lo: float
    hi: float
    digits: int | None = 3

    def __post_init__(self) -> None:
        if not 0 < self.lo < self.hi:
            raise ValueError(f"log_uniform({self.lo}, {self.hi}) needs 0 < lo < hi")

    def draw(self, u: float) -> float:
        x = math.exp(math.log(self.lo) + u * (math.log(self.hi) - math.log(self.lo)))
        return _round(x, self.digits, self.lo, self.hi)


@dataclasses.dataclass(frozen=True)
class Choice:
    """One of `values`, each equally likely."""

    values: tuple[Any, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError("choice() needs at least one value")

    def draw(self, u: float) -> Any:
        return self.values[min(int(u * len(self.values)), len(self.values) - 1)]


Distribution = Uniform | LogUniform | Choice


def uniform(lo: float, hi: float, digits: int | None = 3) -> Uniform:
    return Uniform(lo, hi, digits)


def log_uniform(lo: float, hi: float, digits: int | None = 3) -> LogUniform:
    return LogUniform(lo, hi, digits)


def choice(values: Sequence[Any]) -> Choice:
    return Choice(tuple(values))


def random_search(
    n: int,
    seed: int,
    distributions: Mapping[str, Distribution] | None = None,
    /,
    **more: Distribution,
) -> list[Overrides]:
    """`n` trials, each key drawn from its distribution; the same trials for the same seed.

    Only `random.Random.random()` is used, whose sequence Python keeps fixed for a seed.
    """
    dists = {**(distributions or {}), **more}
    for key, dist in dists.items():
        if not isinstance(dist, Distribution):
            raise ValueError(f"{key!r}: give uniform(), log_uniform() or choice(), not {dist!r}")
    rng = random.Random(seed)
    return [{key: dist.draw(rng.random()) for key, dist in dists.items()} for _ in range(n)]


def value_text(value: Any) -> str:
    """How a value is written in a trial name or a --config.* flag: 0.001, True, gru, (8, 16)."""
    return value if isinstance(value, str) else repr(value)


_MAX_NAME = 100


def trial_names(trials: Sequence[Overrides]) -> list[str]:
    """A folder name per trial, such as 'hidden_size=32,learning_rate=0.001'.

    Keys are shortened to their last part unless two keys would then look the
    same; unsafe characters become '_'; long names end in a hash of the
    overrides; and a name that repeats (case-insensitively) gets '~2', '~3', ...
    The names depend only on the list, so a rerun finds the same folders.
    """
    keys = list(dict.fromkeys(key for trial in trials for key in trial))
    short = {key: key.rsplit(".", 1)[-1] for key in keys}
    clashing = {s for s in short.values() if list(short.values()).count(s) > 1}
    label = {key: key if short[key] in clashing else short[key] for key in keys}
    names, seen = [], {}
    for trial in trials:
        name = ",".join(f"{label[k]}={value_text(trial[k])}" for k in keys if k in trial)
        name = re.sub(r"[^A-Za-z0-9._,=+-]", "_", name) or "default"
        if len(name) > _MAX_NAME:
            digest = hashlib.sha1(json.dumps(trial, sort_keys=True, default=repr).encode())
            name = f"{name[: _MAX_NAME - 10]}~{digest.hexdigest()[:8]}"
        count = seen[name.lower()] = seen.get(name.lower(), 0) + 1
        names.append(name if count == 1 else f"{name}~{count}")
    return names


def split_spec(config_spec: str) -> tuple[str, str | None]:
    """'experiments/x.py:arg' -> ('experiments/x.py', 'arg'); no ':' -> (path, None)."""
    path, colon, arg = config_spec.partition(":")
    return path, (arg if colon else None)


def call_config_function(config_spec: str, name: str, returns: type, hint: str) -> Any:
    """Calls `name(arg)` of the experiment file `config_spec` ('path.py[:arg]'), checking it
    exists (`hint` says what to add) and returns a `returns`; errors name the file."""
    path, arg = split_spec(config_spec)
    spec = importlib.util.spec_from_file_location(f"_s2s_config_{name}", path)
    if spec is None or spec.loader is None or not os.path.isfile(path):
        raise ConfigError(f"--config={config_spec}: no such config file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, name):
        raise ConfigError(f"{path} declares no {name}(arg); {hint}")
    call = f"{os.path.basename(path)}: {name}({'' if arg is None else repr(arg)})"
    try:
        value = getattr(module, name)() if arg is None else getattr(module, name)(arg)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{call} failed: {e}") from e
    if not isinstance(value, returns):
        raise ConfigError(
            f"{call} returned {type(value).__name__}, not {returns.__module__}.{returns.__name__}"
        )
    return value


def load(config_spec: str) -> Sweep:
    """Calls `get_sweep(arg)` of the experiment file `config_spec` ('path.py[:arg]')."""
    hint = "add one returning s2s_jax.sweeps.Sweep to run it as a sweep"
    return call_config_function(config_spec, "get_sweep", Sweep, hint)
