"""Masked token cross-entropy and the metric sums built from it.

Metrics travel as sums (of loss, tokens, correct tokens...) so that batches
and devices aggregate exactly; `summarize` turns sums into means at the end.
Padded target positions (PAD in `tgt_out_BxT`) count in nothing.
"""

from collections.abc import Callable
from typing import Any

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


# train.loss_chunk_size=-1: a chunk's logits (float32) are kept to about this many bytes.
AUTO_CHUNK_LOGITS_BYTES = 32 * 2**20


def auto_chunk(batch: int, length: int, vocab: int) -> int:
    """train.loss_chunk_size=-1: the target steps per chunk for a [batch, length] batch over
    `vocab` ids. 0 (no chunks) when all the logits fit AUTO_CHUNK_LOGITS_BYTES, else the most
    steps whose logits do (at least 1)."""
    row_bytes = batch * vocab * 4
    if row_bytes * length <= AUTO_CHUNK_LOGITS_BYTES:
        return 0
    return max(1, AUTO_CHUNK_LOGITS_BYTES // row_bytes)


def chunked_loss(
    project: Callable[[Any, jax.Array], jax.Array],
    params: Any,
    features_BxTxF: jax.Array,
    targets_BxT: jax.Array,
    label_smoothing: float,
    chunk: int,
    output: tuple[str, ...],
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """`masked_mean_loss(project(params, features), ...)` without ever holding all the logits.

    The vocabulary projection, loss and metric sums run over `chunk` time steps at a
    time (a `lax.scan`), and so do their gradients: the loss is the last thing the step
    computes, so its cotangent is a known scalar, and each chunk's gradients (of the
    features, and of the output layer's parameters, `params` at the path `output`) are
    taken in the forward pass, right after its logits (a custom VJP). Memory for logits
    falls by T / chunk, with no logits recomputed. T is padded with PAD targets to a
    multiple of `chunk`; PAD counts in nothing, so the result is the unchunked one.
    """
    B, T, F = features_BxTxF.shape
    pad = -T % chunk
    features_BxTxF = jnp.pad(features_BxTxF, ((0, 0), (0, pad), (0, 0)))
    targets_BxT = jnp.pad(targets_BxT, ((0, 0), (0, pad)), constant_values=PAD_ID)
    n = (T + pad) // chunk
    targets_NxBxC = targets_BxT.reshape(B, n, chunk).swapaxes(0, 1)
    scale = 1.0 / jnp.maximum((targets_BxT != PAD_ID).sum(), 1)  # d loss / d loss_sum.

    def forward(params: Any, features_BxTxF: jax.Array) -> tuple[dict, Any, jax.Array]:
        """The summed metric sums, the output layer's gradients, the features' gradients."""
        features_NxBxCxF = features_BxTxF.reshape(B, n, chunk, F).swapaxes(0, 1)

        def step(grads: Any, inputs: tuple[jax.Array, jax.Array]) -> tuple[Any, tuple]:
            features_BxCxF, targets_BxC = inputs

            def chunk_loss(params: Any, features_BxCxF: jax.Array) -> tuple[jax.Array, dict]:
                logits_BxCxV = project(params, features_BxCxF)
                sums = _loss_and_metric_sums(logits_BxCxV, targets_BxC, label_smoothing)
                return sums["loss_sum"] * scale, sums

            loss, vjp, sums = jax.vjp(chunk_loss, params, features_BxCxF, has_aux=True)
            d_params, d_features_BxCxF = vjp(jnp.ones_like(loss))
            grads = jax.tree.map(jnp.add, grads, _at(d_params, output))
            return grads, (sums, d_features_BxCxF)

        zeros = jax.tree.map(jnp.zeros_like, _at(params, output))
        grads, (sums_N, d_NxBxCxF) = jax.lax.scan(step, zeros, (features_NxBxCxF, targets_NxBxC))
        d_features_BxTxF = d_NxBxCxF.swapaxes(0, 1).reshape(B, n * chunk, F)
        return jax.tree.map(lambda x: x.sum(axis=0), sums_N), grads, d_features_BxTxF

    @jax.custom_vjp
    def loss(params: Any, features_BxTxF: jax.Array) -> tuple[jax.Array, dict]:
        return _mean_loss(forward(params, features_BxTxF)[0])

    def loss_fwd(params: Any, features_BxTxF: jax.Array) -> tuple[tuple, tuple]:
        sums, grads, d_features_BxTxF = forward(params, features_BxTxF)
        return _mean_loss(sums), (params, grads, d_features_BxTxF)

    def loss_bwd(residuals: tuple, cotangents: tuple) -> tuple[Any, jax.Array]:
        params, grads, d_features_BxTxF = residuals
        g = cotangents[0]  # The metric sums are integer counts or not differentiated.
        d_params = jax.tree.map(jnp.zeros_like, params)
        d_params = _replace(d_params, output, jax.tree.map(lambda x: x * g, grads))
        return d_params, d_features_BxTxF * g

    loss.defvjp(loss_fwd, loss_bwd)
    loss_value, sums = loss(params, features_BxTxF)
    return loss_value, sums


def _at(tree: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        tree = tree[key]
    return tree


def _replace(tree: dict, path: tuple[str, ...], value: Any) -> dict:
    """A copy of the nested dict `tree` with `value` at `path`."""
    if not path:
        return value
    return {**tree, path[0]: _replace(tree[path[0]], path[1:], value)}


def summarize(sums: dict[str, float]) -> dict[str, float]:
    """Means from sums: loss (NLL per token), perplexity, token accuracy."""
    tokens = max(float(sums["tokens"]), 1.0)
    loss = float(sums["nll_sum"]) / tokens
    return {
        "loss": loss,
        "perplexity": float(np.exp(min(loss, 50.0))),
        "token_accuracy": float(sums["correct_tokens"]) / tokens,
    }
