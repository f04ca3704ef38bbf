"""Tests for s2s_jax.losses: masking, label smoothing and summaries."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from s2s_jax.losses import auto_chunk, chunked_loss, masked_mean_loss, summarize
from s2s_jax.vocab import PAD_ID

B, T, V = 3, 5, 7


def _batch(seed=0):
    """Random logits and targets with PAD at the ends of rows 1 and 2."""
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    logits = jax.random.normal(k1, (B, T, V)) * 3.0
    targets = np.array(jax.random.randint(k2, (B, T), 1, V))
    targets[1, 3:] = PAD_ID
    targets[2, 1:] = PAD_ID
    return logits, jnp.asarray(targets)


@pytest.mark.parametrize("alpha", [0.0, 0.1])
def test_pad_positions_are_ignored(alpha):
    """Changing logits at PAD targets changes neither the loss nor the metric sums."""
    logits, targets = _batch()
    loss, sums = masked_mean_loss(logits, targets, alpha)
    pad = (targets == PAD_ID)[..., None]
    noise = jax.random.normal(jax.random.PRNGKey(9), logits.shape) * 100.0
    loss2, sums2 = masked_mean_loss(jnp.where(pad, noise, logits), targets, alpha)
    assert float(loss2) == pytest.approx(float(loss), rel=1e-6)
    for key in sums:
        assert float(sums2[key]) == pytest.approx(float(sums[key]), rel=1e-6)
    assert int(sums["tokens"]) == int((targets != PAD_ID).sum()) == 5 + 3 + 1
    # The same noise at a real position does change the loss.
    loss3, _ = masked_mean_loss(jnp.where(~pad, noise, logits), targets, alpha)
    assert abs(float(loss3) - float(loss)) > 1e-3


@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.3])
def test_label_smoothed_loss_matches_optax(alpha):
    """The loss is optax's CE against smooth_labels(one_hot), averaged over real tokens."""
    logits, targets = _batch(seed=1)
    loss, sums = masked_mean_loss(logits, targets, alpha)
    labels = optax.smooth_labels(jax.nn.one_hot(targets, V), alpha)
    ce = optax.softmax_cross_entropy(logits, labels)
    mask = targets != PAD_ID
    expected = float((ce * mask).sum() / mask.sum())
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    # nll_sum stays the unsmoothed NLL whatever alpha is.
    nll = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
    assert float(sums["nll_sum"]) == pytest.approx(float((nll * mask).sum()), rel=1e-5)


def test_correct_tokens_counts_argmax_hits_on_real_tokens():
    """correct_tokens counts real positions where argmax equals the target."""
    targets = jnp.array([[4, 5, PAD_ID]])
    logits = jax.nn.one_hot(jnp.array([[4, 6, PAD_ID]]), V) * 10.0  # Right, wrong, PAD.
    _, sums = masked_mean_loss(logits, targets, 0.0)
    assert int(sums["correct_tokens"]) == 1
    assert int(sums["tokens"]) == 2


def test_summarize_perplexity_is_exp_loss():
    """summarize: loss = nll_sum / tokens, perplexity = exp(loss), token accuracy."""
    logits, targets = _batch(seed=2)
    _, sums = masked_mean_loss(logits, targets, 0.0)
    out = summarize({k: float(v) for k, v in sums.items()})
    assert out["loss"] == pytest.approx(float(sums["nll_sum"]) / float(sums["tokens"]))
    assert out["perplexity"] == pytest.approx(np.exp(out["loss"]), rel=1e-9)
    assert out["token_accuracy"] == pytest.approx(
        float(sums["correct_tokens"]) / float(sums["tokens"])
    )
    manual = summarize({"nll_sum": 6.0, "tokens": 4, "correct_tokens": 3})
    assert manual == pytest.approx({"loss": 1.5, "perplexity": np.exp(1.5), "token_accuracy": 0.75})


