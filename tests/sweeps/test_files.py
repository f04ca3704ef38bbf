"""Tests for sweeps/files.py: a sweep workdir's JSON files, trial folders and final metrics."""

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from s2s_jax.errors import UserError
from s2s_jax.sweeps import files


def test_plain_is_what_json_reads_back() -> None:
    """Tuples become lists and numpy scalars Python numbers; other objects are a TypeError."""
    value = {"sizes": (8, 16), "lr": np.float32(0.5), "steps": np.int64(3), "cell": "gru"}
    plain = files.plain(value)
    assert plain == {"sizes": [8, 16], "lr": 0.5, "steps": 3, "cell": "gru"}
    assert type(plain["lr"]) is float and type(plain["steps"]) is int
    with pytest.raises(TypeError, match="is not a number, string, bool or list"):
        files.plain({"x": object()})


def test_write_json_then_read_json(tmp_path: Path) -> None:
    """write_json leaves no temporary file and reads back; a missing file reads as None."""
    path = str(tmp_path / "status.json")
    assert files.read_json(path) is None
    files.write_json(path, {"status": files.OK, "wall_seconds": np.float64(1.5)})
    files.write_json(path, {"status": files.FAILED, "exit_code": 1})  # Replaces the first.
    assert os.listdir(tmp_path) == ["status.json"]
    with open(path, encoding="utf-8") as f:
        assert json.load(f) == {"status": "failed", "exit_code": 1}
    assert files.read_json(path) == {"status": "failed", "exit_code": 1}


def test_read_json_names_a_broken_file(tmp_path: Path) -> None:
    """A file that is not JSON is a UserError naming it, not a traceback from json."""
    path = tmp_path / "overrides.json"
    path.write_text('{"swept": ')
    with pytest.raises(UserError, match=r"overrides\.json is not valid JSON"):
        files.read_json(str(path))


def test_trial_dirs_are_the_folders_with_overrides(tmp_path: Path) -> None:
    """Only folders holding overrides.json count, sorted by name; no workdir means no trials."""
    assert files.trial_dirs(str(tmp_path / "missing")) == []
    names = ["seed=3", "seed=10", "seed=1", "seed=5", "seed=2", "seed=4"]
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / files.OVERRIDES).write_text("{}")
    (tmp_path / "pending").mkdir()
    (tmp_path / "pending" / files.STATUS).write_text("{}")
    (tmp_path / files.OVERRIDES).write_text("{}")  # A file, not a trial folder.
    expected = [str(tmp_path / n) for n in sorted(names)]  # seed=1, seed=10, seed=2, ...
    assert files.trial_dirs(str(tmp_path)) == expected


def test_metric_value_reads_a_section_and_key() -> None:
    """'<section>.<key>' split at the last dot; anything but a number is no value."""
    final = {
        "step": 40,
        "best_eval": {"exact_match": 0.25, "loss": 2, "ok": True, "name": "x"},
        "best_dev.x": {"chrf": 51.5},
    }
    assert files.metric_value(final, "best_eval.exact_match") == 0.25
    assert files.metric_value(final, "best_eval.loss") == 2.0
    assert files.metric_value(final, "step") == 40.0  # No section: a top-level key.
    assert files.metric_value(final, "best_dev.x.chrf") == 51.5
    for missing in ("best_eval.ok", "best_eval.name", "best_eval.bleu", "best_test.loss", "x"):
        assert files.metric_value(final, missing) is None, missing
    assert files.metric_value(None, "best_eval.loss") is None


def test_nan_paths_finds_nested_nans() -> None:
    """Every NaN number is named by its dotted path; other values are not."""
    value = {
        "step": 3,
        "best_eval": {"loss": math.nan, "acc": 0.5},
        "best_dev": {"x": {"y": math.nan}},
    }
    assert files.nan_paths(value) == ["best_eval.loss", "best_dev.x.y"]
    assert files.nan_paths({"loss": math.inf, "name": "nan"}) == []
