"""The encoder: padding, reverse_padded, source reversal, learned initial state, bidirectional."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from model.seq2seq_helpers import ROWS, H, assert_trees_close, encode, model_and_params, pad

from s2s_jax.model.encoder import reverse_padded
from s2s_jax.model.recurrent import CARRY_SIZE, RecurrentLayer


@pytest.mark.parametrize(
    "cell,bidirectional,reverse_source",
    # Every cell; bidirectional with and without reversal (LSTM's two-part carry and GRU's
    # one-part carry through the bridge); reversal with and without bidirectional.
    [("lstm", True, True), ("gru", True, False), ("rnn", False, True)],
)
def test_padding_does_not_change_encoding(cell: str, bidirectional: bool, reverse_source: bool):
    """Extra PAD at the end of a batch of rows of different lengths leaves the carries unchanged."""
    model, params = model_and_params(
        cell=cell, num_layers=2, bidirectional=bidirectional, reverse_source=reverse_source
    )
    carries = encode(model, {"params": params}, pad(ROWS, 5))[0]
    carries_padded = encode(model, {"params": params}, pad(ROWS, 9))[0]
    assert_trees_close(carries, carries_padded)
    # The rows really differ, so equal carries are not a coincidence.
    assert not np.allclose(carries[-1][-1][0], carries[-1][-1][1], atol=1e-3)


def test_reverse_padded_reverses_within_length():
    """reverse_padded reverses each row's first `length` entries and leaves the rest in place."""
    x = np.array([[1, 2, 3, 9], [4, 5, 8, 7], [6, 0, 0, 0]])
    lengths = np.array([3, 2, 4])
    expected = np.array([[3, 2, 1, 9], [5, 4, 8, 7], [0, 0, 0, 6]])
    x_BxSxD = np.stack([x, 10 * x], axis=-1)
    expected_BxSxD = np.stack([expected, 10 * expected], axis=-1)
    # One jitted call for both ranks (one compilation instead of op-by-op dispatch).
    both = jax.jit(lambda x, x3, n: (reverse_padded(x, n), reverse_padded(x3, n)))
    got, got_BxSxD = both(x, x_BxSxD, lengths)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got_BxSxD, expected_BxSxD)


def test_learned_initial_state():
    """'learned' adds h0 params per layer and direction that feed the encoder; 'zeros' adds none."""
    kwargs = {"cell": "lstm", "num_layers": 2, "bidirectional": True}
    model, params = model_and_params(init_state="learned", **kwargs)
    enc = params["encoder"]
    names = {"h0_0", "h0_1", "h0_0_backward", "h0_1_backward"}
    assert names <= set(enc)
    for name in names:
        assert enc[name].shape == (CARRY_SIZE["lstm"], H)

    zeros_model, zeros_params = model_and_params(init_state="zeros", **kwargs)
    assert not any(k.startswith("h0") for k in zeros_params["encoder"])

    src = pad(ROWS, 6)
    with_h0 = encode(model, {"params": params}, src)[0]
    zero_h0 = {**enc, **{n: jnp.zeros_like(enc[n]) for n in names}}
    without_h0 = encode(model, {"params": {**params, "encoder": zero_h0}}, src)[0]
    assert not np.allclose(with_h0[0][-1], without_h0[0][-1], atol=1e-3)

    # With h0 = 0, 'learned' computes exactly what 'zeros' does with the same other params.
    other = {k: v for k, v in zero_h0.items() if k not in names}
    from_zeros = encode(zeros_model, {"params": {**params, "encoder": other}}, src)[0]
    assert_trees_close(without_h0, from_zeros)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_reverse_source_equals_manually_reversed_source(bidirectional: bool):
    """reverse_source=True encodes like reverse_source=False on rows reversed by hand."""
    model_rev, params = model_and_params(
        cell="gru", bidirectional=bidirectional, reverse_source=True
    )
    model_fwd, _ = model_and_params(cell="gru", bidirectional=bidirectional, reverse_source=False)
    variables = {"params": params}
    got = encode(model_rev, variables, pad(ROWS, 6))[0]
    expected = encode(model_fwd, variables, pad([r[::-1] for r in ROWS], 6))[0]
    assert_trees_close(got, expected)
    unreversed = encode(model_fwd, variables, pad(ROWS, 6))[0]
    assert not np.allclose(got[0][-1], unreversed[0][-1], atol=1e-3)


def test_bidirectional_bridges_both_directions():
    """A bidirectional layer's carry bridges the forward carry and the backward direction's
    carry over each row reversed within its length: c = W·[c_f; c_b] + b, h = tanh(W·[h_f; h_b]
    + b), with the direction layers run on their own as the reference."""
    model, params = model_and_params(cell="lstm", bidirectional=True)
    (carry,), _ = encode(model, {"params": params}, pad(ROWS, 5))
    enc = params["encoder"]
    embedding = np.asarray(enc["embed"]["embedding"])
    x = embedding[np.asarray(pad(ROWS, 5))]
    x_reversed = embedding[np.asarray(pad([r[::-1] for r in ROWS], 5))]
    mask = np.arange(5)[None, :] < np.array([len(r) for r in ROWS])[:, None]
    zeros = (np.zeros((len(ROWS), H), np.float32),) * CARRY_SIZE["lstm"]
    run = jax.jit(lambda p, x: RecurrentLayer("lstm", H).apply({"params": p}, zeros, x, mask)[0])
    forward, backward = run(enc["layer_0"], x), run(enc["layer_0_backward"], x_reversed)
    # The directions differ, so a bridge that read one of them twice would fail.
    assert not np.allclose(forward[-1], backward[-1], atol=1e-3)
    for i, (f, b) in enumerate(zip(forward, backward, strict=True)):
        bridge = enc[f"bridge_0_{i}"]
        z = np.concatenate([f, b], axis=-1) @ np.asarray(bridge["kernel"]) + bridge["bias"]
        expected = np.tanh(z) if i == len(forward) - 1 else z  # Only h goes through tanh.
        np.testing.assert_allclose(carry[i], expected, atol=1e-5, rtol=1e-5)
