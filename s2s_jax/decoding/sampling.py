"""Sampling: feed BOS, then a token drawn from each step's (filtered) distribution, until EOS.

Greedy decoding's loop (`greedy.decode_loop`: a `lax.while_loop` with early exit,
PAD after EOS, PAD and BOS never predicted) with a random choice. Step t's
logits go through, in this order (as Hugging Face's and fairseq's samplers):

- temperature T > 0: logits / T; as T -> 0 the sample becomes the argmax;
- top-k (k > 0): only the k highest logits stay (ties with the k-th may stay too);
- top-p (p < 1, nucleus): only the smallest set of the most probable tokens whose
  probabilities sum to at least p stays (the most probable token always does);

and the token is drawn from the softmax of what stays, with the key
`jax.random.fold_in(rng, t)`. The same rng and batch give the same samples.

Pure functions; the caller jits `sample_decode` (with `max_len`, `temperature`,
`top_k`, `top_p` static) and passes the rng (`batch_key` derives one per host batch).
"""

import zlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from s2s_jax.decoding.greedy import decode_loop, never_predicted
from s2s_jax.model import Seq2Seq


def filter_logits(
    logits_BxV: jax.Array, temperature: float, top_k: int = 0, top_p: float = 1.0
) -> jax.Array:
    """Logits / temperature, with -inf outside the top k (k > 0) and outside the nucleus p (< 1).

    PAD and BOS are -inf too (never predicted). Softmax of the result is the
    distribution a step samples from.
    """
    logits_BxV = never_predicted(logits_BxV.astype(jnp.float32)) / temperature
    neg_inf = jnp.array(-jnp.inf, jnp.float32)
    if top_k > 0:
        k = min(top_k, logits_BxV.shape[-1])
        kth_Bx1 = jax.lax.top_k(logits_BxV, k)[0][:, -1:]
        logits_BxV = jnp.where(logits_BxV >= kth_Bx1, logits_BxV, neg_inf)
    if top_p < 1.0:
        sorted_BxV = -jnp.sort(-logits_BxV, axis=-1)  # Most probable first.
        probs_BxV = jax.nn.softmax(sorted_BxV, axis=-1)
        # A token stays when the tokens more probable than it sum to less than p.
        before_BxV = jnp.cumsum(probs_BxV, axis=-1) - probs_BxV
        smallest_Bx1 = jnp.where(before_BxV < top_p, sorted_BxV, jnp.inf).min(-1, keepdims=True)
        logits_BxV = jnp.where(logits_BxV >= smallest_Bx1, logits_BxV, neg_inf)
    return logits_BxV


def sample_decode(
    model: Seq2Seq,
    params: Any,
    src_BxS: jax.Array,
    rng: jax.Array,
    max_len: int,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    early_exit: bool = True,
) -> tuple[jax.Array, jax.Array]:
    """Decodes a batch by sampling; the output contract of `greedy.greedy_decode`.

    Args:
      model, params: the Seq2Seq and its parameters.
      src_BxS: padded source ids.
      rng: a PRNG key; step t samples with `fold_in(rng, t)`.
      max_len: the longest output, EOS included.
      temperature, top_k, top_p: as `filter_logits` (top_k 0 and top_p 1 are off).
      early_exit: False runs exactly `max_len` steps (for benchmarks).

    Returns:
      tokens_BxL: the sampled ids, L = max_len; EOS kept, PAD after it.
      lengths_B: the number of tokens before EOS (max_len if none came).
    """

    def choose(t: jax.Array, logits_BxV: jax.Array) -> jax.Array:
        filtered_BxV = filter_logits(logits_BxV, temperature, top_k, top_p)
        return jax.random.categorical(jax.random.fold_in(rng, t), filtered_BxV).astype(jnp.int32)

    return decode_loop(model, params, src_BxS, choose, max_len, early_exit)


def batch_key(seed: int, src_BxS: np.ndarray) -> jax.Array:
    """The sampling key of a host batch: `seed` folded with a checksum of the batch's ids.

    The same sentences (in the same padded batch) with the same seed get the same
    key, whenever and wherever they are decoded; another batch gets another key.
    """
    src_BxS = np.ascontiguousarray(src_BxS, np.int32)
    checksum = zlib.crc32(np.asarray(src_BxS.shape, np.int64).tobytes() + src_BxS.tobytes())
    return jax.random.fold_in(jax.random.key(seed), checksum & 0x7FFFFFFF)
