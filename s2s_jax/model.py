"""The encoder–decoder RNN.

    src_BxS ─embed─> encoder ─(h_T per layer)─> decoder <─embed─ tgt_in_BxT
                                                   │
                                     logits_BxTxV = W·ĥ_t + b

The encoder's final carry of each layer (the context vector) is the decoder's
initial carry of the same layer. The decoder's first input is BOS; after that
it reads the previous target token (teacher forcing) or its own previous
prediction (decoding, see `decoding.py`).

Decoder types (`ModelConfig.decoder`):

- 'basic': the context only starts the decoder; logits_t = W·ĥ_t + b.
- 'context': as in Cho et al. (2014), the context c (the top encoder layer's
  final h) is also an input at every step, ĥ_t = f(ĥ_{t-1}, [y_{t-1}; c]),
  and of the output layer, logits_t = W·[ĥ_t; c] + b. Nothing has to carry the
  whole source through the recurrence alone.

The decoder's state is (carries, context); context is None for 'basic'.
"""

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from s2s_jax.linear import Dense
from s2s_jax.recurrent import CARRY_SIZE, Carry, RecurrentLayer
from s2s_jax.vocab import PAD_ID

Carries = tuple[Carry, ...]  # One carry per layer.
DecoderState = tuple[Carries, jax.Array | None]  # (carries, context_BxH or None).
DECODERS = ("basic", "context")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Every hyperparameter of the model; built from the experiment config by `from_config`."""

    src_vocab_size: int
    tgt_vocab_size: int
    cell: str = "lstm"
    embed_size: int = 32
    hidden_size: int = 32
    num_layers: int = 1
    bidirectional: bool = False
    dropout_rate: float = 0.0
    init_state: str = "zeros"  # 'zeros' or 'learned'.
    reverse_source: bool = False
    scan_unroll: int = 1
    remat: bool = False  # Recompute scan-step activations in the backward pass.
    backend: str = "scan"  # How layers run over time: 'scan', 'fused' or 'cudnn' (recurrent.py).
    decoder: str = "basic"  # 'basic' or 'context' (see the module doc).
    dtype: str = "float32"  # Compute dtype.
    param_dtype: str = "float32"

    @classmethod
    def from_config(
        cls, config: ml_collections.ConfigDict, src_vocab_size: int, tgt_vocab_size: int
    ) -> "ModelConfig":
        """The one place where a `config.model` block becomes a ModelConfig."""
        return cls(src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size, **config)

    def layer(self, deterministic: bool, name: str) -> RecurrentLayer:
        return RecurrentLayer(
            cell=self.cell,
            hidden_size=self.hidden_size,
            dropout_rate=self.dropout_rate,
            deterministic=deterministic,
            unroll=self.scan_unroll,
            remat=self.remat,
            backend=self.backend,
            dtype=jnp.dtype(self.dtype),
            param_dtype=jnp.dtype(self.param_dtype),
            name=name,
        )


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


class Seq2Seq(nn.Module):
    """Encoder–decoder RNN. `__call__` is the teacher-forced training path."""

    cfg: ModelConfig

    def setup(self):
        self.encoder = Encoder(self.cfg)
        self.decoder = Decoder(self.cfg)

    def __call__(self, src_BxS: jax.Array, tgt_in_BxT: jax.Array, train: bool = False) -> jax.Array:
        """Returns logits_BxTxV for predicting tgt_out from tgt_in."""
        return self.project(self.features(src_BxS, tgt_in_BxT, train))

    def features(self, src_BxS: jax.Array, tgt_in_BxT: jax.Array, train: bool = False) -> jax.Array:
        """The output layer's inputs features_BxTxF (teacher forcing); see `project`."""
        state = self._initial_state(self.encoder(src_BxS, train)[0])
        return self.decoder(state, tgt_in_BxT, train)[1]

    def project(self, features_xF: jax.Array) -> jax.Array:
        """Features to float32 logits over the target vocabulary, any leading shape."""
        return self.decoder.project(features_xF)

    def _initial_state(self, carries: Carries) -> DecoderState:
        context_BxH = carries[-1][-1] if self.cfg.decoder == "context" else None
        return carries, context_BxH

    def encode(self, src_BxS: jax.Array) -> DecoderState:
        """The decoder's initial state from the source (inference mode)."""
        return self._initial_state(self.encoder(src_BxS, False)[0])

    def decode_step(
        self, state: DecoderState, token_B: jax.Array
    ) -> tuple[DecoderState, jax.Array]:
        """One decoding step: feeds token_B, returns the new state and logits_BxV."""
        state, features_Bx1xF = self.decoder(state, token_B[:, None], False)
        return state, self.decoder.project(features_Bx1xF[:, 0])


def param_count(params: Any) -> int:
    return sum(x.size for x in jax.tree.leaves(params))
