"""Tests for s2s_jax.atomic_write: the target holds the old text or the new, never a part."""

import errno
import json
import os
import shutil

import pytest
from helpers import FILL_THE_DISK, on_small_disk

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


_FILL = (
    """
import json, os, shutil
from s2s_jax import atomic_write
disk = os.environ["DISK"]
target = os.path.join(disk, "config.json")
atomic_write.write_text(target, "old\\n")
"""
    + FILL_THE_DISK
    + """try:
    atomic_write.write_text(target, "new\\n" * 10000)
    error = None
except atomic_write.DiskFullError as e:
    error = str(e)
with open(target) as f:
    print(json.dumps({"error": error, "free": shutil.disk_usage(disk).free,
                      "files": sorted(os.listdir(disk)), "target": f.read()}))
"""
)


def test_a_full_disk_keeps_the_old_file_and_names_the_path_and_the_free_space(tmp_path):
    """On a real 64 KiB tmpfs, filled: write_text fails with a DiskFullError naming the file
    and the free space (as shutil.disk_usage gives it), and leaves the old text and no
    temporary file."""
    disk = str(tmp_path / "disk")
    proc = on_small_disk('"$PYTHON" -c "$FILL"', disk, "64k", FILL=_FILL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["target"] == "old\n"
    assert out["files"] == ["config.json", "filler"]
    assert out["free"] < 4096  # Full, to the page.
    assert out["error"] == (
        f"no space left on device writing {disk}/config.json ({out['free']} bytes free of "
        "64.0 KiB on its filesystem); free some space, then rerun the same command: training "
        "resumes from the latest complete checkpoint"
    )


def _raise(error: BaseException):
    def fail(*args, **kwargs):
        raise error

    return fail


def test_a_full_quota_at_the_write_call_is_named_with_the_free_space(tmp_path, monkeypatch):
    """EDQUOT (a quota) injected at the write's fsync: a DiskFullError saying so, the free
    space in a hand-worked unit, the old file kept and no temporary file."""
    path = str(tmp_path / "final_eval.json")
    atomic_write.write_text(path, "old\n")
    monkeypatch.setattr(os, "fsync", _raise(OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))))
    usage = shutil._ntuple_diskusage(total=3 * 2**30, used=0, free=1536 * 1024)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage)
    with pytest.raises(atomic_write.DiskFullError) as info:
        atomic_write.write_json(path, {"step": 2})
    assert str(info.value).startswith(
        f"disk quota exceeded writing {path} (1.5 MiB free of 3.0 GiB on its filesystem); "
    )
    assert isinstance(info.value, UserError)
    assert (tmp_path / "final_eval.json").read_text() == "old\n"
    assert os.listdir(tmp_path) == ["final_eval.json"]


# tensorstore's error, as orbax 0.12 raises it from a checkpoint save on a full disk.
_TENSORSTORE = (
    'RESOURCE_EXHAUSTED: Error writing local file "/w/checkpoints/30.orbax-checkpoint-tmp/'
    'state/_sharding": Failed to write 5345 bytes to file 16: No space left on device '
    "[os_error_code='28']"
)


@pytest.mark.parametrize(
    "error, full",
    [
        (OSError(errno.ENOSPC, "No space left on device"), True),
        (ValueError(_TENSORSTORE), True),
        (RuntimeError("the save failed"), False),
        (OSError(errno.EACCES, "Permission denied"), False),
        (UserError("no space left on device writing x (already reported)"), False),
    ],
    ids=["ENOSPC", "tensorstore", "other", "EACCES", "UserError"],
)
def test_only_a_full_disk_becomes_a_disk_full_error(tmp_path, error, full):
    """A full disk, also wrapped by another library or raised from one, becomes a
    DiskFullError naming the path; any other error, and a UserError, pass unchanged."""
    path = str(tmp_path / "checkpoints" / "30")
    for raised in (error, RuntimeError("in a background thread")):
        with pytest.raises(Exception) as info, atomic_write.reporting_full_disk(path):
            if raised is error:
                raise error
            raise raised from error  # The full disk as the cause of another error.
        if full:
            assert isinstance(info.value, atomic_write.DiskFullError)
            assert str(info.value).startswith(f"no space left on device writing {path} (")
            assert "free of" in str(info.value)
        else:
            assert info.value is raised
