"""Finding 3. Luong et al. (2015), Tables 1 and 4: global attention's score functions
(dot, general, concat) and input feeding (the attentional vector also feeds the next
step), against Bahdanau et al.'s (2015) additive attention.

Trials: the luong decoder with attention_score dot, general and concat, each with
input_feeding on and off, and the bahdanau decoder: 7 models, seeds 0, 1, 2 (21 trials).
The luong models keep experiments/en_ko.py's basic set-up around the decoder (one
512-unit LSTM layer per side, the source reversed, as Luong et al. did); the bahdanau
model is en_ko.py:bahdanau (a bidirectional encoder, the source not reversed). Hidden
sizes are the same (512), so parameter counts differ by the attention layers.

    python launch.py --config=experiments/findings/luong.py:en_ko --sweep \
        --workdir=workdirs/findings/luong_en_ko
    python scripts/finding_figure.py --workdir=workdirs/findings/luong_en_ko

Variants:
- `en_ko` (the default): English-Korean on Tatoeba, 10 minutes of training per trial,
  chrF and BLEU on dev and Tatoeba test.
- `smoke`: the generated reverse task shrunk to seconds, two of the models (luong dot
  without input feeding, bahdanau), seed 0 only, for the tests.

The figure: a bar per model for each score, mean ± std over seeds, each seed a dot.
"""

import ml_collections

from experiments import base
from experiments.findings import shared
from s2s_jax import sweeps
from s2s_jax.findings import Figure

VARIANTS = ("en_ko", "smoke")

_LUONG = [
    {"model.decoder": "luong", "model.attention_score": score, "model.input_feeding": feeding}
    for score in ("dot", "general", "concat")
    for feeding in (True, False)
]
# As experiments/en_ko.py:bahdanau: additive attention over a bidirectional encoder.
_BAHDANAU = {
    "model.decoder": "bahdanau",
    "model.bidirectional": True,
    "model.reverse_source": False,
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    if shared.variant(arg, VARIANTS) == "smoke":
        return shared.smoke_config("reverse")
    c = shared.en_ko_config()
    base.override(c, {
        "model.decoder": "luong",  # en_ko.py: basic; every trial sets it.
    })  # fmt: skip
    return c


def get_sweep(arg: str | None = None) -> sweeps.Sweep:
    variant = shared.variant(arg, VARIANTS)
    models = [_LUONG[1], _BAHDANAU] if variant == "smoke" else [*_LUONG, _BAHDANAU]
    return shared.sweep(models, variant)


def get_figure(arg: str | None = None) -> Figure:
    title = "Luong et al. (2015): attention variants"
    # Luong et al.'s Table 1 gives perplexity beside BLEU; dev perplexity is lowest long
    # before chrF is highest, so its lowest value is tabulated apart. The models train at
    # different speeds in one budget, so the training loss and dev chrF are also compared
    # at equal steps (dev evaluations every 400 steps, the loss logged every 100).
    at_steps = ("train.loss@800", "train.loss@1200", "dev.chrf@1200", "dev.chrf@1600")
    return shared.bars(title, shared.variant(arg, VARIANTS), "reverse",
                       minima=("dev.perplexity",), at_steps=at_steps)  # fmt: skip
