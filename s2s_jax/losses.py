"""Masked token cross-entropy and the metric sums built from it.

Metrics travel as sums (of loss, tokens, correct tokens...) so that batches
and devices aggregate exactly; `summarize` turns sums into means at the end.
Padded target positions (PAD in `tgt_out_BxT`) count in nothing.
"""

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
    """Sums over the real (non-PAD) target tokens of a batch."""
    mask_BxT = targets_BxT != PAD_ID
    correct_BxT = (jnp.argmax(logits_BxTxV, axis=-1) == targets_BxT) & mask_BxT
    return {
        "nll_sum": jnp.sum(nll_BxT * mask_BxT),
        "tokens": mask_BxT.sum(),
        "correct_tokens": correct_BxT.sum(),
    }


def masked_mean_loss(
    logits_BxTxV: jax.Array, targets_BxT: jax.Array, label_smoothing: float
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The training objective (mean over real tokens), and the batch's metric sums."""
    nll_BxT, loss_BxT = token_nll_and_loss(logits_BxTxV, targets_BxT, label_smoothing)
    mask_BxT = targets_BxT != PAD_ID
    loss = jnp.sum(loss_BxT * mask_BxT) / jnp.maximum(mask_BxT.sum(), 1)
    return loss, metric_sums(logits_BxTxV, targets_BxT, nll_BxT)


def summarize(sums: dict[str, float]) -> dict[str, float]:
    """Means from sums: loss (NLL per token), perplexity, token accuracy."""
    tokens = max(float(sums["tokens"]), 1.0)
    loss = float(sums["nll_sum"]) / tokens
    return {
        "loss": loss,
        "perplexity": float(np.exp(min(loss, 50.0))),
        "token_accuracy": float(sums["correct_tokens"]) / tokens,
    }
