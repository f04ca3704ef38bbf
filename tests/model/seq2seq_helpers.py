"""Helpers of the encoder, decoder and Seq2Seq tests: a tiny model with random params, padded
sources, and the model's methods jitted once for the whole session.

The jitted functions take the model as a static argument: models of equal configs are equal,
so every test (in any of these files) that uses a config and input shape already compiled
reuses that compilation instead of building its own.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from s2s_jax.model import ModelConfig, Seq2Seq
from s2s_jax.vocab import PAD_ID

V, H = 11, 16
ROWS = [[4, 5, 6, 7, 8], [9, 4, 10], [5]]  # Source rows of different lengths, no PAD.
TGT_IN = jnp.array([[1, 4, 5, 6], [1, 7, 8, 9], [1, 10, 4, 2]])


def pad(rows: list[list[int]], length: int) -> jax.Array:
    return jnp.array([r + [PAD_ID] * (length - len(r)) for r in rows])


@functools.cache
def model_and_params(seed: int = 0, **overrides) -> tuple[Seq2Seq, dict]:
    """A tiny Seq2Seq and random non-zero params (biases and learned h0 included).

    Cached: tests share one params tree per config (they never change it in place)."""
    cfg = ModelConfig(src_vocab_size=V, tgt_vocab_size=V, embed_size=8, hidden_size=H, **overrides)
    model = Seq2Seq(cfg)
    # The shapes of `model.init`'s params, filled with random values (faster than init).
    shapes = jax.eval_shape(model.init, jax.random.key(0), pad(ROWS, 5), TGT_IN)["params"]
    rng = np.random.default_rng(seed)
    params = jax.tree.map(lambda s: jnp.asarray(0.3 * rng.normal(size=s.shape), s.dtype), shapes)
    return model, params


@functools.partial(jax.jit, static_argnums=0)
def encode(model: Seq2Seq, variables: dict, src_BxS: jax.Array):
    """Seq2Seq.encode: the decoder's initial state (carries, context)."""
    return model.apply(variables, src_BxS, method=Seq2Seq.encode)


@functools.partial(jax.jit, static_argnums=0)
def decode_step(model: Seq2Seq, variables: dict, state, token_B: jax.Array):
    return model.apply(variables, state, token_B, method=Seq2Seq.decode_step)


@functools.partial(jax.jit, static_argnums=0)
def teacher_forced(model: Seq2Seq, variables: dict, src_BxS: jax.Array, tgt_in_BxT: jax.Array):
    """Seq2Seq.__call__: logits_BxTxV."""
    return model.apply(variables, src_BxS, tgt_in_BxT)


def assert_trees_close(a, b, atol: float = 1e-6) -> None:
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(x, y, atol=atol, rtol=0)
