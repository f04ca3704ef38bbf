"""The encoder–decoder: padding, source reversal, learned initial state, and the decoder step."""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from s2s_jax.model import ModelConfig, Seq2Seq
from s2s_jax.model.encoder import reverse_padded
from s2s_jax.model.recurrent import CARRY_SIZE, CELLS
from s2s_jax.vocab import PAD_ID

V, H = 11, 16
ROWS = [[4, 5, 6, 7, 8], [9, 4, 10], [5]]  # Source rows of different lengths, no PAD.
TGT_IN = jnp.array([[1, 4, 5, 6], [1, 7, 8, 9], [1, 10, 4, 2]])


def _pad(rows: list[list[int]], length: int) -> jax.Array:
    return jnp.array([r + [PAD_ID] * (length - len(r)) for r in rows])


def _model(seed: int = 0, **overrides) -> tuple[Seq2Seq, dict]:
    """A tiny Seq2Seq and random non-zero params (biases and learned h0 included)."""
    cfg = ModelConfig(src_vocab_size=V, tgt_vocab_size=V, embed_size=8, hidden_size=H, **overrides)
    model = Seq2Seq(cfg)
    # The shapes of `model.init`'s params, filled with random values (faster than init).
    shapes = jax.eval_shape(model.init, jax.random.key(0), _pad(ROWS, 5), TGT_IN)["params"]
    rng = np.random.default_rng(seed)
    params = jax.tree.map(lambda s: jnp.asarray(0.3 * rng.normal(size=s.shape), s.dtype), shapes)
    return model, params


def _encoder(model: Seq2Seq, carries_only: bool = True):
    """Jitted Seq2Seq.encode: (variables, src) -> carries, or the whole decoder state.
    Jit compiles faster than op by op."""
    encode = functools.partial(model.apply, method=Seq2Seq.encode)
    return jax.jit(lambda v, src: encode(v, src)[0]) if carries_only else jax.jit(encode)


def _assert_trees_close(a, b, atol: float = 1e-6) -> None:
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(x, y, atol=atol, rtol=0)


@pytest.mark.parametrize(
    "cell,bidirectional,reverse_source",
    list(itertools.product(CELLS, [False, True], [False, True])),
)
def test_padding_does_not_change_encoding(cell: str, bidirectional: bool, reverse_source: bool):
    """Extra PAD at the end of a batch of rows of different lengths leaves the carries unchanged."""
    model, params = _model(
        cell=cell, num_layers=2, bidirectional=bidirectional, reverse_source=reverse_source
    )
    encode = _encoder(model)
    carries = encode({"params": params}, _pad(ROWS, 5))
    carries_padded = encode({"params": params}, _pad(ROWS, 9))
    _assert_trees_close(carries, carries_padded)
    # The rows really differ, so equal carries are not a coincidence.
    assert not np.allclose(carries[-1][-1][0], carries[-1][-1][1], atol=1e-3)


def test_padding_does_not_change_logits():
    """Seq2Seq.__call__ gives the same logits for a source with and without extra PAD."""
    model, params = _model(
        cell="lstm", num_layers=2, bidirectional=True, reverse_source=True, init_state="learned"
    )
    apply = jax.jit(model.apply)
    logits = apply({"params": params}, _pad(ROWS, 5), TGT_IN)
    logits_padded = apply({"params": params}, _pad(ROWS, 9), TGT_IN)
    np.testing.assert_allclose(logits, logits_padded, atol=1e-6, rtol=0)
    assert not np.allclose(logits[0], logits[1], atol=1e-3)


def test_reverse_padded_reverses_within_length():
    """reverse_padded reverses each row's first `length` entries and leaves the rest in place."""
    x = jnp.array([[1, 2, 3, 9], [4, 5, 8, 7], [6, 0, 0, 0]])
    lengths = jnp.array([3, 2, 4])
    expected = np.array([[3, 2, 1, 9], [5, 4, 8, 7], [0, 0, 0, 6]])
    np.testing.assert_array_equal(reverse_padded(x, lengths), expected)

    x_BxSxD = jnp.stack([x, 10 * x], axis=-1)
    expected_BxSxD = np.stack([expected, 10 * expected], axis=-1)
    np.testing.assert_array_equal(reverse_padded(x_BxSxD, lengths), expected_BxSxD)


