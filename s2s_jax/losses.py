"""Masked token cross-entropy and the metric sums built from it.

Metrics travel as sums (of loss, tokens, correct tokens...) so that batches
and devices aggregate exactly; `summarize` turns sums into means at the end.
Padded target positions (PAD in `tgt_out_BxT`) count in nothing.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from s2s_jax.vocab import PAD_ID


def token_nll_and_loss(
    logits_BxTxV: jax.Array, targets_BxT: jax.Array, label_smoothing: float
) -> tuple[jax.Array, jax.Array]:
    """Per-token negative log-likelihood, and the label-smoothed training loss.

    The smoothed loss is the cross-entropy against (1 − α)·one_hot + α/V, as
    `optax.smooth_labels` builds it, computed without materializing one-hots.
    """
    logp_BxTxV = jax.nn.log_softmax(logits_BxTxV.astype(jnp.float32))
    nll_BxT = -jnp.take_along_axis(logp_BxTxV, targets_BxT[..., None], axis=-1)[..., 0]
    if label_smoothing == 0.0:
        return nll_BxT, nll_BxT
    uniform_BxT = -logp_BxTxV.mean(axis=-1)
    return nll_BxT, (1.0 - label_smoothing) * nll_BxT + label_smoothing * uniform_BxT


def metric_sums(
    logits_BxTxV: jax.Array, targets_BxT: jax.Array, nll_BxT: jax.Array
) -> dict[str, jax.Array]:
    """Sums over the real (non-PAD) target tokens of a batch.

    A token is correct when its logit is the row's maximum: the argmax without
    argmax's index-tracking reduction, which costs a train step as much as a
    matmul. (A tie for the maximum counts as correct.)
    """
    mask_BxT = targets_BxT != PAD_ID
    target_BxT = jnp.take_along_axis(logits_BxTxV, targets_BxT[..., None], axis=-1)[..., 0]
    correct_BxT = (target_BxT >= logits_BxTxV.max(axis=-1)) & mask_BxT
    return {
        "nll_sum": jnp.sum(nll_BxT * mask_BxT),
        "tokens": mask_BxT.sum(),
        "correct_tokens": correct_BxT.sum(),
    }


def _loss_and_metric_sums(
    logits_BxTxV: jax.Array, targets_BxT: jax.Array, label_smoothing: float
) -> dict[str, jax.Array]:
    """The metric sums, plus 'loss_sum': the training loss summed over real tokens."""
    nll_BxT, loss_BxT = token_nll_and_loss(logits_BxTxV, targets_BxT, label_smoothing)
    loss_sum = jnp.sum(loss_BxT * (targets_BxT != PAD_ID))
    return {**metric_sums(logits_BxTxV, targets_BxT, nll_BxT), "loss_sum": loss_sum}


def _mean_loss(sums: dict[str, jax.Array]) -> tuple[jax.Array, dict[str, jax.Array]]:
    """(loss_sum / tokens, the metric sums without loss_sum)."""
    sums = dict(sums)
    return sums.pop("loss_sum") / jnp.maximum(sums["tokens"], 1), sums


def masked_mean_loss(
    logits_BxTxV: jax.Array, targets_BxT: jax.Array, label_smoothing: float
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The training objective (mean over real tokens), and the batch's metric sums."""
    return _mean_loss(_loss_and_metric_sums(logits_BxTxV, targets_BxT, label_smoothing))


def chunked_loss(
    project: Callable[[jax.Array], jax.Array],
    features_BxTxF: jax.Array,
    targets_BxT: jax.Array,
    label_smoothing: float,
    chunk: int,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """`masked_mean_loss(project(features), ...)` without ever holding all the logits.

    The vocabulary projection, loss and metric sums run over `chunk` time steps
    at a time (a `lax.map`), each under `jax.checkpoint`: the backward pass
    recomputes one chunk's logits at a time instead of storing [B, T, V] of
    them. Memory for logits falls by T / chunk; the price is one more forward
    pass of the output layer. T is padded with PAD targets to a multiple of
    `chunk`; PAD counts in nothing, so the result is the unchunked one.
    """
    B, T, F = features_BxTxF.shape
    pad = -T % chunk
    features_BxTxF = jnp.pad(features_BxTxF, ((0, 0), (0, pad), (0, 0)))
    targets_BxT = jnp.pad(targets_BxT, ((0, 0), (0, pad)), constant_values=PAD_ID)
    n = (T + pad) // chunk
    features_NxBxCxF = features_BxTxF.reshape(B, n, chunk, F).swapaxes(0, 1)
    targets_NxBxC = targets_BxT.reshape(B, n, chunk).swapaxes(0, 1)

    @jax.checkpoint
    def chunk_sums(inputs: tuple[jax.Array, jax.Array]) -> dict[str, jax.Array]:
        features_BxCxF, targets_BxC = inputs
        return _loss_and_metric_sums(project(features_BxCxF), targets_BxC, label_smoothing)

    sums_N = jax.lax.map(chunk_sums, (features_NxBxCxF, targets_NxBxC))
    return _mean_loss(jax.tree.map(lambda x: x.sum(axis=0), sums_N))


def summarize(sums: dict[str, float]) -> dict[str, float]:
    """Means from sums: loss (NLL per token), perplexity, token accuracy."""
    tokens = max(float(sums["tokens"]), 1.0)
    loss = float(sums["nll_sum"]) / tokens
    return {
        "loss": loss,
        "perplexity": float(np.exp(min(loss, 50.0))),
        "token_accuracy": float(sums["correct_tokens"]) / tokens,
    }
