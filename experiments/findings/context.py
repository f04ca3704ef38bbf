"""Finding 5. Cho et al. (2014), §2.2 and Fig. 1: the encoder's summary c as an input of
every decoder step and of the output layer (the `context` decoder), against using it only
to start the decoder (the `basic` decoder, as Sutskever et al., 2014).

Trials: model.decoder basic and context, seeds 0, 1, 2; otherwise experiments/en_ko.py's
basic model (one 512-unit LSTM layer per side, the source reversed). The context
decoder has more parameters (c enters each step's gates and the output layer).

    python launch.py --config=experiments/findings/context.py:en_ko --sweep \
        --workdir=workdirs/findings/context_en_ko
    python scripts/finding_figure.py --workdir=workdirs/findings/context_en_ko

Variants:
- `en_ko` (the default): English-Korean on Tatoeba, 10 minutes of training per trial,
  chrF and BLEU on dev and Tatoeba test.
- `smoke`: the generated reverse task shrunk to seconds, seed 0 only, for the tests.

The figure: a bar per decoder for each score, mean ± std over seeds, each seed a dot.
"""

import ml_collections

from experiments.findings import shared
from s2s_jax import sweeps
from s2s_jax.findings import Figure

VARIANTS = ("en_ko", "smoke")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    if shared.variant(arg, VARIANTS) == "smoke":
        return shared.smoke_config("reverse")
    return shared.en_ko_config()  # Its decoder (basic) is set by every trial.


def get_sweep(arg: str | None = None) -> sweeps.Sweep:
    variant = shared.variant(arg, VARIANTS)
    return shared.sweep([{"model.decoder": "basic"}, {"model.decoder": "context"}], variant)


def get_figure(arg: str | None = None) -> Figure:
    title = "Cho et al. (2014): context decoder vs basic"
    return shared.bars(title, shared.variant(arg, VARIANTS), "reverse")
