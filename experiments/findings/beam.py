"""Finding 4. Beam search against greedy decoding: beam search scores above greedy, and a
length penalty (GNMT's alpha = 0.6; Wu et al., 2016, Table 2) matters more as the beam widens
(Koehn and Knowles, 2017, §3.6: wide beams can hurt).

Trials: the best en_ko model measured here, experiments/en_ko.py:bahdanau (Tatoeba test
chrF 19.6 greedy after 15 minutes, against Luong's 16.1 and the basic model's 15.5), trained
on the findings' 10-minute budget, seeds 0, 1, 2. Each trial's best checkpoint is decoded at
beam 1, 4 and 8, each with length penalty 0 and 0.6 (config.eval.beam_grid), on dev and both
test sets: beam_grid.json beside final_eval.json.

    python launch.py --config=experiments/findings/beam.py:en_ko --sweep \
        --workdir=workdirs/findings/beam_en_ko
    python scripts/finding_figure.py --workdir=workdirs/findings/beam_en_ko

Variants:
- `en_ko` (the default): English-Korean on Tatoeba, 10 minutes of training per trial.
- `smoke`: the generated reverse task shrunk to seconds with the bahdanau decoder, beam 1
  and 2 at length penalty 0 and 0.6, seed 0 only, for the tests.

The figure: the Tatoeba test score (chrF; held-out exact match for smoke) against beam size,
a line per length penalty, mean ± std over seeds; the table adds every setting's score.
"""

import ml_collections

from experiments import base
from experiments.findings import shared
from s2s_jax import sweeps
from s2s_jax.findings import Figure

VARIANTS = ("en_ko", "smoke")

# (beam_size, length_penalty) of config.eval.beam_grid; beam 1 is greedy.
GRID = ((1, 0.0), (1, 0.6), (4, 0.0), (4, 0.6), (8, 0.0), (8, 0.6))
SMOKE_GRID = ((1, 0.0), (1, 0.6), (2, 0.0), (2, 0.6))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    if shared.variant(arg, VARIANTS) == "smoke":
        c = shared.smoke_config("reverse")
        base.override(c, {
            "model.decoder": "bahdanau",  # smoke: basic.
            "eval.beam_grid": SMOKE_GRID,  # base.py: () (none).
        })  # fmt: skip
        return c
    c = shared.en_ko_config()
    base.override(c, {
        # As experiments/en_ko.py:bahdanau: additive attention over a bidirectional encoder,
        # the source not reversed (en_ko.py: basic, one direction, reversed).
        "model.decoder": "bahdanau",
        "model.bidirectional": True,
        "model.reverse_source": False,
        "eval.beam_grid": GRID,  # base.py: () (none).
    })  # fmt: skip
    return c


def get_sweep(arg: str | None = None) -> sweeps.Sweep:
    return shared.sweep([{}], shared.variant(arg, VARIANTS))  # One model, three seeds.


def get_figure(arg: str | None = None) -> Figure:
    title = "Beam search against greedy"
    if shared.variant(arg, VARIANTS) == "smoke":
        return Figure(
            title=f"{title}, reverse (smoke)",
            kind="beam",
            grid=shared.EXACT_MATCH,
            metrics=(shared.EXACT_MATCH, shared.TOKEN_ACCURACY),
        )
    return Figure(
        title=f"{title}: bahdanau, en-ko Tatoeba test",
        kind="beam",
        grid=shared.EN_KO_TEST_CHRF,
        metrics=(shared.EN_KO_DEV_CHRF, shared.EN_KO_TEST_CHRF, shared.EN_KO_TEST_BLEU),
    )
