"""Scheduled sampling (Bengio et al., 2015): in training, the decoder sometimes reads its own
previous prediction instead of the gold token.

At train step i the decoder's input at time t ≥ 1 is the gold token y_{t−1} with the
teacher-forcing probability ε_i, and otherwise the model's own prediction of y_{t−1}; the
input at t = 0 is always the gold BOS. The sampling probability is p_i = 1 − ε_i. The
schedule (`config.train.scheduled_sampling.decay`, `sampling_probability`):

- 'none': off; the train step is plain teacher forcing (p_i = 0).
- 'constant': p_i = constant_probability at every step (ablations, tests).
- 'linear': ε_i = max(min_teacher_forcing, 1 − i / decay_steps).
- 'exponential': ε_i = max(min_teacher_forcing, exponential_base ** i).
- 'inverse_sigmoid': ε_i = max(min_teacher_forcing, k / (k + exp(i / k))),
  k = inverse_sigmoid_k (≥ 1).

The inputs are chosen by a pass of their own, before the gradient pass
(`scheduled_inputs`): the decoder runs step by step as in greedy decoding (inference
mode: no dropout; no gradient), and at each t ≥ 1 a coin per sentence, drawn with the
key fold_in(rng, t), picks the gold token or the previous step's argmax (PAD and BOS
never chosen, as in greedy decoding). The train step then runs the ordinary
teacher-forced pass on those inputs. A prediction is an argmax, which has no gradient,
so the gradient is the one a single step-by-step pass would give, while the decoder
keeps its whole-sequence training path: at p = 0 the inputs are the gold ones and the
step is the teacher-forced step bit for bit, dropout masks included. With dropout, the
chosen predictions are those of the model without dropout (as decoding makes them);
without dropout, each replaced input is the argmax of the gradient pass's own logits
at t − 1 (up to rounding, in a near-tie).
"""

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from s2s_jax.decoding.greedy import first_argmax, never_predicted
from s2s_jax.model import Seq2Seq

DECAYS = ("none", "constant", "linear", "exponential", "inverse_sigmoid")
# fold_in(rng, k) is step k's dropout key (steps.TrainState); the coins of step k use
# fold_in(fold_in(rng, COIN_STREAM), k), and no int32 step k is COIN_STREAM.
COIN_STREAM = 0xFFFFFFFF


def sampling_probability(config: ml_collections.ConfigDict, step: jax.Array | int) -> jax.Array:
    """p_i = 1 − ε_i at train step i for a `config.train.scheduled_sampling` block (see the
    module doc); a float32 scalar, jittable with a traced step."""
    i = jnp.asarray(step, jnp.float32)
    if config.decay == "none":
        return jnp.zeros((), jnp.float32)
    if config.decay == "constant":
        return jnp.asarray(config.constant_probability, jnp.float32)
    if config.decay == "linear":
        teacher = 1.0 - i / config.decay_steps
    elif config.decay == "exponential":
        teacher = jnp.power(jnp.float32(config.exponential_base), i)
    elif config.decay == "inverse_sigmoid":
        k = jnp.float32(config.inverse_sigmoid_k)
        teacher = k / (k + jnp.exp(i / k))  # exp overflows to inf late on: ε = 0.
    else:
        raise ValueError(
            f"config.train.scheduled_sampling.decay: unknown {config.decay!r}; expected {DECAYS}"
        )
    return 1.0 - jnp.maximum(jnp.float32(config.min_teacher_forcing), teacher)


def coin_rng(rng: jax.Array, step: jax.Array | int) -> jax.Array:
    """The key of step `step`'s coins, from the run's base key (apart from every dropout key)."""
    return jax.random.fold_in(jax.random.fold_in(rng, COIN_STREAM), step)


def scheduled_inputs(
    model: Seq2Seq,
    params: Any,
    src_BxS: jax.Array,
    tgt_in_BxT: jax.Array,
    sample_prob: jax.Array | float,
    rng: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """The decoder inputs of scheduled sampling, chosen step by step (see the module doc).

    Runs without dropout and without gradient (the params are stop_gradient'ed).

    Returns:
      inputs_BxT: tgt_in_BxT with each position t ≥ 1 replaced, with probability
        sample_prob, by the model's argmax prediction at t − 1 given these inputs.
      sampled_BxT: True where the input was replaced (never at t = 0).
    """
    variables = {"params": jax.lax.stop_gradient(params)}
    B = tgt_in_BxT.shape[0]
    state = model.apply(variables, src_BxS, method=Seq2Seq.encode)

    def step(carry, inputs):
        state, token_B = carry  # The input at t − 1.
        t, gold_B = inputs
        state, logits_BxV = model.apply(variables, state, token_B, method=Seq2Seq.decode_step)
        sampled_B = jax.random.bernoulli(jax.random.fold_in(rng, t), sample_prob, (B,))
        predicted_B = first_argmax(never_predicted(logits_BxV)).astype(gold_B.dtype)
        token_B = jnp.where(sampled_B, predicted_B, gold_B)
        return (state, token_B), (token_B, sampled_B)

    T = tgt_in_BxT.shape[1]
    _, (tokens_TxB, sampled_TxB) = jax.lax.scan(
        step, (state, tgt_in_BxT[:, 0]), (jnp.arange(1, T), tgt_in_BxT[:, 1:].T)
    )
    inputs_BxT = jnp.concatenate([tgt_in_BxT[:, :1], tokens_TxB.T], axis=1)
    sampled_BxT = jnp.concatenate([jnp.zeros((B, 1), bool), sampled_TxB.T], axis=1)
    return inputs_BxT, sampled_BxT
