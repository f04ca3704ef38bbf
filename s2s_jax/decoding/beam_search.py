"""Beam search: the K most probable prefixes per sentence, and the best finished hypothesis.

In the spirit of the Flax WMT example (examples/wmt/decode.py): a `lax.while_loop`
over time that keeps, per sentence, K alive prefixes and the K best finished
hypotheses (ended by EOS). Scores are sums of the model's log-probabilities;
a finished hypothesis of n tokens (its EOS included) is ranked by

    log p(y) / ((5 + n) / 6) ** alpha        (GNMT, Wu et al., 2016)

Each step extends every alive prefix by every token and takes the top 2K of the
K*V candidates. EOS candidates among the top K finish (as in fairseq), so that
with K = 1 and alpha = 0 the search is exactly greedy decoding; the best K
candidates that are not EOS stay alive. PAD and BOS are never predicted.

The loop ends after `max_len` steps, or (with early_exit) once no alive prefix
can still beat the worst of a sentence's K finished hypotheses in any sentence.
`beam_search` returns the best hypothesis per sentence, `beam_search_n_best` the
n best with their scores. Pure functions; the caller jits them (with `max_len`,
`beam_size`, `n_best` static).
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from s2s_jax.decoding.greedy import never_predicted, sequence_lengths
from s2s_jax.model import Seq2Seq
from s2s_jax.vocab import BOS_ID, EOS_ID, PAD_ID


def length_penalty_factor(num_tokens: jax.Array | int, alpha: float) -> jax.Array:
    """GNMT's ((5 + n) / 6) ** alpha: a finished hypothesis' log-prob is divided by it."""
    return jnp.power((5.0 + num_tokens) / 6.0, alpha)


def _gather_beams(x_BxKx: jax.Array, beam_BxN: jax.Array) -> jax.Array:
    """Picks beams per sentence: out[b, n] = x[b, beam[b, n]]."""
    return jnp.take_along_axis(
        x_BxKx, beam_BxN.reshape(beam_BxN.shape + (1,) * (x_BxKx.ndim - 2)), 1
    )


def _gather_state(state_BK: Any, beam_BxK: jax.Array) -> Any:
    """Reorders a decoder state (a pytree of [B*K, ...] arrays) to follow the chosen beams."""
    B, K = beam_BxK.shape

    def gather(x_BKx: jax.Array) -> jax.Array:
        x_BxKx = x_BKx.reshape((B, K, *x_BKx.shape[1:]))
        return _gather_beams(x_BxKx, beam_BxK).reshape(x_BKx.shape)

    return jax.tree.map(gather, state_BK)


class _Beams(NamedTuple):
    """The while loop's state after t steps: alive prefixes have t tokens; both sets are
    sorted best first, and a -inf score marks an empty slot."""

    t: jax.Array
    dec_state: Any  # The alive prefixes' decoder state: [B*K, ...] arrays.
    last_tokens: jax.Array  # [B*K]: the alive prefixes' last tokens (BOS at first).
    alive_scores: jax.Array  # [B, K]: log-probs of the alive prefixes.
    alive_seqs: jax.Array  # [B, K, L], PAD after the prefix.
    finished_scores: jax.Array  # [B, K]: log-probs over the length penalty.
    finished_seqs: jax.Array  # [B, K, L]: EOS kept, PAD after it.


def beam_search(
    model: Seq2Seq,
    params: Any,
    src_BxS: jax.Array,
    max_len: int,
    beam_size: int,
    length_penalty: float,
    early_exit: bool = True,
) -> tuple[jax.Array, jax.Array]:
    """Decodes a batch with beam search; the output contract of `greedy_decode`.

    Args:
      model, params: the Seq2Seq and its parameters.
      src_BxS: padded source ids.
      max_len: the longest output, EOS included.
      beam_size: K, the prefixes kept alive per sentence.
      length_penalty: alpha of the GNMT length penalty; 0 ranks by log-prob alone.
      early_exit: False runs exactly `max_len` steps (for benchmarks).

    Returns:
      tokens_BxL: the best finished hypothesis per sentence (the best alive one
        if none finished), L = max_len. Its EOS is kept; PAD follows it.
      lengths_B: the number of tokens before EOS (max_len if none came).
    """
    tokens_BxNxL, lengths_BxN, _ = beam_search_n_best(
        model, params, src_BxS, max_len, beam_size, length_penalty, 1, early_exit
    )
    return tokens_BxNxL[:, 0], lengths_BxN[:, 0]


def beam_search_n_best(
    model: Seq2Seq,
    params: Any,
    src_BxS: jax.Array,
    max_len: int,
    beam_size: int,
    length_penalty: float,
    n_best: int,
    early_exit: bool = True,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The n best hypotheses per sentence (n <= K) and their scores; args as `beam_search`.

    The finished hypotheses come first, best first; when fewer than n finished (only
    when the search ran max_len steps), the best alive ones of max_len tokens, no EOS,
    fill the rest (best first, scored as log p / ((5 + max_len) / 6) ** alpha).

    Returns:
      tokens_BxNxL: N = n_best hypotheses per sentence; `beam_search`'s is the first.
      lengths_BxN: tokens before EOS (max_len if none came).
      scores_BxN: log-probability over the GNMT length penalty, the rank of finished ones.
    """
    if not 0 < n_best <= beam_size:
        raise ValueError(f"n_best={n_best} must be in [1, beam_size={beam_size}]")
    B, K, L = src_BxS.shape[0], beam_size, max_len
    variables = {"params": params}
    # The decoder state (each layer's carries, ...), its rows repeated K times: [B*K, ...].
    dec_state = model.apply(variables, src_BxS, method=Seq2Seq.encode)
    dec_state = jax.tree.map(lambda x_Bx: jnp.repeat(x_Bx, K, axis=0), dec_state)
    neg_inf = jnp.array(-jnp.inf, jnp.float32)
    max_penalty = length_penalty_factor(L, length_penalty)

    def cond(beams: _Beams) -> jax.Array:
        # An alive prefix's log-prob only falls; its best final score divides it by the
        # largest penalty ahead (n in [t + 1, L]; the penalty is monotonic in n).
        penalty = jnp.maximum(length_penalty_factor(beams.t + 1, length_penalty), max_penalty)
        can_improve_B = beams.alive_scores[:, 0] / penalty > beams.finished_scores[:, -1]
        return (beams.t < L) & ~(early_exit & ~jnp.any(can_improve_B))

    def body(beams: _Beams) -> _Beams:
        t, alive_seqs_BxKxL = beams.t, beams.alive_seqs
        dec_state, logits_BKxV = model.apply(
            variables, beams.dec_state, beams.last_tokens, method=Seq2Seq.decode_step
        )
        V = logits_BKxV.shape[-1]
        logprobs_BKxV = never_predicted(jax.nn.log_softmax(logits_BKxV))
        scores_BxKxV = beams.alive_scores[:, :, None] + logprobs_BKxV.reshape(B, K, V)
        # Top 2K: at most K of them (one per beam) are EOS, so K others stay alive.
        top_Bx2K, index_Bx2K = jax.lax.top_k(scores_BxKxV.reshape(B, K * V), 2 * K)
        beam_Bx2K, token_Bx2K = index_Bx2K // V, index_Bx2K % V
        is_eos_Bx2K = token_Bx2K == EOS_ID

        # Finished: EOS among the top K, ranked with the length penalty (t + 1 tokens). (A
        # mask, not a slice [:, :K]: XLA on CPU turns a sliced top_k into a full sort.)
        new_finished_Bx2K = jnp.where(
            is_eos_Bx2K & (jnp.arange(2 * K) < K),
            top_Bx2K / length_penalty_factor(t + 1, length_penalty),
            neg_inf,
        )
        new_finished_seqs_Bx2KxL = (
            _gather_beams(alive_seqs_BxKxL, beam_Bx2K).at[:, :, t].set(EOS_ID)
        )
        finished_BxK, pick_BxK = jax.lax.top_k(
            jnp.concatenate([beams.finished_scores, new_finished_Bx2K], axis=1), K
        )
        finished_seqs_BxKxL = _gather_beams(
            jnp.concatenate([beams.finished_seqs, new_finished_seqs_Bx2KxL], axis=1),
            pick_BxK,
        )

        # Alive: the best K candidates that are not EOS.
        alive_BxK, pick_BxK = jax.lax.top_k(jnp.where(is_eos_Bx2K, neg_inf, top_Bx2K), K)
        beam_BxK = jnp.take_along_axis(beam_Bx2K, pick_BxK, axis=1)
        next_BxK = jnp.take_along_axis(token_Bx2K, pick_BxK, axis=1).astype(jnp.int32)
        alive_seqs_BxKxL = _gather_beams(alive_seqs_BxKxL, beam_BxK).at[:, :, t].set(next_BxK)
        return _Beams(
            t=t + 1,
            dec_state=_gather_state(dec_state, beam_BxK),
            last_tokens=next_BxK.reshape(B * K),
            alive_scores=alive_BxK,
            alive_seqs=alive_seqs_BxKxL,
            finished_scores=finished_BxK,
            finished_seqs=finished_seqs_BxKxL,
        )

    # One alive prefix per sentence at first (the others at -inf), so no two beams repeat.
    alive_K = jnp.full((K,), -jnp.inf, jnp.float32).at[0].set(0.0)
    init = _Beams(
        t=jnp.array(0, jnp.int32),
        dec_state=dec_state,
        last_tokens=jnp.full((B * K,), BOS_ID, jnp.int32),
        alive_scores=jnp.broadcast_to(alive_K, (B, K)),
        alive_seqs=jnp.full((B, K, L), PAD_ID, jnp.int32),
        finished_scores=jnp.full((B, K), -jnp.inf, jnp.float32),
        finished_seqs=jnp.full((B, K, L), PAD_ID, jnp.int32),
    )
    final = jax.lax.while_loop(cond, body, init)
    # Rank n is the n-th finished hypothesis, or else alive one n - (number finished).
    N = n_best
    num_finished_Bx1 = (final.finished_scores > -jnp.inf).sum(axis=1, keepdims=True)
    from_finished_BxN = jnp.arange(N) < num_finished_Bx1
    alive_BxN = jnp.clip(jnp.arange(N) - num_finished_Bx1, 0, K - 1)
    alive_scores_BxK = final.alive_scores / length_penalty_factor(final.t, length_penalty)
    scores_BxN = jnp.where(
        from_finished_BxN,
        final.finished_scores[:, :N],
        jnp.take_along_axis(alive_scores_BxK, alive_BxN, axis=1),
    )
    tokens_BxNxL = jnp.where(
        from_finished_BxN[:, :, None],
        final.finished_seqs[:, :N],
        _gather_beams(final.alive_seqs, alive_BxN),
    )
    lengths_BxN = sequence_lengths(tokens_BxNxL.reshape(B * N, L)).reshape(B, N)
    return tokens_BxNxL, lengths_BxN, scores_BxN
