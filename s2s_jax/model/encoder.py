"""The encoder: embeds and encodes a padded source into each layer's final carry.

The final carry of each layer (the context vector) starts the decoder's layer
of the same index. A bidirectional encoder bridges both directions' final
carries to the decoder's size.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from s2s_jax.model.config import ModelConfig
from s2s_jax.model.recurrent import CARRY_SIZE, Carry
from s2s_jax.vocab import PAD_ID

Carries = tuple[Carry, ...]  # One carry per layer.


def reverse_padded(x_BxS: jax.Array, lengths_B: jax.Array) -> jax.Array:
    """Reverses each row within its length and leaves the padding where it is.

    [a b c PAD] -> [c b a PAD]. Works on [B, S] and [B, S, ...] arrays.
    """
    S = x_BxS.shape[1]
    t_S = jnp.arange(S)
    idx_BxS = jnp.where(t_S < lengths_B[:, None], lengths_B[:, None] - 1 - t_S, t_S)
    idx = idx_BxS.reshape(idx_BxS.shape + (1,) * (x_BxS.ndim - 2))
    return jnp.take_along_axis(x_BxS, idx, axis=1)


class Encoder(nn.Module):
    """Embeds and encodes a padded source; returns each layer's final carry.

    Padding never changes the result: the carry stops at the last real token.
    """

    cfg: ModelConfig

    def _initial_carry(self, name: str, batch: int) -> Carry:
        cfg = self.cfg
        shape = (CARRY_SIZE[cfg.cell], cfg.hidden_size)
        if cfg.init_state == "learned":
            h0 = self.param(name, nn.initializers.zeros_init(), shape, jnp.dtype(cfg.param_dtype))
        else:
            h0 = jnp.zeros(shape, jnp.dtype(cfg.param_dtype))
        return tuple(jnp.broadcast_to(h, (batch, cfg.hidden_size)) for h in h0)

    @nn.compact
    def __call__(self, src_BxS: jax.Array, train: bool = False) -> tuple[Carries, jax.Array]:
        """Returns (carries, y_BxSxD), D = H, or 2H when bidirectional."""
        cfg = self.cfg
        mask_BxS = src_BxS != PAD_ID
        len_B = mask_BxS.sum(axis=1)
        if cfg.reverse_source:
            src_BxS = reverse_padded(src_BxS, len_B)
        x_BxSxD = nn.Embed(
            cfg.src_vocab_size,
            cfg.embed_size,
            jnp.dtype(cfg.dtype),
            jnp.dtype(cfg.param_dtype),
            name="embed",
        )(src_BxS)
        B = src_BxS.shape[0]
        carries = []
        for layer in range(cfg.num_layers):
            fwd = cfg.layer(not train, f"layer_{layer}")
            carry, y_BxSxH = fwd(self._initial_carry(f"h0_{layer}", B), x_BxSxD, mask_BxS)
            if cfg.bidirectional:
                bwd = cfg.layer(not train, f"layer_{layer}_backward")
                x_rev = reverse_padded(x_BxSxD, len_B)
                carry_b, y_rev = bwd(
                    self._initial_carry(f"h0_{layer}_backward", B), x_rev, mask_BxS
                )
                y_BxSxH = jnp.concatenate([y_BxSxH, reverse_padded(y_rev, len_B)], axis=-1)
                carry = self._bridge(layer, carry, carry_b)
            carries.append(carry)
            x_BxSxD = y_BxSxH
        return tuple(carries), x_BxSxD

    def _bridge(self, layer: int, fwd: Carry, bwd: Carry) -> Carry:
        """Combines both directions' final carries into the decoder's size H."""
        cfg = self.cfg
        out = []
        for i, (f, b) in enumerate(zip(fwd, bwd, strict=True)):
            c = nn.Dense(
                cfg.hidden_size,
                dtype=jnp.dtype(cfg.dtype),
                param_dtype=jnp.dtype(cfg.param_dtype),
                name=f"bridge_{layer}_{i}",
            )(jnp.concatenate([f, b], axis=-1))
            is_h = i == len(fwd) - 1
            out.append(jnp.tanh(c) if is_h else c)
        return tuple(out)
