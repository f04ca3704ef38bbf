"""Beam search: greedy at K=1, exhaustive search on a tiny vocabulary, at least greedy's score,
early exit that changes nothing, greedy_decode's output contract, and the n best."""

import functools
import itertools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import StepCounter, tiny_config

from s2s_jax import experiment
from s2s_jax.decoding.beam_search import beam_search, beam_search_n_best, length_penalty_factor
from s2s_jax.decoding.greedy import greedy_decode
from s2s_jax.model import ModelConfig, Seq2Seq
from s2s_jax.vocab import BOS_ID, EOS_ID, PAD_ID

SRC_VOCAB = 8
# The longest output of the tests on `_model`'s params (long enough for rows with no EOS and
# for early exits), one value so that the tests share compilations.
MAX_LEN = 12
# Eight sources of 1 to 5 real tokens, PAD after them.
SRC = jnp.asarray(
    np.where(
        np.arange(5) < np.array([5, 2, 1, 5, 3, 4, 2, 5])[:, None],
        np.random.default_rng(0).integers(3, SRC_VOCAB, (8, 5)),
        PAD_ID,
    )
)


@functools.cache
def _model(
    tgt_vocab: int = 8, seed: int = 2, cell: str = "gru", num_layers: int = 1
) -> tuple[Seq2Seq, dict]:
    """A tiny Seq2Seq (hidden 16) with standard-normal params, which give peaked predictions.

    Cached: tests share one params tree per config and seed (they never change it in place)."""
    cfg = ModelConfig(
        src_vocab_size=SRC_VOCAB,
        tgt_vocab_size=tgt_vocab,
        cell=cell,
        embed_size=8,
        hidden_size=16,
        num_layers=num_layers,
    )
    model = Seq2Seq(cfg)
    shapes = jax.eval_shape(model.init, jax.random.key(0), SRC, SRC)["params"]
    leaves, tree = jax.tree.flatten(shapes)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    params = [jax.random.normal(k, s.shape, s.dtype) for k, s in zip(keys, leaves, strict=True)]
    return model, jax.tree.unflatten(tree, params)


@functools.cache
def _search(model) -> tuple[Callable, StepCounter]:
    """beam_search jitted once per model (equal configs give equal models), with its step
    counter: calls with new params or alpha (same shapes) reuse the compilation."""
    counted = StepCounter(model)
    search = jax.jit(
        functools.partial(beam_search, counted),
        static_argnames=("max_len", "beam_size", "early_exit"),
    )
    return search, counted


def _beam(model, params, max_len, beam_size, alpha, early_exit=True, src=SRC):
    """Jitted beam_search; returns numpy tokens, lengths and the number of decode steps run."""
    search, counted = _search(model)
    counted.steps = 0
    tokens, lengths = search(
        params,
        src,
        max_len=max_len,
        beam_size=beam_size,
        length_penalty=alpha,
        early_exit=early_exit,
    )
    jax.effects_barrier()
    return np.asarray(tokens), np.asarray(lengths), counted.steps


_GREEDY = jax.jit(greedy_decode, static_argnums=(0, 3))


def _greedy(model, params, max_len):
    tokens, lengths = _GREEDY(model, params, SRC, max_len)
    return np.asarray(tokens), np.asarray(lengths)


@functools.partial(jax.jit, static_argnums=0)
def _encode(model, variables, src_BxS):
    return model.apply(variables, src_BxS, method=Seq2Seq.encode)


@functools.partial(jax.jit, static_argnums=0)
def _decode_step(model, variables, state, token_B):
    return model.apply(variables, state, token_B, method=Seq2Seq.decode_step)


