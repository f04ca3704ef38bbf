"""Attention decoders: the decoder reads the whole source at every step, not one vector.

Decoder types (`ModelConfig.decoder`):

- 'bahdanau' (Bahdanau et al., 2015): additive attention queried with the previous
  top-layer state, e_tj = vᵀ·tanh(W_q·s_{t−1} + W_k·h_j); the context c_t is an input
  of the step, s_t = f(s_{t−1}, [emb(y_{t−1}); c_t]); the output layer reads
  h̃_t = tanh(W_c·[s_t; c_t]).
- 'luong' (Luong et al., 2015): global attention after the step, scored by
  `ModelConfig.attention_score`: 'dot' s_tᵀ·h_j, 'general' s_tᵀ·W_a·h_j, or 'concat'
  vᵀ·tanh(W_q·s_t + W_k·h_j); h̃_t = tanh(W_c·[c_t; s_t]) feeds the output layer and,
  with `input_feeding`, the next step's input [emb(y_t); h̃_t].

The memory h_j is the top encoder layer's outputs ([→h_j; ←h_j] when bidirectional);
its keys (W_k·h_j, or W_aᵀ·... for 'general') are computed once per source, and
source padding gets exactly zero weight. With several layers, attention reads the top
one. The state is (carries, Memory): greedy decoding and beam search carry it as any
other decoder state, and the teacher-forced path (`__call__`, a scan over time) and
one decoding step run the same `_step`.
"""

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from s2s_jax.model.config import ModelConfig
from s2s_jax.model.encoder import Carries
from s2s_jax.model.linear import Dense
from s2s_jax.model.recurrent import NUM_GATES, LayerWeights, cell_update, hidden_projection

ATTENTION_DECODERS = ("bahdanau", "luong")
SCORES = ("dot", "general", "concat")


class Memory(NamedTuple):
    """What the decoder attends over, carried in its state (every leaf batch-first)."""

    values: jax.Array  # [B, S, D]: the top encoder layer's outputs h_j.
    keys: jax.Array  # [B, S, K]: what a query is scored against (see `_keys`).
    mask: jax.Array  # [B, S]: True at real source tokens.
    feed: jax.Array | None  # [B, H]: Luong's input feed h̃_{t−1}; None without it.


def attend(scores_BxS: jax.Array, mask_BxS: jax.Array) -> jax.Array:
    """Softmax over the real source tokens: exactly 0 on padding, and 0 for an empty source."""
    scores_BxS = jnp.where(mask_BxS, scores_BxS, jnp.finfo(scores_BxS.dtype).min)
    weights_BxS = jax.nn.softmax(scores_BxS, axis=-1) * mask_BxS
    return weights_BxS / jnp.maximum(weights_BxS.sum(-1, keepdims=True), 1e-30)


