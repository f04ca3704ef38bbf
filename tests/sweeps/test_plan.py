"""Tests for sweeps/plan.py: trials checked against the config, recorded in and checked
against the workdir, and each trial's command line."""

import json
import os
from pathlib import Path

import ml_collections
import pytest
from sweeps.sweep_helpers import METRIC, read_json

from experiments import en_ko, generated
from s2s_jax import sweeps
from s2s_jax.errors import ConfigError
from s2s_jax.sweeps import plan as sweep_plan
from s2s_jax.sweeps import spec as sweep_spec

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({"model": {"hidden_size": 8, "cell": "lstm"}, "seed": 0})


def _seed_plan(seeds: list[int], shared: dict | None = None, metric: str = METRIC):
    sweep = sweeps.Sweep(trials=sweeps.product(seed=seeds), metric=metric)
    return sweep_plan.make_plan("x.py:a", _config(), sweep, shared or {})


def test_plan_checks_fields_and_command_line_conflicts() -> None:
    """Unknown or swept fields set twice are refused before any trial runs."""
    config = _config()
    sweep = sweeps.Sweep(trials=sweeps.product(seed=[0, 1]), metric=METRIC)
    plan = sweep_plan.make_plan("x.py:a", config, sweep, {"model.cell": "gru"})
    assert [t.name for t in plan.trials] == ["seed=0", "seed=1"]
    assert plan.shared == {"model.cell": "gru"} and plan.experiment == "x.py:a"
    command = sweep_plan.command(plan, plan.trials[1], "/w", ["py", "launch.py", "--platform=cpu"])
    assert command == [
        "py", "launch.py", "--platform=cpu", "--config=x.py:a", "--workdir=/w/seed=1",
        "--config.model.cell=gru", "--config.seed=1",
    ]  # fmt: skip
    with pytest.raises(ConfigError, match=r"--config\.seed is swept"):
        sweep_plan.make_plan("x.py", config, sweep, {"seed": 3})
    bad = sweeps.Sweep(trials=[{"model.hiden_size": 3}], metric=METRIC)
    with pytest.raises(ConfigError, match=r"'model\.hiden_size', which is no config field"):
        sweep_plan.make_plan("x.py", config, bad, {})


def test_plan_refuses_sections_and_fields_both_swept_and_shared() -> None:
    """A whole section cannot be swept; a field is either swept or in Sweep.shared, not both."""
    section = sweeps.Sweep(trials=[{"model": 3}], metric=METRIC)
    with pytest.raises(ConfigError, match="'model', a whole section"):
        sweep_plan.make_plan("x.py", _config(), section, {})
    both = sweeps.Sweep(trials=sweeps.product(seed=[0]), metric=METRIC, shared={"seed": 1})
    with pytest.raises(ConfigError, match=r"'seed' is both swept and in Sweep\.shared"):
        sweep_plan.make_plan("x.py", _config(), both, {})
    shared = sweeps.Sweep(trials=[{"seed": 0}], metric=METRIC, shared={"model.cel": "gru"})
    with pytest.raises(ConfigError, match=r"Sweep\.shared sets 'model\.cel'"):
        sweep_plan.make_plan("x.py", _config(), shared, {})


@pytest.mark.parametrize(
    ("config_spec", "get_config"),
    [("experiments/generated.py:reverse", generated.get_config),
     ("experiments/en_ko.py:smoke", en_ko.get_config)],
    ids=["generated", "en_ko"],
)  # fmt: skip
def test_experiment_sweeps_plan_against_their_config(config_spec: str, get_config) -> None:
    """Each experiment's own sweep names only fields of its config; commands carry them all."""
    sweep = sweep_spec.load(os.path.join(ROOT, config_spec))
    config = get_config(sweep_spec.split_spec(config_spec)[1])
    plan = sweep_plan.make_plan(config_spec, config, sweep, {})
    assert len(plan.trials) == len(sweep.trials) == 4
    assert plan.shared == sweep.shared
    for trial, swept in zip(plan.trials, sweep.trials, strict=True):
        flags = sweep_plan.command(plan, trial, "/w", [])[2:]
        expected = {**sweep.shared, **swept}
        assert flags == [f"--config.{k}={sweep_spec.value_text(v)}" for k, v in expected.items()]


def test_prepare_records_the_plan(tmp_path: Path) -> None:
    """sweep.json holds the definition, each trial folder its overrides; a rerun keeps them."""
    plan = _seed_plan([0, 1], {"model.cell": "gru"})
    workdir = str(tmp_path / "sweep")
    sweep_plan.prepare(plan, workdir)
    assert read_json(tmp_path / "sweep" / "sweep.json") == {
        "experiment": "x.py:a",
        "metric": METRIC,
        "mode": "max",
        "shared": {"model.cell": "gru"},
        "trials": {"seed=0": {"seed": 0}, "seed=1": {"seed": 1}},
    }
    assert read_json(tmp_path / "sweep" / "seed=1" / "overrides.json") == {
        "experiment": "x.py:a", "swept": {"seed": 1}, "shared": {"model.cell": "gru"},
    }  # fmt: skip
    assert sorted(os.listdir(workdir)) == ["seed=0", "seed=1", "sweep.json"]
    sweep_plan.prepare(plan, workdir)  # The same plan again: accepted.
    # Another metric only ranks the results differently: accepted, and recorded.
    sweep_plan.prepare(_seed_plan([0, 1], {"model.cell": "gru"}, "best_eval.loss"), workdir)
    assert read_json(tmp_path / "sweep" / "sweep.json")["metric"] == "best_eval.loss"


def test_prepare_refuses_another_definition(tmp_path: Path) -> None:
    """Other shared values, trials added or removed, or an edited trial are named; nothing is
    written then."""
    workdir = str(tmp_path / "sweep")
    sweep_plan.prepare(_seed_plan([0, 1], {"model.cell": "gru"}), workdir)
    recorded = (tmp_path / "sweep" / "sweep.json").read_text()
    with pytest.raises(sweep_plan.SweepMismatchError) as e:
        sweep_plan.prepare(_seed_plan([0, 2], {"model.cell": "lstm"}), workdir)
    message = str(e.value)
    assert "sweep.json records another sweep definition" in message
    assert "shared model.cell: saved gru, now lstm" in message
    assert "trials added: seed=2" in message and "trials removed: seed=1" in message
    assert (tmp_path / "sweep" / "sweep.json").read_text() == recorded
    assert not (tmp_path / "sweep" / "seed=2").exists()

    overrides = tmp_path / "sweep" / "seed=1" / "overrides.json"
    edited = {**read_json(overrides), "swept": {"seed": 5}}
    overrides.write_text(json.dumps(edited))
    with pytest.raises(
        sweep_plan.SweepMismatchError, match=r"trial seed=1: .*seed: saved 5, now 1"
    ):
        sweep_plan.prepare(_seed_plan([0, 1], {"model.cell": "gru"}), workdir)
    assert read_json(overrides) == edited  # Left for the user to fix.