def _scores(model, params, src_BxS, tokens_BxL, alpha):
    """Each row's score from decode_step: summed log-probs up to its first EOS (or L tokens),
    divided by the length penalty of that many tokens, EOS included."""
    variables = {"params": params}
    state = _encode(model, variables, src_BxS)
    tokens_BxL = np.asarray(tokens_BxL)
    previous = np.full(len(tokens_BxL), BOS_ID)
    total, ended = np.zeros(len(tokens_BxL)), np.zeros(len(tokens_BxL), bool)
    for t in range(tokens_BxL.shape[1]):
        state, logits = _decode_step(model, variables, state, jnp.asarray(previous))
        log_probs = np.asarray(jax.nn.log_softmax(logits), np.float64)
        total += np.where(ended, 0.0, log_probs[np.arange(len(total)), tokens_BxL[:, t]])
        ended |= tokens_BxL[:, t] == EOS_ID
        previous = tokens_BxL[:, t]
    num_tokens = np.where(ended, np.argmax(tokens_BxL == EOS_ID, axis=1) + 1, tokens_BxL.shape[1])
    return total / np.asarray(length_penalty_factor(num_tokens, alpha))


@pytest.mark.parametrize(
    ("cell", "num_layers", "seed"),
    [pytest.param(*case, marks=pytest.mark.slow) for case in (("gru", 1, 0), ("lstm", 2, 1))],
)
def test_beam_of_one_is_greedy(cell, num_layers, seed):
    """K=1 without a length penalty gives greedy_decode's tokens and lengths, rows with and
    without EOS alike (multi-layer LSTM carries included)."""
    model, params = _model(cell=cell, num_layers=num_layers, seed=seed)
    greedy_tokens, greedy_lengths = _greedy(model, params, max_len=MAX_LEN)
    tokens, lengths, _ = _beam(model, params, max_len=MAX_LEN, beam_size=1, alpha=0.0)
    # The params give a mix of EOS positions, including rows with none.
    assert len(set(greedy_lengths)) >= 3 and MAX_LEN in greedy_lengths
    np.testing.assert_array_equal(tokens, greedy_tokens)
    np.testing.assert_array_equal(lengths, greedy_lengths)


def test_finds_the_exhaustive_best():
    """With K = V**L on a 5-token vocabulary and L=4, beam search returns the best of all
    sequences ending in EOS (scored by decode_step), with and without a length penalty."""
    V, L = 5, 4
    model, params = _model(tgt_vocab=V, seed=3)
    content = [i for i in range(V) if i not in (PAD_ID, BOS_ID, EOS_ID)]
    candidates = [
        [*prefix, EOS_ID] + [PAD_ID] * (L - 1 - n)
        for n in range(L)
        for prefix in itertools.product(content, repeat=n)
    ]
    N = len(candidates)
    src = jnp.repeat(SRC, N, axis=0)
    expected = {}
    for alpha in (0.0, 2.0):
        scores_BxN = _scores(model, params, src, np.tile(candidates, (len(SRC), 1)), alpha)
        expected[alpha] = np.asarray(candidates)[scores_BxN.reshape(len(SRC), N).argmax(axis=1)]
        tokens, _, _ = _beam(model, params, max_len=L, beam_size=V**L, alpha=alpha)
        np.testing.assert_array_equal(tokens, expected[alpha])
    # The length penalty changes the best hypothesis of some rows: both paths are tested.
    assert (expected[0.0] != expected[2.0]).any(axis=1).any()


@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_scores_at_least_greedy(alpha):
    """On random params, K=4's hypothesis scores no lower than greedy's (where greedy ended
    in EOS), and higher on some rows."""
    model, params = _model()
    max_len = MAX_LEN
    greedy_tokens, greedy_lengths = _greedy(model, params, max_len)
    tokens, lengths, _ = _beam(model, params, max_len, beam_size=4, alpha=alpha)
    finished = greedy_lengths < max_len
    assert finished.sum() >= 5 and (lengths[finished] < max_len).all()
    beam_scores = _scores(model, params, SRC, tokens, alpha)[finished]
    greedy_scores = _scores(model, params, SRC, greedy_tokens, alpha)[finished]
    assert (beam_scores >= greedy_scores - 1e-5).all()
    assert (beam_scores > greedy_scores + 1e-3).any()


