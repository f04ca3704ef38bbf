"""Tests for s2s_jax.losses: masking, label smoothing and summaries."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from s2s_jax.losses import masked_mean_loss, summarize
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