def test_learned_initial_state():
    """'learned' adds h0 params per layer and direction that feed the encoder; 'zeros' adds none."""
    kwargs = {"cell": "lstm", "num_layers": 2, "bidirectional": True}
    model, params = _model(init_state="learned", **kwargs)
    enc = params["encoder"]
    names = {"h0_0", "h0_1", "h0_0_backward", "h0_1_backward"}
    assert names <= set(enc)
    for name in names:
        assert enc[name].shape == (CARRY_SIZE["lstm"], H)

    zeros_model, zeros_params = _model(init_state="zeros", **kwargs)
    assert not any(k.startswith("h0") for k in zeros_params["encoder"])

    src = _pad(ROWS, 6)
    encode = _encoder(model)
    with_h0 = encode({"params": params}, src)
    zero_h0 = {**enc, **{n: jnp.zeros_like(enc[n]) for n in names}}
    without_h0 = encode({"params": {**params, "encoder": zero_h0}}, src)
    assert not np.allclose(with_h0[0][-1], without_h0[0][-1], atol=1e-3)

    # With h0 = 0, 'learned' computes exactly what 'zeros' does with the same other params.
    other = {k: v for k, v in zero_h0.items() if k not in names}
    from_zeros = _encoder(zeros_model)({"params": {**params, "encoder": other}}, src)
    _assert_trees_close(without_h0, from_zeros)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_reverse_source_equals_manually_reversed_source(bidirectional: bool):
    """reverse_source=True encodes like reverse_source=False on rows reversed by hand."""
    model_rev, params = _model(cell="gru", bidirectional=bidirectional, reverse_source=True)
    model_fwd, _ = _model(cell="gru", bidirectional=bidirectional, reverse_source=False)
    encode_fwd = _encoder(model_fwd)
    got = _encoder(model_rev)({"params": params}, _pad(ROWS, 6))
    expected = encode_fwd({"params": params}, _pad([r[::-1] for r in ROWS], 6))
    _assert_trees_close(got, expected)
    unreversed = encode_fwd({"params": params}, _pad(ROWS, 6))
    assert not np.allclose(got[0][-1], unreversed[0][-1], atol=1e-3)


@pytest.mark.parametrize(
    "cell,decoder,backend",
    [(cell, "basic", "scan") for cell in CELLS]
    + [("lstm", "context", "scan"), ("gru", "context", "scan")]
    # The fused backend runs a single step as one [x; h] matmul (LSTM and RNN).
    + [(cell, "basic", "fused") for cell in CELLS]
    + [("lstm", "context", "fused")],
)
def test_teacher_forcing_equals_step_by_step_decoding(cell: str, decoder: str, backend: str):
    """2 layers give 2 carries; __call__ (teacher forcing) matches decode_step run step by step."""
    model, params = _model(cell=cell, num_layers=2, decoder=decoder, backend=backend)
    variables = {"params": params}
    src = _pad(ROWS, 5)
    state = _encoder(model, carries_only=False)(variables, src)
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

    decode_step = jax.jit(functools.partial(model.apply, method=Seq2Seq.decode_step))
    step_logits = []
    for t in range(TGT_IN.shape[1]):
        state, logits_BxV = decode_step(variables, state, TGT_IN[:, t])
        step_logits.append(logits_BxV)
    logits = jax.jit(model.apply)(variables, src, TGT_IN)
    np.testing.assert_allclose(logits, jnp.stack(step_logits, axis=1), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("decoder", ["basic", "context"])
def test_context_decoder_reads_the_source_at_every_step(decoder: str):
    """With the carries zeroed, only the 'context' decoder still sees which source it had:
    its context vector is an input of every step and of the output layer."""
    model, params = _model(cell="gru", decoder=decoder)
    variables = {"params": params}
    states = [_encoder(model, carries_only=False)(variables, _pad([row], 5)) for row in ROWS[:2]]
    zeroed = [(jax.tree.map(jnp.zeros_like, carries), context) for carries, context in states]
    decode_step = jax.jit(functools.partial(model.apply, method=Seq2Seq.decode_step))
    logits = [decode_step(variables, state, jnp.array([1]))[1] for state in zeroed]
    differ = not np.allclose(logits[0], logits[1], atol=1e-4)
    assert differ == (decoder == "context")