@pytest.mark.parametrize(
    ("beam_size", "alpha"),
    [(1, 0.0), (3, 0.0), (3, 0.6), pytest.param(6, 1.0, marks=pytest.mark.slow)],
)
def test_early_exit_changes_nothing(beam_size, alpha):
    """Early exit gives the tokens of a full max_len run, in fewer steps."""
    model, params = _model()
    max_len = MAX_LEN
    early = _beam(model, params, max_len, beam_size, alpha, early_exit=True)
    full = _beam(model, params, max_len, beam_size, alpha, early_exit=False)
    np.testing.assert_array_equal(early[0], full[0])
    np.testing.assert_array_equal(early[1], full[1])
    assert full[2] == max_len
    assert early[2] < max_len


class _StandIn:
    """Anything with Seq2Seq's `apply`; hashed by identity, so `_search` can cache it."""

    def __init__(self, apply: Callable):
        self.apply = apply


def _bigram(next_token_probs: dict[int, dict[int, float]], vocab: int = 6):
    """A stand-in for Seq2Seq whose next-token distribution depends on the previous token only
    (the rest of each row's probability is spread evenly)."""
    probs_VxV = np.zeros((vocab, vocab))
    for previous, probs in next_token_probs.items():
        probs_VxV[previous] = (1 - sum(probs.values())) / (vocab - len(probs))
        probs_VxV[previous, list(probs)] = list(probs.values())
    logits_VxV = jnp.log(jnp.asarray(probs_VxV, jnp.float32))

    def apply(variables, *args, method):
        if method is Seq2Seq.encode:
            return ((jnp.zeros((args[0].shape[0], 1)),),)
        state, token_B = args
        return state, logits_VxV[token_B]

    return _StandIn(apply)


def test_early_exit_waits_for_a_longer_winner():
    """EOS first scores log 0.6 = -0.51; "4 5 EOS" scores log(0.38 * 0.98 * 0.98) = -1.01, but
    with alpha=3 its penalty, (8/6)**3, makes it -0.43: the winner. After step 1 the alive "4"
    (-0.97) cannot beat "EOS" at its next length (-0.97 / (7/6)**3 = -0.61) but can at a later
    one, so the search must go on."""
    model = _bigram({BOS_ID: {EOS_ID: 0.6, 4: 0.38}, 4: {5: 0.98}, 5: {EOS_ID: 0.98}})
    for early_exit in (True, False):
        tokens, lengths, _ = _beam(model, None, 6, beam_size=1, alpha=3.0, early_exit=early_exit)
        np.testing.assert_array_equal(tokens, [[4, 5, EOS_ID, PAD_ID, PAD_ID, PAD_ID]] * len(SRC))
        np.testing.assert_array_equal(lengths, 2)
    # Without the penalty, EOS first wins.
    tokens, _, _ = _beam(model, None, 6, beam_size=1, alpha=0.0)
    np.testing.assert_array_equal(tokens[:, 0], EOS_ID)


def _contract_holds(tokens: np.ndarray, lengths: np.ndarray) -> None:
    """Tokens before `length` are content (not PAD, BOS, EOS); then EOS, then only PAD."""
    for row, n in zip(tokens, lengths, strict=True):
        assert not np.isin(row[:n], [PAD_ID, BOS_ID, EOS_ID]).any()
        if n < len(row):
            assert row[n] == EOS_ID and (row[n + 1 :] == PAD_ID).all()


def _biased(params: dict, bias: dict[int, float]) -> dict:
    """Params whose output bias is `bias` (token -> value; 0 for the others)."""
    decoder = params["decoder"]
    new_bias = jnp.zeros_like(decoder["logits"]["bias"])
    for token, value in bias.items():
        new_bias = new_bias.at[token].set(value)
    return {**params, "decoder": {**decoder, "logits": {**decoder["logits"], "bias": new_bias}}}


