"""A sweep's trials, checked against the config and against what its workdir already holds.

`make_plan` names the trials and resolves the overrides every trial shares
(Sweep.shared, then the --config.* flags of the sweep's command line).
`prepare` records the plan in the workdir (W/sweep.json, W/<trial>/overrides.json)
or, on a rerun, refuses a plan that differs from the recorded one, naming the
trial and the values, so results of two definitions are never mixed.
"""

import dataclasses
import os
from typing import Any

import ml_collections

from s2s_jax.errors import ConfigError, UserError
from s2s_jax.sweeps import files, spec


class SweepMismatchError(UserError):
    """The workdir holds trials of another sweep definition."""


@dataclasses.dataclass(frozen=True)
class Trial:
    name: str  # Its folder in the sweep's workdir.
    swept: dict[str, Any]  # Its own overrides, from get_sweep.


@dataclasses.dataclass(frozen=True)
class Plan:
    config: str  # --config as given, e.g. 'experiments/generated.py:reverse'.
    experiment: str  # What identifies it in the workdir: 'generated.py:reverse'.
    shared: dict[str, Any]  # Overrides of every trial: Sweep.shared, then --config.* flags.
    trials: list[Trial]
    metric: str
    mode: str

    def overrides(self, trial: Trial) -> dict[str, Any]:
        """What W/<trial>/overrides.json holds."""
        return {"experiment": self.experiment, "swept": trial.swept, "shared": self.shared}

    def definition(self) -> dict[str, Any]:
        """What W/sweep.json holds."""
        return {
            "experiment": self.experiment,
            "metric": self.metric,
            "mode": self.mode,
            "shared": self.shared,
            "trials": {t.name: t.swept for t in self.trials},
        }


def _check_field(config: ml_collections.ConfigDict, key: str, where: str) -> None:
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, ml_collections.ConfigDict) or part not in node:
            raise ConfigError(f"{where} sets {key!r}, which is no config field")
        node = node[part]
    if isinstance(node, ml_collections.ConfigDict):
        raise ConfigError(f"{where} sets {key!r}, a whole section; set its fields one by one")


def make_plan(
    config_spec: str,
    config: ml_collections.ConfigDict,
    sweep: spec.Sweep,
    cli_overrides: dict[str, Any],
) -> Plan:
    """The trials of `sweep`, checked against `config` (the experiment's config).

    `cli_overrides` are the --config.* flags of the sweep's command line; they
    go to every trial, and may not set a field that the sweep varies.
    """
    try:
        trials = [files.plain(t) for t in sweep.trials]
        shared = files.plain({**sweep.shared, **cli_overrides})
    except TypeError as e:
        raise ConfigError(f"get_sweep: {e}") from e
    swept = list(dict.fromkeys(k for t in trials for k in t))
    for key in swept:
        _check_field(config, key, "get_sweep")
    for key in sweep.shared:
        _check_field(config, key, "Sweep.shared")
        if key in swept:
            raise ConfigError(f"{key!r} is both swept and in Sweep.shared; keep one")
    for key in cli_overrides:
        if key in swept:
            raise ConfigError(
                f"--config.{key} is swept by get_sweep; drop it from the command line "
                "(or from the sweep)"
            )
    path, arg = spec.split_spec(config_spec)
    names = spec.trial_names(trials)
    return Plan(
        config=config_spec,
        experiment=os.path.basename(path) + ("" if arg is None else f":{arg}"),
        shared=shared,
        trials=[Trial(n, t) for n, t in zip(names, trials, strict=True)],
        metric=sweep.metric,
        mode=sweep.mode,
    )


_UNSET = object()


def _show(value: Any) -> str:
    return "(unset)" if value is _UNSET else spec.value_text(value)


def _differences(saved: dict[str, Any], now: dict[str, Any], prefix: str = "") -> list[str]:
    """'<key>: saved X, now Y' for each key whose value differs."""
    diffs = []
    for key in dict.fromkeys([*saved, *now]):
        old, new = saved.get(key, _UNSET), now.get(key, _UNSET)
        if old != new:
            diffs.append(f"{prefix}{key}: saved {_show(old)}, now {_show(new)}")
    return diffs


def _summary(diffs: list[str], limit: int = 6) -> str:
    more = f"; and {len(diffs) - limit} more" if len(diffs) > limit else ""
    return "; ".join(diffs[:limit]) + more


def _definition_problems(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    problems = _differences(
        {"experiment": saved.get("experiment")}, {"experiment": now["experiment"]}
    )
    problems += _differences(saved.get("shared", {}), now["shared"], "shared ")
    old, new = saved.get("trials", {}), now["trials"]
    if added := [n for n in new if n not in old]:
        problems.append(f"trials added: {', '.join(added)}")
    if removed := [n for n in old if n not in new]:
        problems.append(f"trials removed: {', '.join(removed)}")
    for name in (n for n in new if n in old and old[n] != new[n]):
        problems += _differences(old[name], new[name], f"trial {name}: ")
    return problems


def prepare(plan: Plan, workdir: str) -> None:
    """Records `plan` in `workdir`, or raises SweepMismatchError if it holds another one.

    Checks W/sweep.json (the experiment, shared overrides and trial list) and
    then every existing W/<trial>/overrides.json before writing anything. The
    metric and mode may change: they only rank the results.
    """
    sweep_path = os.path.join(workdir, files.SWEEP)
    saved = files.read_json(sweep_path)
    if saved is not None and (problems := _definition_problems(saved, plan.definition())):
        raise SweepMismatchError(
            f"{sweep_path} records another sweep definition ({_summary(problems)}); use another "
            f"--workdir, or delete {sweep_path} to adopt this one (each trial's "
            f"{files.OVERRIDES} is still checked)"
        )
    for trial in plan.trials:
        path = os.path.join(workdir, trial.name, files.OVERRIDES)
        saved_trial = files.read_json(path)
        if saved_trial is None:
            continue
        now = plan.overrides(trial)
        diffs = _differences(
            {"experiment": saved_trial.get("experiment")}, {"experiment": now["experiment"]}
        )
        diffs += _differences(saved_trial.get("swept", {}), now["swept"])
        diffs += _differences(saved_trial.get("shared", {}), now["shared"], "shared ")
        if diffs:
            raise SweepMismatchError(
                f"trial {trial.name}: {path} differs from this sweep ({_summary(diffs)}); "
                "use another --workdir, or delete the trial's folder to run it anew"
            )
    os.makedirs(workdir, exist_ok=True)
    files.write_json(sweep_path, plan.definition())
    for trial in plan.trials:
        os.makedirs(os.path.join(workdir, trial.name), exist_ok=True)
        path = os.path.join(workdir, trial.name, files.OVERRIDES)
        if not os.path.exists(path):
            files.write_json(path, plan.overrides(trial))


def command(plan: Plan, trial: Trial, workdir: str, launcher: list[str]) -> list[str]:
    """The command line of `trial`: `launcher` ([python, launch.py, flags...]) and its overrides."""
    overrides = {**plan.shared, **trial.swept}
    return [
        *launcher,
        f"--config={plan.config}",
        f"--workdir={os.path.join(workdir, trial.name)}",
        *(f"--config.{k}={spec.value_text(v)}" for k, v in overrides.items()),
    ]
