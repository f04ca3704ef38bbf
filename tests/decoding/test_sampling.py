"""Sampling: seeded, inside the top k and the nucleus (checked by teacher forcing), greedy as
the temperature goes to 0, the right distribution, and greedy_decode's output contract."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from s2s_jax.decoding.greedy import greedy_decode
from s2s_jax.decoding.sampling import batch_key, filter_logits, sample_decode
from s2s_jax.model import ModelConfig, Seq2Seq
from s2s_jax.vocab import BOS_ID, EOS_ID, PAD_ID

V = 12
MAX_LEN = 10
# 8 sources of 1 to 5 real tokens, each 8 times: 64 rows, so that one call samples a lot.
SRC = jnp.asarray(
    np.tile(
        np.where(
            np.arange(5) < np.array([5, 2, 1, 5, 3, 4, 2, 5])[:, None],
            np.random.default_rng(0).integers(3, V, (8, 5)),
            PAD_ID,
        ),
        (8, 1),
    )
)
MODEL = Seq2Seq(ModelConfig(src_vocab_size=V, tgt_vocab_size=V, cell="gru", embed_size=8,
                            hidden_size=16))  # fmt: skip


@functools.cache
def _params(scale: float = 1.0, seed: int = 2) -> dict:
    """Normal params times `scale`: 1 gives peaked predictions, 0.3 flat ones."""
    shapes = jax.eval_shape(MODEL.init, jax.random.key(0), SRC, SRC)["params"]
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda s: jnp.asarray(scale * rng.normal(size=s.shape), s.dtype), shapes)


_SAMPLE = jax.jit(
    functools.partial(sample_decode, MODEL),
    static_argnames=("max_len", "temperature", "top_k", "top_p"),
)


def _sample(params, seed, temperature=1.0, top_k=0, top_p=1.0, src=SRC):
    tokens, lengths = _SAMPLE(params, src, jax.random.key(seed), max_len=MAX_LEN,
                              temperature=temperature, top_k=top_k, top_p=top_p)  # fmt: skip
    return np.asarray(tokens), np.asarray(lengths)


@jax.jit
def _teacher_forced_logits(params, src_BxS, tokens_BxL):
    """The logits of every step, with the sampled tokens as the decoder's inputs."""
    tgt_in_BxL = jnp.concatenate([jnp.full_like(tokens_BxL[:, :1], BOS_ID), tokens_BxL[:, :-1]], 1)
    return MODEL.apply({"params": params}, src_BxS, tgt_in_BxL)


def _emitted(tokens, lengths):
    """(row, step) of every emitted token: those before EOS and the EOS itself."""
    return [(b, t) for b, n in enumerate(lengths) for t in range(min(n + 1, MAX_LEN))]


def _masked(logits_V: np.ndarray) -> np.ndarray:
    """Logits with PAD and BOS at -inf (never predicted), in float64."""
    logits_V = np.asarray(logits_V, np.float64).copy()
    logits_V[[PAD_ID, BOS_ID]] = -np.inf
    return logits_V


def _in_top_k(logits_V: np.ndarray, token: int, k: int, tol: float = 1e-4) -> bool:
    logits_V = _masked(logits_V)
    return logits_V[token] >= np.sort(logits_V)[-k] - tol


def _nucleus(logits_V: np.ndarray, p: float, temperature: float) -> set[int]:
    """The smallest set of the most probable tokens whose probabilities sum to >= p."""
    logits_V = _masked(logits_V) / temperature
    probs_V = np.exp(logits_V - logits_V.max())
    probs_V /= probs_V.sum()
    order = np.argsort(-probs_V, kind="stable")
    size = int(np.searchsorted(np.cumsum(probs_V[order]), p)) + 1  # First sum >= p.
    return set(order[:size].tolist())


def _contract_holds(tokens: np.ndarray, lengths: np.ndarray) -> None:
    """Tokens before `length` are content (not PAD, BOS, EOS); then EOS, then only PAD."""
    for row, n in zip(tokens, lengths, strict=True):
        assert not np.isin(row[:n], [PAD_ID, BOS_ID, EOS_ID]).any()
        if n < len(row):
            assert row[n] == EOS_ID and (row[n + 1 :] == PAD_ID).all()


def test_the_same_seed_repeats_and_another_differs():
    """On flat predictions: seed 0 twice gives the same tokens, seed 1 others."""
    params = _params(scale=0.3)
    first, again, other = _sample(params, 0), _sample(params, 0), _sample(params, 1)
    np.testing.assert_array_equal(first[0], again[0])
    assert (first[0] != other[0]).any(axis=1).mean() > 0.5
    # The rows repeat sources 8 times, and each repeat is sampled on its own.
    assert len({tuple(row) for row in first[0][::8]}) > 1
    _contract_holds(*first)


def test_batch_key_follows_the_seed_and_the_batch():
    src = np.asarray(SRC)
    key = jax.random.key_data
    np.testing.assert_array_equal(key(batch_key(0, src)), key(batch_key(0, src.copy())))
    assert (key(batch_key(0, src)) != key(batch_key(1, src))).any()
    assert (key(batch_key(0, src)) != key(batch_key(0, src[::-1]))).any()
    assert (key(batch_key(0, src)) != key(batch_key(0, src[:, :4]))).any()


