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

import functools
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from s2s_jax.model.config import ModelConfig
from s2s_jax.model.encoder import Carries
from s2s_jax.model.fused_loop import SiteWeights, fused_loop, scan_loop
from s2s_jax.model.linear import Dense, linear
from s2s_jax.model.recurrent import NUM_GATES, LayerWeights, cell_update

ATTENTION_DECODERS = ("bahdanau", "luong")
SCORES = ("dot", "general", "concat")


class Memory(NamedTuple):
    """What the decoder attends over, carried in its state (every leaf batch-first)."""

    values: jax.Array  # [B, S, D]: the top encoder layer's outputs h_j.
    # What a query is scored against (see `_keys`): [B, S, K] added to it (additive
    # scores), or [B, K, S] multiplied by it (dot, general: the 'score' site's kernel).
    keys: jax.Array
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
        G = NUM_GATES[cfg.cell] * H
        self.layers = [
            (
                LayerWeights(
                    (cfg.embed_size if i == 0 else H, G), True, nn.initializers.lecun_normal(),
                    param_dtype, name=f"layer_{i}_input",
                ),
                LayerWeights(
                    (H, G), cfg.cell == "gru",  # GRU's b_hn, as in recurrent.py.
                    nn.initializers.orthogonal(), param_dtype, name=f"layer_{i}_recurrent",
                ),
            )
            for i in range(cfg.num_layers)
        ]  # fmt: skip
        # The first layer's other input, beside emb(y_{t−1}): Bahdanau's context c_t, or
        # Luong's input feed h̃_{t−1}. A kernel of its own, so that no step slices one.
        extra = {"bahdanau": D, "luong": H if cfg.input_feeding else 0}[cfg.decoder]
        self.extra_input = None
        if extra:
            self.extra_input = LayerWeights(
                (extra, G), False, nn.initializers.lecun_normal(), param_dtype,
                name="layer_0_extra_input",
            )  # fmt: skip
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

    @property
    def _joint(self) -> bool:
        """Whether a whole sequence's first layer reads [extra; h]·[W_extra; W_rec] as one
        matmul (LSTM and RNN, whose gates add the two). Not in a decoding step, which would
        join the kernels anew at every step; not for the GRU, whose b_hn is on W_rec·h alone."""
        return self.extra_input is not None and self.cfg.cell != "gru"

    def _keys(self, values_BxSxD: jax.Array) -> jax.Array:
        """Once per source: W_k·h_j (additive, [B, S, K]); or, as [B, K, S] for the 'score'
        site, h_j·W_aᵀ ('general': s·W_a·h_j = s·(h_j·W_aᵀ)) or h_j itself ('dot')."""
        if self._additive:
            return values_BxSxD @ self.w_key.astype(values_BxSxD.dtype)
        if self.cfg.attention_score == "general":
            values_BxSxD = values_BxSxD @ self.w_a.T.astype(values_BxSxD.dtype)
        return values_BxSxD.swapaxes(1, 2)

    def start(self, carries: Carries, memory_BxSxD: jax.Array, mask_BxS: jax.Array):
        """The decoder's initial state: the encoder's final carries and the memory."""
        dtype = jnp.dtype(self.cfg.dtype)
        values = memory_BxSxD.astype(dtype)
        feed = None
        if self.cfg.decoder == "luong" and self.cfg.input_feeding:
            feed = jnp.zeros((values.shape[0], self.cfg.hidden_size), dtype)
        return carries, Memory(values, self._keys(values), mask_BxS, feed)

    def _sites(self, joint: bool, memory: Memory) -> SiteWeights:
        """The step's large weights, read outside the loop over time (fused_loop.py). The
        first layer's input kernel is not among them: it is applied to emb(y_{t−1}) of all
        steps at once, before the loop. With `joint` (see `_joint`), the first layer's
        extra input and recurrent kernels are one site, 'joint_0', read by one matmul. The
        memory is read through sites with one kernel per example: 'context' (weights·h_j)
        and, for multiplicative scores, 'score' (query·keys)."""
        sites: SiteWeights = {"context": (memory.values, None)}
        if not self._additive:
            sites["score"] = (memory.keys, None)
        if joint:
            (w_extra, _), (w_rec, bias) = self.extra_input(), self.layers[0][1]()
            sites["joint_0"] = (jnp.concatenate([w_extra, w_rec]), bias)
        elif self.extra_input is not None:
            sites["input_0"] = self.extra_input()
        for i, (w_in, w_rec) in enumerate(self.layers):
            if i > 0:
                sites[f"input_{i}"] = w_in()
            if i > 0 or not joint:
                sites[f"recurrent_{i}"] = w_rec()
        if self._additive:
            sites["query"] = (self.w_query, None)
        sites["output"] = (self.w_c, None)
        return sites

    def __call__(self, state, tgt_in_BxT: jax.Array, train: bool = False):
        """Teacher forcing over all of tgt_in_BxT (or one decoding step): returns the new
        state and features_BxTxH; the attention weights_BxTxS are sown as intermediates
        'attention'."""
        cfg = self.cfg
        carries, memory = state
        emb_TxBxE = self.embed(tgt_in_BxT).swapaxes(0, 1)
        kernel, bias = (w.astype(emb_TxBxE.dtype) for w in self.layers[0][0]())
        xproj_TxBxG = linear(emb_TxBxE, kernel, bias)
        consts = {"keys": memory.keys, "v": self.v} if self._additive else {}
        rng = self.make_rng("dropout") if train and cfg.dropout_rate > 0 else None
        whole = tgt_in_BxT.shape[1] > 1  # Not one decoding step.
        joint = whole and self._joint
        step = functools.partial(_step, cfg, self._additive, joint)
        loop = fused_loop if cfg.backend == "fused" and whole else scan_loop
        (carries, feed), (out_TxBxH, weights_TxBxS) = loop(
            step, cfg.scan_unroll, self._sites(joint, memory), consts, (memory.mask, rng),
            (carries, memory.feed), xproj_TxBxG,
        )  # fmt: skip
        self.sow("intermediates", "attention", weights_TxBxS.swapaxes(0, 1))
        return (carries, memory._replace(feed=feed)), out_TxBxH.swapaxes(0, 1)

    def project(self, features_xF: jax.Array) -> jax.Array:
        """logits = W·h̃ + b, in float32; any leading shape."""
        return self.logits(features_xF).astype(jnp.float32)