@pytest.mark.parametrize("beam_size", [3, 5])
def test_output_contract(beam_size):
    """Random params: PAD only after EOS and lengths right. EOS always winning gives
    [EOS, PAD, ...] with length 0; EOS never winning gives the best alive hypothesis, length L."""
    model, params = _model()
    tokens, lengths, _ = _beam(model, params, MAX_LEN, beam_size, alpha=0.6)
    assert tokens.shape == (len(SRC), MAX_LEN) and lengths.shape == (len(SRC),)
    assert len(set(lengths)) >= 3
    _contract_holds(tokens, lengths)

    tokens, lengths, _ = _beam(model, _biased(params, {EOS_ID: 1e4}), MAX_LEN, beam_size, alpha=0.6)
    expected = np.full((len(SRC), MAX_LEN), PAD_ID)
    expected[:, 0] = EOS_ID
    np.testing.assert_array_equal(tokens, expected)
    np.testing.assert_array_equal(lengths, 0)

    # EOS far below the other tokens never makes a beam's top K: nothing finishes.
    never_eos = _biased(params, {5: 1e4, EOS_ID: -1e4})
    tokens, lengths, _ = _beam(model, never_eos, MAX_LEN, beam_size, alpha=0.6)
    np.testing.assert_array_equal(tokens, 5)
    np.testing.assert_array_equal(lengths, MAX_LEN)


_N_BEST = jax.jit(beam_search_n_best, static_argnums=(0, 3, 4, 6))


def _teacher_forced_scores(model, params, tokens_BxNxL, alpha):
    """log p of each hypothesis from one teacher-forced pass of the model (not decode_step),
    up to its first EOS (or all L tokens), over the GNMT penalty of that many tokens."""
    B, N, L = tokens_BxNxL.shape
    tgt_BNxL = jnp.asarray(tokens_BxNxL.reshape(B * N, L))
    tgt_in_BNxL = jnp.concatenate([jnp.full((B * N, 1), BOS_ID), tgt_BNxL[:, :-1]], axis=1)
    logits = model.apply({"params": params}, jnp.repeat(SRC, N, axis=0), tgt_in_BNxL)
    log_probs = np.asarray(jax.nn.log_softmax(logits), np.float64)
    tokens = tokens_BxNxL.reshape(B * N, L)
    picked = np.take_along_axis(log_probs, tokens[:, :, None], axis=2)[:, :, 0]
    is_eos = tokens == EOS_ID
    num_tokens = np.where(is_eos.any(axis=1), is_eos.argmax(axis=1) + 1, L)
    log_p = np.where(np.arange(L) < num_tokens[:, None], picked, 0.0).sum(axis=1)
    penalty = (5.0 + num_tokens) / 6.0  # GNMT's, written out again.
    return (log_p / penalty**alpha).reshape(B, N)


@pytest.mark.parametrize(
    ("beam_size", "n_best", "alpha"), [(4, 3, 0.6), pytest.param(5, 5, 0.0, marks=pytest.mark.slow)]
)
def test_n_best_are_ranked_and_scored(beam_size, n_best, alpha):
    """The n best per sentence: distinct, finished, sorted by score, the first beam_search's
    hypothesis, each score log p (teacher forced) over the length penalty."""
    model, params = _model()
    tokens, lengths, scores = map(
        np.asarray, _N_BEST(model, params, SRC, MAX_LEN, beam_size, alpha, n_best)
    )
    assert tokens.shape == (len(SRC), n_best, MAX_LEN) and scores.shape == (len(SRC), n_best)
    assert (lengths < MAX_LEN).all()  # All finished: the ranked part.
    assert (np.diff(scores, axis=1) <= 0).all()
    for rows in tokens:
        assert len({tuple(row) for row in rows}) == n_best
    best, best_lengths, _ = _beam(model, params, MAX_LEN, beam_size, alpha)
    np.testing.assert_array_equal(tokens[:, 0], best)
    np.testing.assert_array_equal(lengths[:, 0], best_lengths)
    expected = _teacher_forced_scores(model, params, tokens, alpha)
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-4)
    _contract_holds(tokens.reshape(-1, MAX_LEN), lengths.reshape(-1))


