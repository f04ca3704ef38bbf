"""What the findings configs share: the seeds, the English-Korean set-up and budget, and
the smoke set-up (a generated task shrunk to seconds, for the tests)."""

from typing import Any

import ml_collections

from experiments import base, en_ko, generated
from s2s_jax import sweeps
from s2s_jax.findings import Figure

SEEDS = [0, 1, 2]  # Every condition is trained once per seed.
SMOKE_SEEDS = [0]  # :smoke variants: one trial per condition, to run the pipeline in seconds.
EN_KO_BUDGET_SECONDS = 600.0  # The training loop's wall time of every en_ko trial.

# The final_eval.json values an en_ko finding reports: dev and Tatoeba test.
EN_KO_DEV_CHRF = "best_dev.chrf"
EN_KO_TEST_CHRF = "best_test_tatoeba_test.chrf"
EN_KO_TEST_BLEU = "best_test_tatoeba_test.bleu"
# And a generated task's: held-out exact match and token accuracy (teacher-forced).
EXACT_MATCH = "best_eval.exact_match"
TOKEN_ACCURACY = "best_eval.token_accuracy"


def seeded(conditions: list[dict[str, Any]], smoke: bool) -> list[dict[str, Any]]:
    """Each condition once per seed, the seed varying slowest: a sweep stopped part-way has
    every condition on the first seeds, and trials run side by side (--sweep_parallel)
    differ in the model, so the second seed's trials find their steps compiled (with a
    compilation cache, as the tests have)."""
    return [{**c, "seed": s} for s in (SMOKE_SEEDS if smoke else SEEDS) for c in conditions]


def en_ko_config() -> ml_collections.ConfigDict:
    """experiments/en_ko.py's basic model (a 512-unit LSTM, reversed source) on the budget."""
    c = en_ko.get_config("basic")
    base.override(c, {
        # 10 minutes of training per trial (en_ko.py: 15), the same for every en_ko trial.
        "train.time_budget_seconds": EN_KO_BUDGET_SECONDS,
        # Off (en_ko.py: 6): every trial trains for the whole budget, and the best dev chrF
        # checkpoint is still the one scored.
        "train.early_stopping_patience": 0,
    })  # fmt: skip
    return c


def smoke_config(task: str) -> ml_collections.ConfigDict:
    """experiments/generated.py's `task`, shrunk so a trial takes seconds (no corpus needed)."""
    c = generated.get_config(task)
    base.override(c, {
        "task.min_len": 1,  # Sources of 1-6 symbols (generated.py: 1-16) ...
        "task.max_len": 6,
        "task.num_symbols": 6,  # ... over 6 symbols (generated.py: 10).
        "task.num_eval": 64,  # Held-out examples (generated.py: 1000).
        "model.embed_size": 8,  # base.py: 64.
        "model.hidden_size": 16,  # base.py: 256.
        "model.num_layers": 1,  # base.py: 1 (generated.py's addition: 2).
        "optim.schedule": "constant",  # No warm-up (base.py: warmup_cosine over 100 steps).
        "optim.warmup_steps": 0,
        "train.batch_size": 16,  # base.py: 128.
        "train.num_steps": 30,  # base.py: 2000.
        "train.log_every_steps": 10,  # base.py: 100.
        "train.eval_every_steps": 10,  # Three evals: a curve (base.py: 500).
        "train.checkpoint_every_steps": 30,  # base.py: 500.
        "eval.batch_size": 64,  # base.py: 512.
        "eval.num_examples_to_log": 1,  # base.py: 5.
    })  # fmt: skip
    return c


def variant(arg: str | None, variants: tuple[str, ...]) -> str:
    """`arg`, or the first variant when none is given; an unknown one is named."""
    name = arg or variants[0]
    if name not in variants:
        raise ValueError(f"unknown variant {name!r}; use one of {list(variants)}")
    return name


def sweep(conditions: list[dict[str, Any]], variant: str) -> sweeps.Sweep:
    """The conditions once per seed (`seeded`), ranked by dev chrF on en_ko, else by
    held-out exact match."""
    return sweeps.Sweep(
        trials=seeded(conditions, smoke=variant == "smoke"),
        metric=EXACT_MATCH if variant != "en_ko" else EN_KO_DEV_CHRF,
        mode="max",
    )


def bars(
    title: str,
    variant: str,
    task: str,
    minima: tuple[str, ...] = (),
    at_steps: tuple[str, ...] = (),
) -> Figure:
    """Bars of the best checkpoint's scores per condition: dev and Tatoeba test chrF and
    BLEU on en_ko, with the lowest value of each en_ko curve of `minima`, and the curve
    values of `at_steps`, tabulated beside them; held-out exact match and token accuracy of
    the smoke `task`."""
    if variant == "smoke":
        metrics: tuple[str, ...] = (EXACT_MATCH, TOKEN_ACCURACY)
        return Figure(title=f"{title}, {task} (smoke)", kind="bars", metrics=metrics)
    metrics = (EN_KO_DEV_CHRF, EN_KO_TEST_CHRF, "best_dev.bleu", EN_KO_TEST_BLEU)
    return Figure(f"{title}, en-ko Tatoeba", "bars", metrics, minima=minima, at_steps=at_steps)
