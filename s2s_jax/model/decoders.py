"""Decoders: the recurrent layers over the target, and the output layer.

Decoder types (`ModelConfig.decoder`):

- 'basic': the context only starts the decoder; logits_t = W·ĥ_t + b.
- 'context': as in Cho et al. (2014), the context c (the top encoder layer's
  final h) is also an input at every step, ĥ_t = f(ĥ_{t-1}, [y_{t-1}; c]),
  and of the output layer, logits_t = W·[ĥ_t; c] + b. Nothing has to carry the
  whole source through the recurrence alone.

The decoder's state is (carries, context); context is None for 'basic'.
Greedy decoding and beam search treat it as an opaque pytree. The attention
decoders, 'bahdanau' and 'luong', are in attention.py.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from s2s_jax.model.config import ModelConfig
from s2s_jax.model.encoder import Carries
from s2s_jax.model.linear import Dense

DecoderState = tuple[Carries, jax.Array | None]  # (carries, context_BxH or None).
DECODERS = ("basic", "context", "bahdanau", "luong")  # The last two: attention.py.


class Decoder(nn.Module):
    """The decoder layers over target inputs (`__call__`), and the output layer (`project`)."""

    cfg: ModelConfig

    def setup(self):
        cfg = self.cfg
        self.embed = nn.Embed(
            cfg.tgt_vocab_size, cfg.embed_size, jnp.dtype(cfg.dtype), jnp.dtype(cfg.param_dtype)
        )
        # Dropout is switched per call (train or not), so the layers are built deterministic.
        self.layers = [cfg.layer(True, f"layer_{i}") for i in range(cfg.num_layers)]
        self.logits = Dense(
            cfg.tgt_vocab_size, dtype=jnp.dtype(cfg.dtype), param_dtype=jnp.dtype(cfg.param_dtype)
        )

    def start(self, carries: Carries, memory_BxSxD: jax.Array, mask_BxS: jax.Array) -> DecoderState:
        """The decoder's state from the encoder's final carries (its outputs are not read)."""
        del memory_BxSxD, mask_BxS
        context_BxH = carries[-1][-1] if self.cfg.decoder == "context" else None
        return carries, context_BxH

    def __call__(
        self, state: DecoderState, tgt_in_BxT: jax.Array, train: bool = False
    ) -> tuple[DecoderState, jax.Array]:
        """Returns the new state and features_BxTxF, the output layer's inputs."""
        carries, context_BxH = state
        x_BxTxD = self.embed(tgt_in_BxT)
        if context_BxH is not None:
            x_BxTxD = _with_context(x_BxTxD, context_BxH)
        mask_BxT = jnp.ones(tgt_in_BxT.shape, bool)
        new_carries = []
        for layer, carry in zip(self.layers, carries, strict=True):
            carry, x_BxTxD = layer(carry, x_BxTxD, mask_BxT, deterministic=not train)
            new_carries.append(carry)
        if context_BxH is not None:
            x_BxTxD = _with_context(x_BxTxD, context_BxH)
        return (tuple(new_carries), context_BxH), x_BxTxD

    def project(self, features_xF: jax.Array) -> jax.Array:
        """logits = W·features + b, in float32; any leading shape."""
        return self.logits(features_xF).astype(jnp.float32)


def _with_context(x_BxTxD: jax.Array, context_BxH: jax.Array) -> jax.Array:
    """[x_t; c] at every time step."""
    (B, T, _), H = x_BxTxD.shape, context_BxH.shape[-1]
    c_BxTxH = jnp.broadcast_to(context_BxH[:, None].astype(x_BxTxD.dtype), (B, T, H))
    return jnp.concatenate([x_BxTxD, c_BxTxH], axis=-1)
