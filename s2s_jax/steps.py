"""Pure step functions: initialize, train, evaluate. `experiment.py` jits them."""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax
from absl import logging
from flax.training import train_state

from s2s_jax.data import Batch
from s2s_jax.losses import (
    auto_chunk,
    chunked_loss,
    masked_mean_loss,
    metric_sums,
    token_nll_and_loss,
)
from s2s_jax.model import Seq2Seq
from s2s_jax.model.encoder import reverse_padded
from s2s_jax.scheduled_sampling import coin_rng, sampling_probability, scheduled_inputs
from s2s_jax.vocab import PAD_ID


class TrainState(train_state.TrainState):
    """Params, optimizer state and step, plus the run's base RNG key.

    The dropout key of step k is fold_in(rng, k): a pure function of the
    checkpointed state, so a resumed run draws the same masks (and the same
    scheduled-sampling coins, `scheduled_sampling.coin_rng`).
    """

    rng: jax.Array


def init_state(
    model: Seq2Seq, tx: optax.GradientTransformation, rng: jax.Array, batch: Batch
) -> TrainState:
    init_rng, run_rng = jax.random.split(rng)
    params = model.init(init_rng, batch["src_BxS"], batch["tgt_in_BxT"])["params"]
    return TrainState.create(apply_fn=model.apply, params=params, tx=tx, rng=run_rng)


def train_step(
    state: TrainState,
    batch: Batch,
    *,
    model: Seq2Seq,
    label_smoothing: float,
    loss_chunk: int = 0,
    scheduled_sampling: ml_collections.ConfigDict | None = None,
    skip_nonfinite: bool = False,
) -> tuple[TrainState, dict[str, jax.Array]]:
    """One teacher-forced gradient step; returns the new state and metric sums.

    loss_chunk > 0 computes the output layer and loss that many target steps at
    a time (`losses.chunked_loss`), bounding the logits' memory; 0 does all at once; -1
    chooses from the batch's shape (`losses.auto_chunk`).
    scheduled_sampling, a `config.train.scheduled_sampling` block with a decay other
    than 'none', replaces decoder inputs by the model's predictions
    (`scheduled_sampling.scheduled_inputs`), and the sums gain
    'sampling_probability_sum'; None or 'none' is plain teacher forcing.

    The sums' 'nonfinite_steps' is 1 when the loss or the gradients hold a NaN or an Inf
    (read from the loss and the gradient norm, already computed: no extra pass). With
    skip_nonfinite, such an update is dropped: params and optimizer state stay as they
    were, and only the step moves on (config.train.nonfinite='skip').
    """
    dropout_rng = jax.random.fold_in(state.rng, state.step)
    tgt_in_BxT, extra_sums = batch["tgt_in_BxT"], {}
    if scheduled_sampling is not None and scheduled_sampling.decay != "none":
        prob = sampling_probability(scheduled_sampling, state.step)
        tgt_in_BxT, _ = scheduled_inputs(
            model, state.params, batch["src_BxS"], tgt_in_BxT, prob,
            coin_rng(state.rng, state.step),
        )  # fmt: skip
        extra_sums = {"sampling_probability_sum": prob}

    def loss_fn(params):
        variables = {"params": params}
        features_BxTxF = model.apply(
            variables,
            batch["src_BxS"],
            tgt_in_BxT,
            train=True,
            rngs={"dropout": dropout_rng},
            method=Seq2Seq.features,
        )
        B, T, _ = features_BxTxF.shape
        chunk = loss_chunk
        if loss_chunk == -1:  # Logged as each batch shape is traced (compiled), not per step.
            chunk = auto_chunk(B, T, model.cfg.tgt_vocab_size)
            logging.info("train.loss_chunk_size=-1: batches of %d x %d target steps (vocabulary "
                         "%d) take their loss %s", B, T, model.cfg.tgt_vocab_size,
                         f"in chunks of {chunk} steps" if chunk else "whole")  # fmt: skip
        if chunk and chunk < T:
            return chunked_loss(
                _project(model), params, features_BxTxF, batch["tgt_out_BxT"],
                label_smoothing, chunk, Seq2Seq.OUTPUT_LAYER,
            )  # fmt: skip
        logits_BxTxV = _project(model)(params, features_BxTxF)
        return masked_mean_loss(logits_BxTxV, batch["tgt_out_BxT"], label_smoothing)

    (loss, sums), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    grad_norm = optax.tree.norm(grads)
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
    new_state = state.apply_gradients(grads=grads)
    if skip_nonfinite:
        kept = state.replace(step=new_state.step)
        new_state = jax.tree.map(lambda new, old: jnp.where(finite, new, old), new_state, kept)
    sums = {
        **sums,
        "objective_sum": loss,
        "grad_norm_sum": grad_norm,
        "steps": 1,
        "nonfinite_steps": 1 - finite.astype(jnp.int32),
    }
    return new_state, {**sums, **extra_sums}


def _project(model: Seq2Seq) -> Callable[[Any, jax.Array], jax.Array]:
    """(params, features) -> logits: the model's output layer."""
    return lambda params, features: model.apply({"params": params}, features,
                                                method=Seq2Seq.project)  # fmt: skip


def eval_step(params: Any, batch: Batch, *, model: Seq2Seq) -> dict[str, jax.Array]:
    """Teacher-forced metric sums on one batch (no dropout, no label smoothing)."""
    logits_BxTxV = model.apply({"params": params}, batch["src_BxS"], batch["tgt_in_BxT"])
    nll_BxT, _ = token_nll_and_loss(logits_BxTxV, batch["tgt_out_BxT"], 0.0)
    return metric_sums(logits_BxTxV, batch["tgt_out_BxT"], nll_BxT)


def attention_weights(
    params: Any, src_BxS: jax.Array, tgt_in_BxT: jax.Array, *, model: Seq2Seq
) -> jax.Array:
    """An attention decoder's weights_BxTxS, teacher-forced on tgt_in_BxT (no dropout).

    Row t is the step that reads tgt_in[t] and predicts the next token; column s is
    src_BxS[:, s] (with `reverse_source` the memory is in reverse order: put back here),
    and padded source positions have weight 0. Teacher forcing runs the decoding step's
    code, so with tgt_in = BOS + a decode's tokens these are the weights the decode used.
    """
    _, state = model.apply(
        {"params": params}, src_BxS, tgt_in_BxT, method=Seq2Seq.features, mutable=["intermediates"]
    )
    (weights_BxTxS,) = state["intermediates"]["decoder"]["attention"]
    if model.cfg.reverse_source:
        lengths_B = (src_BxS != PAD_ID).sum(axis=1)
        weights_BxTxS = reverse_padded(weights_BxTxS.swapaxes(1, 2), lengths_B).swapaxes(1, 2)
    return weights_BxTxS


def tree_add(a: dict[str, Any] | None, b: dict[str, Any]) -> dict[str, Any]:
    """Adds two dicts of metric sums (host-side)."""
    return dict(b) if a is None else {k: a[k] + b[k] for k in a}
