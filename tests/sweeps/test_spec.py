"""Tests for sweeps/spec.py: declaring a sweep (product, zipped, random_search), names, loading."""

import os
from pathlib import Path

import pytest
from sweeps.sweep_helpers import METRIC

from s2s_jax import sweeps
from s2s_jax.errors import ConfigError
from s2s_jax.sweeps import spec as sweep_spec

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPERIMENTS = os.path.join(ROOT, "experiments")


def test_product_is_the_cartesian_product() -> None:
    """Axes and whole sweeps combine into every combination, the first one varying slowest."""
    grid = sweeps.product({"model.hidden_size": [32, 64]}, seed=[0, 1])
    assert grid == [
        {"model.hidden_size": 32, "seed": 0},
        {"model.hidden_size": 32, "seed": 1},
        {"model.hidden_size": 64, "seed": 0},
        {"model.hidden_size": 64, "seed": 1},
    ]
    pairs = sweeps.zipped({"optim.learning_rate": [1e-3, 1e-2], "optim.warmup_steps": [0, 100]})
    assert len(sweeps.product({"model.cell": ["lstm", "gru", "rnn"]}, pairs)) == 6
    with pytest.raises(ValueError, match="'seed' is set by two"):
        sweeps.product({"seed": [0]}, seed=[1])
    with pytest.raises(ValueError, match="give a list of values"):
        sweeps.product({"model.cell": "lstm"})


def test_zipped_pairs_equal_length_axes() -> None:
    """zipped takes the i-th value of each axis; axes of different lengths are an error."""
    trials = sweeps.zipped({"optim.learning_rate": [1e-3, 1e-2]}, seed=[7, 8])
    assert trials == [
        {"optim.learning_rate": 1e-3, "seed": 7},
        {"optim.learning_rate": 1e-2, "seed": 8},
    ]
    with pytest.raises(ValueError, match=r"equally long.*\[2, 3\]"):
        sweeps.zipped({"a": [1, 2], "b": [1, 2, 3]})


def test_random_search_is_deterministic_and_in_range() -> None:
    """Same draws for a seed, others for another, all in range; log-uniform spreads by decade."""
    dists = {
        "optim.learning_rate": sweeps.log_uniform(1e-4, 1e-1),
        "model.dropout_rate": sweeps.uniform(0.0, 0.5),
        "model.cell": sweeps.choice(["lstm", "gru"]),
    }
    trials = sweeps.random_search(300, 0, dists)
    assert trials == sweeps.random_search(300, 0, dists)
    assert trials != sweeps.random_search(300, 1, dists)
    lrs = [t["optim.learning_rate"] for t in trials]
    assert all(1e-4 <= x <= 1e-1 for x in lrs)
    # Log-uniform: each of the three decades holds about a third of the draws.
    for lo in (1e-4, 1e-3, 1e-2):
        assert 70 <= sum(lo <= x < 10 * lo for x in lrs) <= 130
    assert all(0.0 <= t["model.dropout_rate"] <= 0.5 for t in trials)
    assert {t["model.cell"] for t in trials} == {"lstm", "gru"}
    assert all(x == float(f"{x:.3g}") for x in lrs)  # Rounded to 3 significant digits.
    with pytest.raises(ValueError, match="0 < lo < hi"):
        sweeps.log_uniform(0.0, 1.0)


def test_sweep_checks_its_fields() -> None:
    """A Sweep needs a non-empty list of dicts, a metric, and mode 'max' or 'min'."""
    trials = [{"seed": 0}]
    assert sweeps.Sweep(trials=trials, metric=METRIC).mode == "max"
    with pytest.raises(ValueError, match="non-empty list"):
        sweeps.Sweep(trials=[], metric=METRIC)
    with pytest.raises(ValueError, match="dict of dotted config keys"):
        sweeps.Sweep(trials=[{0: 1}], metric=METRIC)
    with pytest.raises(ValueError, match="'max' or 'min'"):
        sweeps.Sweep(trials=trials, metric=METRIC, mode="best")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"must name a final_eval\.json value"):
        sweeps.Sweep(trials=trials, metric="")
    with pytest.raises(ValueError, match=r"Sweep\.slurm must be a dict of sbatch settings"):
        sweeps.Sweep(trials=trials, metric=METRIC, slurm="gpu")  # type: ignore[arg-type]


