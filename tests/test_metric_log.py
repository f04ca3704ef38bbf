"""Tests for s2s_jax.metric_log: JSON lines flushed as written and appended; TensorBoard."""

import glob
import json
import os

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
