"""The decoders: teacher forcing equals step-by-step decoding, and the context decoder."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from model.seq2seq_helpers import (
    ROWS,
    TGT_IN,
    H,
    decode_step,
    encode,
    model_and_params,
    pad,
    teacher_forced,
)

from s2s_jax.model.recurrent import CARRY_SIZE


@pytest.mark.parametrize(
    "cell,decoder,backend",
    # Every cell on both backends, and the context decoder on both. On the fused backend a
    # single step runs as one [x; h] matmul (LSTM and RNN) or through the custom VJP (GRU).
    [
        ("lstm", "basic", "scan"),
        ("gru", "context", "scan"),
        ("rnn", "basic", "scan"),
        ("lstm", "context", "fused"),
        ("gru", "basic", "fused"),
        ("rnn", "basic", "fused"),
    ],
)
def test_teacher_forcing_equals_step_by_step_decoding(cell: str, decoder: str, backend: str):
    """2 layers give 2 carries; __call__ (teacher forcing) matches decode_step run step by step."""
    model, params = model_and_params(cell=cell, num_layers=2, decoder=decoder, backend=backend)
    variables = {"params": params}
    src = pad(ROWS, 5)
    state = encode(model, variables, src)
    carries, context = state
    assert len(carries) == 2
    for carry in carries:
        assert len(carry) == CARRY_SIZE[cell]
        assert all(c.shape == (len(ROWS), H) for c in carry)
    # The context decoder keeps the top layer's final h beside the carries.
    if decoder == "context":
        np.testing.assert_array_equal(context, carries[-1][-1])
    else:
        assert context is None

    step_logits = []
    for t in range(TGT_IN.shape[1]):
        state, logits_BxV = decode_step(model, variables, state, TGT_IN[:, t])
        step_logits.append(logits_BxV)
    logits = teacher_forced(model, variables, src, TGT_IN)
    np.testing.assert_allclose(logits, jnp.stack(step_logits, axis=1), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("decoder", ["basic", "context"])
def test_context_decoder_reads_the_source_at_every_step(decoder: str):
    """With the carries zeroed, only the 'context' decoder still sees which source it had:
    its context vector is an input of every step and of the output layer."""
    model, params = model_and_params(cell="gru", decoder=decoder)
    variables = {"params": params}
    states = [encode(model, variables, pad([row], 5)) for row in ROWS[:2]]
    zeroed = [(jax.tree.map(jnp.zeros_like, carries), context) for carries, context in states]
    logits = [decode_step(model, variables, state, jnp.array([1]))[1] for state in zeroed]
    differ = not np.allclose(logits[0], logits[1], atol=1e-4)
    assert differ == (decoder == "context")
