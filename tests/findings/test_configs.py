"""Tests for the findings configs (experiments/findings/*.py): every variant and every trial
validates, the sweeps repeat each condition over the seeds, the figures read what the
trials write, the en_ko trials share one budget, and the length finding's two models have
the same parameter count."""

import os

import jax
import ml_collections
import numpy as np
import pytest

from experiments import base
from experiments.findings import beam, context, length, luong, reversal, shared
from s2s_jax.config_checks import validate
from s2s_jax.data.generated import make_task
from s2s_jax.findings import Figure
from s2s_jax.model import ModelConfig, Seq2Seq
from s2s_jax.sweeps.plan import make_plan

NUM_DEVICES = 8  # conftest.py fakes eight CPU devices.
MODULES = {
    "reversal": reversal, "length": length, "luong": luong, "beam": beam, "context": context,
}  # fmt: skip
CASES = [(name, v) for name, module in MODULES.items() for v in module.VARIANTS]


def _trial_config(config: ml_collections.ConfigDict, swept: dict) -> ml_collections.ConfigDict:
    c = config.copy_and_resolve_references()
    base.override(c, swept)
    return c


def _sections(config: ml_collections.ConfigDict) -> list[str]:
    """The eval sets a run of `config` scores (as s2s_jax/data names them)."""
    if "task" in config:
        return ["eval"]
    tests = [s.strip() for s in config.data.tests.split(",") if s.strip()]
    return ["dev", *("test_" + s.replace("/", "_").replace(":", "_") for s in tests)]


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_every_variant_and_trial_validates(name: str, variant: str) -> None:
    module = MODULES[name]
    config = module.get_config(variant)
    validate(config, NUM_DEVICES)
    sweep = module.get_sweep(variant)
    path = os.path.join("experiments", "findings", f"{name}.py")
    plan = make_plan(f"{path}:{variant}", config, sweep, {})  # Every swept key is a field.
    for trial in plan.trials:
        validate(_trial_config(config, trial.swept), NUM_DEVICES)
    assert all(k.startswith("model.") or k == "seed" for t in sweep.trials for k in t)


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_each_condition_runs_on_every_seed(name: str, variant: str) -> None:
    sweep = MODULES[name].get_sweep(variant)
    seeds: dict[str, list[int]] = {}
    for trial in sweep.trials:
        rest = {k: v for k, v in trial.items() if k != "seed"}
        seeds.setdefault(repr(sorted(rest.items())), []).append(trial["seed"])
    want = [0] if variant == "smoke" else [0, 1, 2]
    # Finding 4 compares the searches of one model (eval.beam_grid), so it has one condition.
    assert len(seeds) >= (1 if name == "beam" else 2), seeds
    assert all(s == want for s in seeds.values()), seeds


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_figure_reads_what_the_trials_write(name: str, variant: str) -> None:
    """The figure's and sweep's paths name eval sets of the config; buckets only for length."""
    module = MODULES[name]
    config, figure = module.get_config(variant), module.get_figure(variant)
    assert isinstance(figure, Figure)
    sections = [f"best_{s}" for s in _sections(config)]
    metric = module.get_sweep(variant).metric
    for path in [*figure.metrics, metric]:
        assert path.rpartition(".")[0] in sections, (path, sections)
    if figure.kind == "curves":
        assert figure.curve_split[0] in _sections(config)
    assert (figure.kind == "length") == bool(config.eval.length_buckets)
    if figure.kind == "length":
        assert all(section in sections for section, _ in figure.buckets_splits)
    assert (figure.kind == "beam") == bool(config.eval.beam_grid)
    if figure.kind == "beam":
        assert figure.grid_split[0] in sections


def test_en_ko_trials_share_one_budget() -> None:
    """Every en_ko trial (and length:generated's) trains for the same wall time, with no early
    stop to cut it short; the other generated variants train a number of steps."""
    budgeted = []
    for name, variant in CASES:
        config = MODULES[name].get_config(variant)
        if "data" in config or (name, variant) == ("length", "generated"):
            budgeted.append(f"{name}:{variant}")
            assert config.train.time_budget_seconds == shared.EN_KO_BUDGET_SECONDS == 600.0
            assert config.train.early_stopping_patience == 0
            sweep = MODULES[name].get_sweep(variant)
            assert not any(k.startswith("train.") for t in sweep.trials for k in t)
        else:
            assert config.train.time_budget_seconds == 0.0
    assert len(budgeted) == 6  # reversal, length, luong, beam, context on en_ko; length generated.


def _param_count(config: ml_collections.ConfigDict) -> int:
    """The parameters Seq2Seq.init makes for `config` (shapes only, nothing computed)."""
    if "task" in config:
        src_vocab = tgt_vocab = make_task(config.task).vocab.size
    else:
        src_vocab, tgt_vocab = config.data.src_vocab_size, config.data.tgt_vocab_size
    model = Seq2Seq(ModelConfig.from_config(config.model, src_vocab, tgt_vocab))
    ids_BxS = np.ones((1, 4), np.int32)
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), ids_BxS, ids_BxS))
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(shapes["params"]))


@pytest.mark.parametrize("variant", length.VARIANTS)
def test_length_models_have_the_same_parameter_count(variant: str) -> None:
    """Within 5%; the counts the config's docstring states are these."""
    config = length.get_config(variant)
    basic, attention = (_param_count(_trial_config(config, c)) for c in length.conditions(variant))
    assert abs(attention / basic - 1) < 0.05, (basic, attention)
    if variant != "smoke":
        assert f"{basic:,}" in length.__doc__ and f"{attention:,}" in length.__doc__