def test_n_best_without_eos_are_the_best_alive():
    """When EOS never wins, the n best are the alive hypotheses of L tokens, sorted, scored by
    log p over the penalty of L tokens; the first is beam_search's."""
    model, params = _model()
    never_eos = _biased(params, {EOS_ID: -1e4})
    tokens, lengths, scores = map(np.asarray, _N_BEST(model, never_eos, SRC, MAX_LEN, 4, 0.6, 3))
    np.testing.assert_array_equal(lengths, MAX_LEN)
    assert (np.diff(scores, axis=1) <= 0).all() and np.isfinite(scores).all()
    np.testing.assert_array_equal(tokens[:, 0], _beam(model, never_eos, MAX_LEN, 4, 0.6)[0])
    expected = _teacher_forced_scores(model, never_eos, tokens, 0.6)
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-4)


def test_n_best_above_the_beam_is_refused():
    model, params = _model()
    with pytest.raises(ValueError, match=r"n_best=3 must be in \[1, beam_size=2\]"):
        beam_search_n_best(model, params, SRC, MAX_LEN, 2, 0.6, 3)


@pytest.fixture(scope="module")
def experiment_decode_setup(tmp_path_factory):
    """The eval config of the tests' experiments (apart from eval.beam_size), random params of
    their model, an eval batch, and the greedy and beam search (K=3) decodings it must match
    (computed once for both beam sizes)."""
    config = tiny_config(eval__beam_size=1, eval__length_penalty=0.6)
    exp = experiment.build(config, str(tmp_path_factory.mktemp("greedy")))
    # Random params in the model's shapes (standard normal, for peaked predictions): the
    # decoders' agreement does not depend on trained or initial values.
    rng = np.random.default_rng(0)
    params = jax.tree.map(
        lambda s: jnp.asarray(rng.normal(size=s.shape), s.dtype), exp.abstract_state.params
    )
    src = exp.data.eval_batches(exp.data.eval_sets()["eval"])[0]["src_BxS"]
    max_len = exp.data.max_decode_len
    greedy_tokens, _ = _GREEDY(exp.model, params, jnp.asarray(src), max_len)
    beam_tokens, _ = jax.jit(beam_search, static_argnums=(0, 3, 4))(
        exp.model, params, jnp.asarray(src), max_len, 3, 0.6
    )
    expected = {1: np.asarray(greedy_tokens), 3: np.asarray(beam_tokens)}
    assert (expected[1] != expected[3]).any()
    return config, exp, params, src, expected


@pytest.mark.parametrize("beam_size", [1, 3])
def test_experiment_decode_follows_the_config(experiment_decode_setup, tmp_path, beam_size):
    """experiment.build's jitted decode, sharded over 8 devices, is greedy_decode at
    eval.decode='greedy' and beam_search with eval.beam_size and eval.length_penalty at
    'beam' (which differ here); both ignore the rng."""
    config, exp, params, src, expected = experiment_decode_setup
    if beam_size != 1:
        config = config.copy_and_resolve_references()
        config.eval.decode, config.eval.beam_size = "beam", beam_size
        exp = experiment.build(config, str(tmp_path))
    assert exp.config.eval.beam_size == beam_size
    for seed in (0, 1):
        tokens, lengths = jax.device_get(
            exp.decode(params, exp.put_batch(src), jax.random.key(seed))
        )
        np.testing.assert_array_equal(tokens, expected[beam_size])
        _contract_holds(tokens, lengths)
