"""Tests for s2s_jax.metric_log: JSON lines flushed as written and appended; TensorBoard
scalars, text and images."""

import errno
import glob
import io
import json
import os
import re
import threading

import matplotlib.image
import numpy as np
import pytest
from helpers import FILL_THE_DISK, on_small_disk, tensorboard_events
from tensorboardX.record_writer import RecordWriter

from s2s_jax import distributed
from s2s_jax.atomic_write import DiskFullError
from s2s_jax.metric_log import MetricLog


def _lines(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_lines_are_readable_before_close_and_appended_by_a_second_log(tmp_path):
    log = MetricLog(str(tmp_path))
    log.write(10, "train", {"loss": 1.5})
    # Flushed as written: a crash now would keep it.
    assert _lines(log.path) == [{"step": 10, "split": "train", "loss": 1.5}]
    log.write_text(10, "eval/examples", "a -> b")
    log.close()
    again = MetricLog(str(tmp_path))
    again.write(20, "eval", {"exact_match": 0.5})
    again.close()
    assert [(m["step"], m["split"]) for m in _lines(log.path)] == [(10, "train"), (20, "eval")]
    events = glob.glob(os.path.join(tmp_path, "tensorboard", "events.out.tfevents.*"))
    assert events and all(os.path.getsize(e) > 0 for e in events)


def test_only_the_writer_process_writes(tmp_path, monkeypatch):
    """In a process other than 0 (of several) the log takes every call and writes nothing."""
    monkeypatch.setattr(distributed, "is_writer", lambda: False)
    log = MetricLog(str(tmp_path / "run"))
    log.write(10, "train", {"loss": 1.5})
    log.write_text(10, "eval/examples", "a -> b")
    log.write_image(10, "eval/attention", np.zeros((2, 2, 3), np.uint8))
    log.close()
    assert not (tmp_path / "run").exists()


def test_an_image_is_written_to_tensorboard_and_reads_back(tmp_path):
    """The event file holds the image as PNG, of the shape and pixels written."""
    image = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    log = MetricLog(str(tmp_path))
    log.write_image(30, "eval/attention", image)
    log.close()
    values = [(e.step, v) for e in tensorboard_events(str(tmp_path)) for v in e.summary.value]
    [(step, value)] = [(s, v) for s, v in values if v.tag == "eval/attention"]
    assert step == 30 and (value.image.height, value.image.width) == (5, 7)
    png = matplotlib.image.imread(io.BytesIO(value.image.encoded_image_string), format="png")
    np.testing.assert_array_equal(np.round(png[..., :3] * 255).astype(np.uint8), image)


def test_a_resumed_log_is_cut_back_to_the_restored_step(tmp_path):
    """Resuming from step 20: lines after 20, the final 'best_' lines and a line cut short
    by a crash go; TensorBoard gets a purge marker at step 21 (its readers then drop the
    events of steps >= 21 written before it)."""
    log = MetricLog(str(tmp_path))
    for step in (10, 20, 30):
        log.write(step, "train", {"loss": 1.0 / step})
    log.write(20, "best_eval", {"exact_match": 0.5})
    log.close()
    with open(log.path, "a", encoding="utf-8") as f:
        f.write('{"step": 40, "split": "tr')  # A kill -9 mid-write.
    resumed = MetricLog(str(tmp_path), resume_step=20)
    resumed.write(30, "train", {"loss": 0.03})
    resumed.close()
    assert [(m["step"], m["split"]) for m in _lines(log.path)] == [
        (10, "train"), (20, "train"), (30, "train")
    ]  # fmt: skip
    assert _lines(log.path)[-1]["loss"] == 0.03
    purges = [e.step for e in tensorboard_events(str(tmp_path)) if e.session_log.status == 1]
    assert purges == [21]  # SessionLog.START at the purge step.


def test_tensorboard_writes_in_the_calling_thread_where_a_full_disk_is_an_error(
    tmp_path, monkeypatch
):
    """No tensorboardX writer thread (a full disk would kill it, and the run would then
    block on its queue): a failed event write raises here, as a DiskFullError naming the
    folder."""
    before = set(threading.enumerate())
    log = MetricLog(str(tmp_path))
    started = set(threading.enumerate()) - before
    assert not [t for t in started if type(t).__module__.startswith("tensorboardX")], started
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(RecordWriter, "write", lambda self, data: (_ for _ in ()).throw(full))
    with pytest.raises(DiskFullError, match=f"no space left on device writing {tmp_path}/tens"):
        log.write(10, "train", {"loss": 1.5})
    assert _lines(log.path) == [{"step": 10, "split": "train", "loss": 1.5}]
    log.close()


_FILL = (
    """
import json, os
from s2s_jax.atomic_write import DiskFullError
from s2s_jax.metric_log import MetricLog
disk = os.environ["DISK"]
log = MetricLog(disk)
"""
    + FILL_THE_DISK
    + """errors = []
for step in range(1000):
    try:
        log.write(step, "train", {"loss": 1.0, "token_accuracy": 0.5})
    except DiskFullError as e:
        errors.append(str(e))
        break
try:
    log.close()
except DiskFullError as e:
    errors.append(str(e))
print(json.dumps({"errors": errors, "steps": step}))
"""
)


def test_a_full_disk_stops_the_log_with_one_error_and_the_process_exits(tmp_path):
    """On a real tmpfs, filled: a write fails with a DiskFullError naming its file and the
    free space; the process then exits at once (no thread left blocked, no traceback from
    tensorboardX's exit hook)."""
    disk = str(tmp_path / "disk")
    proc = on_small_disk('"$PYTHON" -c "$FILL"', disk, "256k", timeout=60, FILL=_FILL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr
    out = json.loads(proc.stdout)
    assert out["steps"] < 1000 and out["errors"], out
    for error in out["errors"]:
        assert re.fullmatch(
            rf"no space left on device writing {disk}/(metrics\.jsonl|tensorboard) \(\d+ bytes "
            r"free of 256\.0 KiB on its filesystem\); free some space, then rerun .*",
            error,
        ), error