def _step(cfg: ModelConfig, additive: bool, joint: bool, sites, consts, aux, state, xproj_BxG, t):
    """One time step (a `fused_loop.Step`): ((carries, feed), (h̃_BxH, weights_BxS)).

    xproj_BxG is the first layer's input projection of emb(y_{t−1}), plus its bias; with
    `joint`, the first layer's extra input and recurrent projections are one site."""
    mask_BxS, rng = aux
    carries, feed_BxH = state
    rng = None if rng is None else jax.random.fold_in(rng, t)
    dtype = xproj_BxG.dtype

    def context(query_BxH):
        if additive:
            hidden_BxSxK = jnp.tanh(sites("query", query_BxH)[:, None] + consts["keys"])
            scores_BxS = hidden_BxSxK @ consts["v"].astype(dtype)
        else:
            scores_BxS = sites("score", query_BxH)
        weights_BxS = attend(scores_BxS, mask_BxS)
        return sites("context", weights_BxS), weights_BxS

    extra_BxX = feed_BxH  # The first layer's other input: the feed, or Bahdanau's context.
    if cfg.decoder == "bahdanau":
        extra_BxX, weights_BxS = context(carries[-1][-1])
    new_carries = []
    for i, carry in enumerate(carries):
        if i > 0:  # The layer below's output, after dropout.
            below_BxH = _dropout(new_carries[-1][-1], cfg.dropout_rate, rng, i - 1)
            xproj_BxG = sites(f"input_{i}", below_BxH)
        elif joint:
            joint_BxG = sites("joint_0", jnp.concatenate([extra_BxX, carry[-1]], -1))
            new_carries.append(cell_update(cfg.cell, carry, xproj_BxG, joint_BxG))
            continue
        elif extra_BxX is not None:
            xproj_BxG = xproj_BxG + sites("input_0", extra_BxX)
        hproj_BxG = sites(f"recurrent_{i}", carry[-1])
        new_carries.append(cell_update(cfg.cell, carry, xproj_BxG, hproj_BxG))
    s_BxH = new_carries[-1][-1]
    if cfg.decoder == "bahdanau":
        attentional_BxH = jnp.tanh(sites("output", jnp.concatenate([s_BxH, extra_BxX], -1)))
    else:
        context_BxD, weights_BxS = context(s_BxH)
        attentional_BxH = jnp.tanh(sites("output", jnp.concatenate([context_BxD, s_BxH], -1)))
        if feed_BxH is not None:
            feed_BxH = attentional_BxH
    out_BxH = _dropout(attentional_BxH, cfg.dropout_rate, rng, cfg.num_layers)
    return (tuple(new_carries), feed_BxH), (out_BxH, weights_BxS)


def _dropout(x: jax.Array, rate: float, rng: jax.Array | None, salt: int) -> jax.Array:
    """Inverted dropout with a mask from (rng, salt); the identity without an rng."""
    if rng is None or rate == 0:
        return x
    keep = jax.random.bernoulli(jax.random.fold_in(rng, salt), 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), 0).astype(x.dtype)