def test_trial_names_are_unique_stable_and_safe() -> None:
    """Names read as key=value, use full keys only where short ones clash, and never repeat."""
    trials = sweeps.product({"model.hidden_size": [32], "optim.learning_rate": [1e-3, 1e-5]})
    assert sweep_spec.trial_names(trials) == [
        "hidden_size=32,learning_rate=0.001",
        "hidden_size=32,learning_rate=1e-05",
    ]
    clash = [{"model.dropout_rate": 0.1, "data.dropout_rate": 0.2}]
    assert sweep_spec.trial_names(clash) == ["model.dropout_rate=0.1,data.dropout_rate=0.2"]
    repeated = [{"model.cell": "a/b"}, {"model.cell": "a_b"}, {"model.cell": "A_B"}]
    assert sweep_spec.trial_names(repeated) == ["cell=a_b", "cell=a_b~2", "cell=A_B~3"]
    long = [{"data.train": "x" * 300}, {"data.train": "x" * 299 + "y"}]
    names = sweep_spec.trial_names(long)
    assert len(set(names)) == 2 and all(len(n) <= 100 for n in names)
    assert sweep_spec.trial_names(long) == names  # Stable.
    assert sweep_spec.trial_names([{}]) == ["default"]


def test_split_spec_separates_the_argument() -> None:
    """'path.py:arg' splits at the first ':'; without one the argument is None, not ''."""
    assert sweep_spec.split_spec("experiments/x.py:reverse") == ("experiments/x.py", "reverse")
    assert sweep_spec.split_spec("experiments/x.py:") == ("experiments/x.py", "")
    assert sweep_spec.split_spec("experiments/x.py") == ("experiments/x.py", None)


def test_experiment_sweeps_load(tmp_path: Path) -> None:
    """Both experiment files declare their sweep; a file without get_sweep is a clear error."""
    grid = sweep_spec.load("experiments/generated.py:reverse")
    assert len(grid.trials) == 4 and grid.metric == METRIC and grid.mode == "max"
    en_ko = sweep_spec.load(os.path.join(EXPERIMENTS, "en_ko.py:smoke"))
    assert {(t["model.cell"], t["model.decoder"]) for t in en_ko.trials} == {
        ("lstm", "basic"), ("lstm", "context"), ("gru", "basic"), ("gru", "context"),
    }  # fmt: skip
    (tmp_path / "plain.py").write_text("def get_config():\n    return None\n")
    with pytest.raises(ConfigError, match=r"plain\.py declares no get_sweep"):
        sweep_spec.load(str(tmp_path / "plain.py"))


def test_load_names_a_bad_get_sweep(tmp_path: Path) -> None:
    """A missing file, a get_sweep that raises, or one that returns no Sweep is a ConfigError."""
    with pytest.raises(ConfigError, match="no such config file"):
        sweep_spec.load(str(tmp_path / "missing.py:a"))
    (tmp_path / "raises.py").write_text(
        "def get_sweep(arg=None):\n    raise ValueError(f'unknown {arg}')\n"
    )
    with pytest.raises(ConfigError, match=r"raises\.py: get_sweep\('b'\) failed: unknown b"):
        sweep_spec.load(str(tmp_path / "raises.py:b"))
    (tmp_path / "wrong.py").write_text("def get_sweep(arg=None):\n    return [{'seed': 0}]\n")
    with pytest.raises(ConfigError, match=r"get_sweep\(\) returned list, not"):
        sweep_spec.load(str(tmp_path / "wrong.py"))