# Every chunk size: one step, chunks that leave T=5 padded (2, 4), one chunk; each smoothing.
@pytest.mark.parametrize(("chunk", "alpha"), [(1, 0.0), (2, 0.1), (4, 0.0), (5, 0.1)])
def test_chunked_loss_equals_the_whole_loss_with_its_gradients(chunk, alpha):
    """Chunking over time (T=5 does not divide by 2 or 4: padded) changes neither the loss,
    the metric sums, nor the gradients: of the output layer's weights, of the parameters
    that reach the loss only through the features, and of the inputs. The loss is scaled
    after the fact (x 3), so the custom VJP's cotangent is not 1."""
    _, targets = _batch(seed=3)
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(4), 3)
    x = jax.random.normal(k1, (B, T, 6))
    params = {"encoder": {"a": jax.random.normal(k3, (6,))},
              "head": {"w": jax.random.normal(k2, (6, V))}}  # fmt: skip

    def project(params, f):
        return f @ params["head"]["w"]

    def whole(params, x):
        loss, sums = masked_mean_loss(project(params, x * params["encoder"]["a"]), targets, alpha)
        return 3 * loss, sums

    def chunked(params, x):
        features = x * params["encoder"]["a"]
        loss, sums = chunked_loss(project, params, features, targets, alpha, chunk, ("head",))
        return 3 * loss, sums

    def value_and_grads(loss):
        return jax.jit(jax.value_and_grad(loss, (0, 1), has_aux=True))(params, x)

    (ref, ref_sums), ref_grads = value_and_grads(whole)
    (got, sums), grads = value_and_grads(chunked)
    assert float(got) == pytest.approx(float(ref), rel=1e-6)
    assert set(sums) == set(ref_sums)
    for key in sums:
        assert float(sums[key]) == pytest.approx(float(ref_sums[key]), rel=1e-6)
    assert jax.tree.structure(grads) == jax.tree.structure(ref_grads)
    for g, r in zip(jax.tree.leaves(grads), jax.tree.leaves(ref_grads), strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6)


def test_chunked_loss_never_holds_all_logits():
    """XLA's buffer plan for the gradient step: the whole loss holds [B, T, V] logits
    several times over; with 8 chunks the temporaries shrink by more than 4x, below the
    size of one set of logits."""
    b, t, f, v = 8, 64, 16, 2000
    targets = jnp.ones((b, t), jnp.int32)
    features, w = jnp.ones((b, t, f)), jnp.ones((f, v))

    def temp_bytes(loss):
        grad = jax.jit(jax.grad(lambda x, w: loss(x, w)[0], (0, 1)))
        return grad.lower(features, w).compile().memory_analysis().temp_size_in_bytes

    def project(params, c):
        return c @ params["w"]

    whole = temp_bytes(lambda x, w: masked_mean_loss(x @ w, targets, 0.0))
    chunked = temp_bytes(
        lambda x, w: chunked_loss(project, {"w": w}, x, targets, 0.0, 8, ("w",))[:2]
    )
    logits_bytes = b * t * v * 4
    assert whole >= 2 * logits_bytes, whole
    assert chunked < logits_bytes and chunked < whole / 4, (chunked, whole)


def test_auto_chunk_keeps_a_chunks_logits_within_32_mib():
    """Hand-worked with V = 8000 (a row of one step's logits: B·32,000 bytes): 128 x 64 is
    262 MB of logits, so chunks of 33,554,432 // 4,096,000 = 8 steps; 64 x 32 (65.5 MB) gets
    16; 16 x 64 (32.8 MB) and 64 x 16 fit whole; a row too big for the budget gets 1."""
    assert auto_chunk(128, 64, 8000) == 8
    assert auto_chunk(64, 32, 8000) == 16
    assert auto_chunk(16, 64, 8000) == auto_chunk(64, 16, 8000) == 0
    assert auto_chunk(2048, 64, 8000) == 1
