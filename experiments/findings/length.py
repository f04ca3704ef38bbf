"""Finding 2. Bahdanau et al. (2015), Fig. 2: the basic encoder-decoder's quality falls
as the source grows longer, while the attention model's holds.

Trials: the basic decoder (RNNenc: one LSTM encoder, its final state the context, the
source not reversed) against Bahdanau attention (RNNsearch: a bidirectional encoder, the
decoder attending over its outputs), at the same parameter count, seeds 0, 1, 2. Both
are scored by source-length bucket (config.eval.length_buckets: length_buckets.json
beside final_eval.json).

Parameter counts (s2s_jax.model.param_count of the initialized models; the test
tests/findings/test_configs.py recomputes them and holds them within 5%):
- `generated` (14 symbols, embeddings 64): basic, hidden 256: 662,798; bahdanau,
  hidden 136 per direction: 665,078 (+0.3%).
- `en_ko` (vocabularies 2000 -> 3400, embeddings 256): basic, hidden 512: 6,276,424
  (experiments/en_ko.py's size); bahdanau, hidden 310 per direction: 6,279,770 (+0.05%).

    python launch.py --config=experiments/findings/length.py:generated --sweep \
        --workdir=workdirs/findings/length_generated
    python scripts/finding_figure.py --workdir=workdirs/findings/length_generated

Variants:
- `generated` (the default): the copy task with sources of 5-60 symbols, uniform in
  length, exact match per bucket of 10 symbols (1-10, ..., 41-50, 51+); 10 minutes of
  training per trial, as en_ko.
- `en_ko`: English-Korean on Tatoeba, 10 minutes of training per trial; chrF on the
  Tatoeba and JHE test sets per bucket of 5 English words (1-5, ..., 16-20, 21+).
- `smoke`: the copy task shrunk to seconds (sources of 1-12 symbols, buckets 1-4, 5-8,
  9+; basic hidden 24: 6,746 parameters, bahdanau hidden 13: 6,813), seed 0 only, for
  the tests.

The figure: the bucket score against source length, mean ± std over seeds per model (a
panel per test set).
"""

import ml_collections

from experiments import base, generated
from experiments.findings import shared
from s2s_jax import sweeps
from s2s_jax.findings import Figure

VARIANTS = ("generated", "en_ko", "smoke")

# Hidden sizes (basic, bahdanau) that give the two models the same parameter count.
_HIDDEN = {"generated": (256, 136), "en_ko": (512, 310), "smoke": (24, 13)}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    variant = shared.variant(arg, VARIANTS)
    if variant == "smoke":
        c = shared.smoke_config("copy")
        base.override(c, {
            "task.max_len": 12,  # Sources of 1-12 symbols (smoke: 1-6), for three buckets.
            "eval.length_buckets": (4, 8),  # Buckets 1-4, 5-8, 9+ (base.py: off).
        })  # fmt: skip
    elif variant == "en_ko":
        c = shared.en_ko_config()
        base.override(c, {
            # Not reversed, as Bahdanau et al.'s RNNenc (en_ko.py: reversed).
            "model.reverse_source": False,
            # Buckets of English words: 1-5, 6-10, 11-15, 16-20, 21+ (base.py: off).
            "eval.length_buckets": (5, 10, 15, 20),
        })  # fmt: skip
    else:
        c = generated.get_config("copy")
        base.override(c, {
            "task.min_len": 5,  # Sources of 5-60 symbols, uniform in length (generated.py:
            "task.max_len": 60,  # 1-16): about 180 held-out examples per bucket (5-10: 100).
            "model.embed_size": 64,  # base.py: 64; stated, as the parameter counts use it.
            "model.reverse_source": False,  # Not reversed, as Bahdanau et al.'s RNNenc.
            # The same 10 minutes of training for both models, as the en_ko trials get
            # (generated.py's copy: 1500 steps). Calibration runs on this machine, with other
            # jobs running: basic 3.5 steps/s, bahdanau 1.5 (its loop over 61 decoder steps is
            # slower); bahdanau (seed 0, 600 steps of warmup_cosine) reached 99.5% exact
            # match, 98.9-100% in every bucket.
            "train.time_budget_seconds": shared.EN_KO_BUDGET_SECONDS,
            "train.num_steps": 20_000,  # An upper bound; the budget ends the run.
            "optim.schedule": "constant",  # No decay to time (base.py: warmup_cosine over
            "optim.warmup_steps": 0,  # num_steps, which the budget would cut short).
            "train.eval_every_steps": 250,  # base.py: 500.
            "train.checkpoint_every_steps": 1000,  # base.py: 500.
            # Buckets of 10 symbols: 1-10, 11-20, 21-30, 31-40, 41-50, 51+ (base.py: off).
            "eval.length_buckets": (10, 20, 30, 40, 50),
        })  # fmt: skip
    return c


def conditions(arg: str | None = None) -> list[dict]:
    """The two models: basic (one direction) and bahdanau (bidirectional), sizes matched."""
    basic, attention = _HIDDEN[shared.variant(arg, VARIANTS)]
    return [
        {"model.decoder": "basic", "model.hidden_size": basic, "model.bidirectional": False},
        {"model.decoder": "bahdanau", "model.hidden_size": attention, "model.bidirectional": True},
    ]


def get_sweep(arg: str | None = None) -> sweeps.Sweep:
    variant = shared.variant(arg, VARIANTS)
    return shared.sweep(conditions(variant), variant)


def get_figure(arg: str | None = None) -> Figure:
    variant = shared.variant(arg, VARIANTS)
    if variant == "en_ko":
        return Figure(
            title="Bahdanau et al. (2015), Fig. 2: chrF by source length, en-ko test sets",
            kind="length",
            # Tatoeba's sentences are short (98% at most 10 English words); JHE test's
            # spread to 21+, though out of the training domain.
            buckets=("best_test_tatoeba_test.chrf", "best_test_jhe_test.chrf"),
            metrics=(shared.EN_KO_DEV_CHRF, shared.EN_KO_TEST_CHRF, shared.EN_KO_TEST_BLEU),
        )
    return Figure(
        title=f"Bahdanau et al. (2015), Fig. 2: exact match by source length, copy ({variant})",
        kind="length",
        buckets=("best_eval.exact_match",),
        metrics=(shared.EXACT_MATCH, shared.TOKEN_ACCURACY),
    )