class AttentionDecoder(nn.Module):
    """A 'bahdanau' or 'luong' decoder: `start`, `__call__` (teacher forcing) and `project`."""

    cfg: ModelConfig

    def setup(self):
        cfg = self.cfg
        dtype, param_dtype = jnp.dtype(cfg.dtype), jnp.dtype(cfg.param_dtype)
        H, D = cfg.hidden_size, cfg.hidden_size * (2 if cfg.bidirectional else 1)
        self.embed = nn.Embed(cfg.tgt_vocab_size, cfg.embed_size, dtype, param_dtype)
        extra = {"bahdanau": D, "luong": H if cfg.input_feeding else 0}[cfg.decoder]
        G = NUM_GATES[cfg.cell] * H
        self.layers = [
            (
                LayerWeights(
                    (cfg.embed_size + extra if i == 0 else H, G), True,
                    nn.initializers.lecun_normal(), param_dtype, name=f"layer_{i}_input",
                ),
                LayerWeights(
                    (H, G), cfg.cell == "gru",  # GRU's b_hn, as in recurrent.py.
                    nn.initializers.orthogonal(), param_dtype, name=f"layer_{i}_recurrent",
                ),
            )
            for i in range(cfg.num_layers)
        ]
        init = nn.initializers.lecun_normal()
        if self._additive:  # vᵀ·tanh(W_q·query + W_k·h_j), attention size H.
            self.w_query = self.param("w_query", init, (H, H), param_dtype)
            self.w_key = self.param("w_key", init, (D, H), param_dtype)
            self.v = self.param("v", nn.initializers.normal(H**-0.5), (H,), param_dtype)
        elif cfg.attention_score == "general":
            self.w_a = self.param("w_a", init, (H, D), param_dtype)
        self.w_c = self.param("w_c", init, (H + D, H), param_dtype)
        self.logits = Dense(cfg.tgt_vocab_size, dtype=dtype, param_dtype=param_dtype)

    @property
    def _additive(self) -> bool:
        return self.cfg.decoder == "bahdanau" or self.cfg.attention_score == "concat"

    def _keys(self, values_BxSxD: jax.Array) -> jax.Array:
        """Once per source: W_k·h_j (additive), h_j·W_aᵀ ('general': s·W_a·h_j = s·(h_j·W_aᵀ)),
        or h_j itself ('dot')."""
        if self._additive:
            return values_BxSxD @ self.w_key.astype(values_BxSxD.dtype)
        if self.cfg.attention_score == "general":
            return values_BxSxD @ self.w_a.T.astype(values_BxSxD.dtype)
        return values_BxSxD

    def start(self, carries: Carries, memory_BxSxD: jax.Array, mask_BxS: jax.Array):
        """The decoder's initial state: the encoder's final carries and the memory."""
        dtype = jnp.dtype(self.cfg.dtype)
        values = memory_BxSxD.astype(dtype)
        feed = None
        if self.cfg.decoder == "luong" and self.cfg.input_feeding:
            feed = jnp.zeros((values.shape[0], self.cfg.hidden_size), dtype)
        return carries, Memory(values, self._keys(values), mask_BxS, feed)

    def _params(self) -> dict[str, Any]:
        """Every weight the step reads, as arrays: read outside the scan over time."""
        names = ("w_query", "v") if self._additive else ()
        return {
            "layers": [(w_in(), w_rec()) for w_in, w_rec in self.layers],
            "w_c": self.w_c,
            **{name: getattr(self, name) for name in names},
        }

    def _step(self, p: dict[str, Any], state, emb_BxE: jax.Array, rng: jax.Array | None):
        """One time step, a pure function of the weights `p`: (new state, (h̃_BxH, weights_BxS))."""
        cfg = self.cfg
        carries, memory = state
        dtype = emb_BxE.dtype

        def context(query_BxH):
            if self._additive:
                hidden = jnp.tanh((query_BxH @ p["w_query"].astype(dtype))[:, None]
                                  + memory.keys)  # fmt: skip
                scores_BxS = hidden @ p["v"].astype(dtype)
            else:
                scores_BxS = jnp.einsum("bh,bsh->bs", query_BxH, memory.keys)
            weights_BxS = attend(scores_BxS, memory.mask)
            return jnp.einsum("bs,bsd->bd", weights_BxS, memory.values), weights_BxS

        if cfg.decoder == "bahdanau":
            context_BxD, weights_BxS = context(carries[-1][-1])
            x_BxI = jnp.concatenate([emb_BxE, context_BxD], axis=-1)
        else:
            feed = () if memory.feed is None else (memory.feed,)
            x_BxI = jnp.concatenate([emb_BxE, *feed], axis=-1)
        new_carries = []
        for i, ((w_in, b_in), recurrent) in enumerate(p["layers"]):
            carry = carries[i]
            xproj_BxG = x_BxI @ w_in.astype(x_BxI.dtype) + b_in.astype(x_BxI.dtype)
            carry = cell_update(cfg.cell, carry, xproj_BxG, hidden_projection(recurrent, carry[-1]))
            new_carries.append(carry)
            x_BxI = _dropout(carry[-1], cfg.dropout_rate, rng, i)
        s_BxH, w_c = new_carries[-1][-1], p["w_c"].astype(dtype)
        if cfg.decoder == "bahdanau":
            attentional_BxH = jnp.tanh(jnp.concatenate([s_BxH, context_BxD], -1) @ w_c)
        else:
            context_BxD, weights_BxS = context(s_BxH)
            attentional_BxH = jnp.tanh(jnp.concatenate([context_BxD, s_BxH], -1) @ w_c)
            if memory.feed is not None:
                memory = memory._replace(feed=attentional_BxH)
        out_BxH = _dropout(attentional_BxH, cfg.dropout_rate, rng, cfg.num_layers)
        return (tuple(new_carries), memory), (out_BxH, weights_BxS)

    def __call__(self, state, tgt_in_BxT: jax.Array, train: bool = False):
        """Teacher forcing: returns the new state and features_BxTxH; the attention
        weights_BxTxS are sown as intermediates 'attention'."""
        emb_TxBxE = self.embed(tgt_in_BxT).swapaxes(0, 1)
        rng = self.make_rng("dropout") if train and self.cfg.dropout_rate > 0 else None
        p = self._params()

        def body(state, inputs):
            t, emb_BxE = inputs
            step_rng = None if rng is None else jax.random.fold_in(rng, t)
            return self._step(p, state, emb_BxE, step_rng)

        steps = jnp.arange(emb_TxBxE.shape[0])
        state, (out_TxBxH, weights_TxBxS) = jax.lax.scan(
            body, state, (steps, emb_TxBxE), unroll=self.cfg.scan_unroll
        )
        self.sow("intermediates", "attention", weights_TxBxS.swapaxes(0, 1))
        return state, out_TxBxH.swapaxes(0, 1)

    def project(self, features_xF: jax.Array) -> jax.Array:
        """logits = W·h̃ + b, in float32; any leading shape."""
        return self.logits(features_xF).astype(jnp.float32)


def _dropout(x: jax.Array, rate: float, rng: jax.Array | None, salt: int) -> jax.Array:
    """Inverted dropout with a mask from (rng, salt); the identity without an rng."""
    if rng is None or rate == 0:
        return x
    keep = jax.random.bernoulli(jax.random.fold_in(rng, salt), 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), 0).astype(x.dtype)

