"""Learned tasks, trained end to end by s2s_jax.train.train_and_evaluate (slow): held-out
accuracy is what they assert. Apart from tests/test_train.py so that the two share the
machine's cores (pytest-xdist hands out whole files)."""

import pytest

from s2s_jax import train


@pytest.mark.slow
def test_learns_reverse(make_config, tmp_path):
    """A hidden-32 LSTM learns `reverse` (length 2-6, 6 symbols) to >= 99% held-out exact match."""
    # min_len=2: with 6 symbols all six length-1 sources land in the 200-example eval split,
    # so the train stream never shows a length-1 source and exact match stalls near 97%.
    config = make_config(
        "reverse",
        devices=1,  # One device is ~1.5x faster than eight fake ones for this tiny model.
        task__min_len=2,
        task__max_len=6,
        task__num_symbols=6,
        task__num_eval=200,
        train__batch_size=64,
        train__num_steps=1000,
        train__log_every_steps=500,
        train__eval_every_steps=1000,
        train__checkpoint_every_steps=1000,
        optim__learning_rate=1e-2,
        optim__warmup_steps=50,
        eval__batch_size=200,
    )
    assert config.model.hidden_size == 32
    metrics = train.train_and_evaluate(config, str(tmp_path))["best_eval"]
    assert metrics["exact_match"] >= 0.99, metrics
    assert metrics["token_accuracy"] >= 0.99, metrics


@pytest.mark.slow
def test_attention_learns_long_reversal_where_the_context_vector_does_not(make_config, tmp_path):
    """Reversing 30-40 symbols: in 800 steps Luong attention reaches >= 95% held-out exact
    match, while the basic model, whose one vector must carry the whole source, stays near 0."""
    scores = {}
    for decoder in ("luong", "basic"):
        config = make_config(
            "reverse", devices=1, task__min_len=30, task__max_len=40, task__num_symbols=10,
            task__num_eval=200, model__decoder=decoder, model__hidden_size=64,
            model__embed_size=32, train__batch_size=64, train__num_steps=800,
            train__log_every_steps=400, train__eval_every_steps=400,
            train__checkpoint_every_steps=800, optim__learning_rate=1e-2,
            optim__warmup_steps=50, eval__batch_size=200,
        )  # fmt: skip
        results = train.train_and_evaluate(config, str(tmp_path / decoder))
        scores[decoder] = results["best_eval"]["exact_match"]
    assert scores["luong"] >= 0.95 and scores["basic"] <= 0.2, scores
