"""Tests for s2s_jax.atomic_write: the target holds the old text or the new, never a part."""

import json
import os

import pytest

from s2s_jax import atomic_write
from s2s_jax.errors import UserError


def test_write_json_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = str(tmp_path / "final_eval.json")
    atomic_write.write_json(path, {"step": 1})
    atomic_write.write_json(path, {"step": 2, "eval": [0.5]})
    with open(path, encoding="utf-8") as f:
        assert json.load(f) == {"step": 2, "eval": [0.5]}
    assert os.listdir(tmp_path) == ["final_eval.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = str(tmp_path / "config.json")
    atomic_write.write_text(path, "old\n")
    with pytest.raises(TypeError):  # json fails halfway, after the temporary file exists.
        atomic_write.write_json(path, {"a": 1, "b": object()})
    with open(path, encoding="utf-8") as f:
        assert f.read() == "old\n"
    assert os.listdir(tmp_path) == ["config.json"]


def test_a_workdir_that_cannot_be_written_is_named_before_anything_runs(tmp_path):
    """A workdir below a regular file cannot be created: a UserError names it."""
    (tmp_path / "file").write_text("x")
    workdir = str(tmp_path / "file" / "run")
    with pytest.raises(UserError, match=r"the workdir .*/file/run is not writable \(Not a dir"):
        atomic_write.require_writable(workdir)
    atomic_write.require_writable(str(tmp_path / "new" / "run"))  # Created, and writable.
    assert os.listdir(tmp_path / "new" / "run") == []
