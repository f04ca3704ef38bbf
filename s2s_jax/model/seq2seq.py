"""The encoder–decoder RNN.

    src_BxS ─embed─> encoder ─(h_T per layer)─> decoder <─embed─ tgt_in_BxT
                                                   │
                                     logits_BxTxV = W·ĥ_t + b

The encoder's final carry of each layer (the context vector) is the decoder's
initial carry of the same layer (encoder.py); attention decoders also read the encoder's
outputs at every step (attention.py). The decoder's first input is BOS;
after that it reads the previous target token (teacher forcing) or its own
previous prediction (decoding, see `s2s_jax.decoding`). Decoder types are in
decoders.py.
"""

from typing import ClassVar

import flax.linen as nn
import jax

from s2s_jax.model.attention import ATTENTION_DECODERS, AttentionDecoder
from s2s_jax.model.config import ModelConfig
from s2s_jax.model.decoders import Decoder, DecoderState
from s2s_jax.model.encoder import Encoder
from s2s_jax.vocab import PAD_ID


class Seq2Seq(nn.Module):
    """Encoder–decoder RNN. `__call__` is the teacher-forced training path."""

    cfg: ModelConfig
    # Where the output layer's parameters (`project`) sit in the params tree.
    OUTPUT_LAYER: ClassVar[tuple[str, ...]] = ("decoder", "logits")

    def setup(self):
        self.encoder = Encoder(self.cfg)
        attention = self.cfg.decoder in ATTENTION_DECODERS
        self.decoder = (AttentionDecoder if attention else Decoder)(self.cfg)

    def __call__(self, src_BxS: jax.Array, tgt_in_BxT: jax.Array, train: bool = False) -> jax.Array:
        """Returns logits_BxTxV for predicting tgt_out from tgt_in."""
        return self.project(self.features(src_BxS, tgt_in_BxT, train))

    def features(self, src_BxS: jax.Array, tgt_in_BxT: jax.Array, train: bool = False) -> jax.Array:
        """The output layer's inputs features_BxTxF (teacher forcing); see `project`."""
        return self.decoder(self._start(src_BxS, train), tgt_in_BxT, train)[1]

    def project(self, features_xF: jax.Array) -> jax.Array:
        """Features to float32 logits over the target vocabulary, any leading shape."""
        return self.decoder.project(features_xF)

    def _start(self, src_BxS: jax.Array, train: bool) -> DecoderState:
        carries, memory_BxSxD = self.encoder(src_BxS, train)
        return self.decoder.start(carries, memory_BxSxD, src_BxS != PAD_ID)

    def encode(self, src_BxS: jax.Array) -> DecoderState:
        """The decoder's initial state from the source (inference mode)."""
        return self._start(src_BxS, False)

    def decode_step(
        self, state: DecoderState, token_B: jax.Array
    ) -> tuple[DecoderState, jax.Array]:
        """One decoding step: feeds token_B, returns the new state and logits_BxV."""
        state, features_Bx1xF = self.decoder(state, token_B[:, None], False)
        return state, self.decoder.project(features_Bx1xF[:, 0])