@pytest.mark.parametrize("k", [1, 3])
def test_top_k_never_leaves_the_k_best(k):
    """Every emitted token (EOS included) is among the k highest logits of its step, as
    teacher forcing on the sampled prefix computes them; without top-k, some are not."""
    params = _params(scale=0.3)

    def outside(top_k: int, seed: int) -> int:
        tokens, lengths = _sample(params, seed, top_k=top_k)
        logits = np.asarray(_teacher_forced_logits(params, SRC, jnp.asarray(tokens)))
        emitted = _emitted(tokens, lengths)
        assert len(emitted) > 100
        return sum(not _in_top_k(logits[b, t], tokens[b, t], k) for b, t in emitted)

    for seed in range(3):
        assert outside(k, seed) == 0
    assert outside(0, 0) > 10


@pytest.mark.parametrize(
    ("p", "temperature"), [pytest.param(0.5, 1.0, marks=pytest.mark.slow), (0.8, 0.7)]
)
def test_top_p_stays_in_the_nucleus(p, temperature):
    """Every emitted token is in the nucleus of its step's tempered distribution (computed in
    numpy from teacher-forced logits; at 0.7 the nucleus of the untempered one is larger);
    without top-p, some are not."""
    params = _params(scale=0.3)

    def outside(top_p: float, seed: int) -> int:
        tokens, lengths = _sample(params, seed, temperature, top_p=top_p)
        logits = np.asarray(_teacher_forced_logits(params, SRC, jnp.asarray(tokens)))
        return sum(
            tokens[b, t] not in _nucleus(logits[b, t], p + 1e-4, temperature)
            for b, t in _emitted(tokens, lengths)
        )

    for seed in range(3):
        assert outside(p, seed) == 0
    assert outside(1.0, 0) > 10


@pytest.mark.parametrize("seed", [0, 1])
def test_temperature_near_zero_is_greedy(seed):
    """At temperature 1e-6 the samples are greedy_decode's tokens (rows of every length)."""
    params = _params()
    greedy, greedy_lengths = jax.jit(greedy_decode, static_argnums=(0, 3))(
        MODEL, params, SRC, MAX_LEN
    )
    assert len(set(np.asarray(greedy_lengths).tolist())) >= 3
    tokens, lengths = _sample(params, seed, temperature=1e-6)
    np.testing.assert_array_equal(tokens, greedy)
    np.testing.assert_array_equal(lengths, greedy_lengths)
    # At temperature 1 the same params sample otherwise.
    assert (_sample(params, seed)[0] != np.asarray(greedy)).any()


def test_filter_logits_matches_numpy():
    """Temperature, then top-k, then top-p, against a numpy reference on random logits."""
    logits_BxV = np.random.default_rng(1).normal(size=(50, V)).astype(np.float32) * 2
    for temperature, k, p in [(1.0, 4, 1.0), (0.5, 0, 0.7), (2.0, 5, 0.6), (1.0, V, 0.99)]:
        got = np.asarray(filter_logits(jnp.asarray(logits_BxV), temperature, k, p))
        for row, out in zip(logits_BxV, got, strict=True):
            scaled = _masked(row) / temperature
            kept = np.isfinite(scaled)
            if k:
                kept &= scaled >= np.sort(scaled)[-k]
            if p < 1:
                in_nucleus = _nucleus(np.where(kept, row, -np.inf), p, temperature)
                kept &= np.isin(np.arange(V), list(in_nucleus))
            np.testing.assert_array_equal(np.isfinite(out), kept)
            np.testing.assert_allclose(out[kept], scaled[kept], rtol=1e-6)


class _FixedLogits:
    """A stand-in for Seq2Seq whose every step has the same logits."""

    def __init__(self, logits_V: np.ndarray):
        self.logits_V = jnp.asarray(logits_V, jnp.float32)

    def apply(self, variables, *args, method):
        if method is Seq2Seq.encode:
            return jnp.zeros((args[0].shape[0], 1))
        state, token_B = args
        return state, jnp.broadcast_to(self.logits_V, (token_B.shape[0], len(self.logits_V)))


def test_first_tokens_follow_the_filtered_distribution():
    """4,000 first tokens of logits [PAD, BOS, 0, 1, 2, 0.5] at temperature 2 with top-k 3:
    tokens 3, 4, 5 come with frequencies softmax([1, 2, 0.5] / 2), within 4 sigma."""
    logits = np.array([5.0, 5.0, 0.0, 1.0, 2.0, 0.5])  # PAD and BOS high: never drawn.
    decode = jax.jit(
        functools.partial(sample_decode, _FixedLogits(logits)),
        static_argnames=("max_len", "temperature", "top_k"),
    )
    n = 4000
    tokens, _ = decode(None, jnp.zeros((n, 1), jnp.int32), jax.random.key(0), max_len=1,
                       temperature=2.0, top_k=3)  # fmt: skip
    counts = np.bincount(np.asarray(tokens[:, 0]), minlength=6)
    expected = np.zeros(6)
    expected[[3, 4, 5]] = np.exp([0.5, 1.0, 0.25]) / np.exp([0.5, 1.0, 0.25]).sum()
    sigma = np.sqrt(n * expected * (1 - expected))
    assert counts[[0, 1, 2]].sum() == 0
    assert (np.abs(counts - n * expected) <= 4 * sigma + 1e-9).all(), counts
