"""Tests for s2s_jax.findings.trials: a sweep's trials read back and grouped into conditions."""

import json
import math
import statistics
from pathlib import Path

import pytest
from findings.fake_trials import write_results, write_sweep

from s2s_jax.errors import UserError
from s2s_jax.findings import trials


def _final(step: int, exact_match: float) -> dict:
    return {"step": step, "best_step": step, "best_eval": {"exact_match": exact_match}}


def test_trials_are_grouped_by_every_swept_field_but_the_seed(tmp_path: Path) -> None:
    """Conditions in order of first appearance; each one's trials in order of seed."""
    swept = [
        {"model.decoder": "luong", "model.attention_score": "dot", "seed": 1},
        {"model.decoder": "bahdanau", "seed": 0},
        {"model.decoder": "luong", "model.attention_score": "dot", "seed": 0},
        {"model.decoder": "bahdanau", "seed": 1},
    ]
    for i, folder in enumerate(write_sweep(tmp_path, "luong.py:smoke", swept)):
        write_results(folder, _final(10 * i, 0.1 * i))
    sweep, loaded = trials.load(str(tmp_path))
    assert sweep["experiment"] == "luong.py:smoke"
    assert [t.swept for t in loaded] == swept  # sweep.json's order.
    conditions = trials.group(loaded)
    labels = ["decoder=luong,attention_score=dot", "decoder=bahdanau"]
    assert [c.label for c in conditions] == labels
    assert conditions[1].fields == {"model.decoder": "bahdanau"}
    assert [[t.swept["seed"] for t in c.trials] for c in conditions] == [[0, 1], [0, 1]]
    assert conditions[0].trials[0].final_eval == _final(20, 0.2)  # seed 0 was written third.


def test_a_trial_without_final_eval_is_named(tmp_path: Path) -> None:
    """Every unfinished trial of sweep.json is named, with the file it lacks."""
    done, unfinished, gone = write_sweep(tmp_path, "x.py", [{"seed": 0}, {"seed": 1}, {"seed": 2}])
    write_results(done, _final(5, 1.0))
    (gone / "overrides.json").unlink()
    gone.rmdir()
    with pytest.raises(trials.MissingTrialError) as e:
        trials.load(str(tmp_path))
    assert f"{unfinished} (no final_eval.json)" in str(e.value)
    assert f"{gone} (no overrides.json and no final_eval.json)" in str(e.value)
    assert str(done) + " " not in str(e.value) and "2 of 3 trials" in str(e.value)


def test_no_sweep_json_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"sweep\.json is missing"):
        trials.load(str(tmp_path))


@pytest.mark.parametrize("values", [[3.0, 5.0, 10.0], [0.25, 0.5], [7.0]])
def test_mean_std_is_the_sample_std(values: list[float]) -> None:
    mean, std = trials.mean_std(values)
    assert mean == pytest.approx(statistics.fmean(values))
    if len(values) > 1:
        assert std == pytest.approx(statistics.stdev(values))
    else:
        assert math.isnan(std)


def test_curve_reads_one_split_and_keeps_a_resumed_step_last(tmp_path: Path) -> None:
    (folder,) = write_sweep(tmp_path, "x.py", [{"seed": 0}])
    write_results(folder, _final(30, 0.5), curve=[(10, 0.1), (20, 0.3), (30, 0.5)])
    with open(folder / "metrics.jsonl", "a", encoding="utf-8") as f:  # A resumed run redoes 20.
        f.write(json.dumps({"step": 20, "split": "eval", "exact_match": 0.35}) + "\n")
    (trial,) = trials.load(str(tmp_path))[1]
    assert trials.curve(trial, "eval", "exact_match") == [(10, 0.1), (20, 0.35), (30, 0.5)]
    with pytest.raises(UserError, match="no 'dev' line with 'chrf'"):
        trials.curve(trial, "dev", "chrf")


def test_missing_values_and_files_are_named(tmp_path: Path) -> None:
    (folder,) = write_sweep(tmp_path, "x.py", [{"seed": 0}])
    write_results(folder, _final(30, 0.5))
    (trial,) = trials.load(str(tmp_path))[1]
    assert trials.metric(trial, "best_eval.exact_match") == 0.5
    with pytest.raises(UserError, match=r"no number at 'best_dev\.chrf' \(its sections: best_eval"):
        trials.metric(trial, "best_dev.chrf")
    with pytest.raises(trials.MissingTrialError, match=r"length_buckets\.json is missing"):
        trials.table_rows(trial, trials.LENGTH_BUCKETS, "best_eval")
    (folder / "metrics.jsonl").unlink()
    with pytest.raises(trials.MissingTrialError, match=r"metrics\.jsonl is missing"):
        trials.curve(trial, "eval", "exact_match")
