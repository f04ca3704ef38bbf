"""Tests for s2s_jax.nonfinite: what the train loop does about a flagged step."""

import ml_collections
import pytest

from s2s_jax.nonfinite import Guard, NonFiniteError


def _guard(mode: str, limit: int = 3) -> Guard:
    train = ml_collections.ConfigDict({"nonfinite": mode, "max_nonfinite_in_a_row": limit})
    return Guard(train, lambda: "step 40 in /w/checkpoints")


def test_stop_raises_at_the_first_flagged_step_naming_it_and_the_last_good_checkpoint():
    guard = _guard("stop")
    guard.check({"nonfinite_steps": 0}, 41)
    with pytest.raises(NonFiniteError, match=r"step 42 .*last good checkpoint is step 40 in /w"):
        guard.check({"nonfinite_steps": 1}, 42)


def test_skip_counts_in_a_row_resets_on_a_finite_step_and_stops_at_the_limit():
    guard = _guard("skip", limit=3)
    for step, flag in enumerate([1, 1, 0, 1, 1], start=41):  # Never 3 in a row.
        guard.check({"nonfinite_steps": flag}, step)
    assert guard.in_a_row == 2
    with pytest.raises(NonFiniteError, match=r"3 updates in a row .*the last at step 46"):
        guard.check({"nonfinite_steps": 1}, 46)
