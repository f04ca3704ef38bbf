"""Metrics to JSON lines and TensorBoard, and a progress line with steps/s and ETA."""

import datetime
import json
import os
import time

from tensorboardX import SummaryWriter


class MetricLog:
    """Appends `{"step": k, "split": ..., **metrics}` lines to workdir/metrics.jsonl.

    Each line is flushed as written, so a crash loses nothing already logged.
    The same scalars go to TensorBoard event files in workdir/tensorboard.
    """

    def __init__(self, workdir: str):
        os.makedirs(workdir, exist_ok=True)
        self.path = os.path.join(workdir, "metrics.jsonl")
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close()).
        self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

    def write(self, step: int, split: str, metrics: dict[str, float]) -> None:
        self._file.write(json.dumps({"step": step, "split": split, **metrics}) + "\n")
        self._file.flush()
        for name, value in metrics.items():
            self._tb.add_scalar(f"{split}/{name}", value, step)

    def write_text(self, step: int, tag: str, text: str) -> None:
        self._tb.add_text(tag, text, step)

    def close(self) -> None:
        self._file.close()
        self._tb.close()


class Progress:
    """Measures steps/s between reports and estimates the time left.

    `deadline` (a `time.monotonic()` value, or inf) caps the estimate: a run
    with a time budget ends then, whatever its step count.
    """

    def __init__(self, start_step: int, num_steps: int, deadline: float = float("inf")):
        self.num_steps, self.deadline = num_steps, deadline
        self._step, self._time = start_step, time.perf_counter()

    def report(self, step: int) -> dict[str, float]:
        """Steps/s since the last report; call at step `step`."""
        now = time.perf_counter()
        rate = (step - self._step) / max(now - self._time, 1e-9)
        self._step, self._time = step, now
        return {"steps_per_sec": rate}

    def eta(self, step: int, steps_per_sec: float) -> str:
        seconds = (self.num_steps - step) / max(steps_per_sec, 1e-9)
        seconds = max(0.0, min(seconds, self.deadline - time.monotonic()))
        return str(datetime.timedelta(seconds=round(seconds)))
