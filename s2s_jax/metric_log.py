"""Metrics to JSON lines and TensorBoard (and text and images to TensorBoard)."""

import json
import os

import numpy as np
from tensorboardX import SummaryWriter

from s2s_jax import atomic_write, distributed


class MetricLog:
    """Appends `{"step": k, "split": ..., **metrics}` lines to workdir/metrics.jsonl.

    Each line is flushed as written, so a crash loses nothing already logged.
    The same scalars go to TensorBoard event files in workdir/tensorboard. With several
    processes only process 0's log writes (`enabled`); the others' do nothing.

    A run resumed from the checkpoint of step k (`resume_step=k`) logs again what came after
    k, so the log is first cut back to k: metrics.jsonl keeps its lines of steps <= k (not
    the final 'best_*' evaluation, which a finished run's rerun writes again, nor a line cut
    short by a crash), rewritten atomically; TensorBoard purges events after k.
    """

    def __init__(self, workdir: str, resume_step: int | None = None):
        self.path = os.path.join(workdir, "metrics.jsonl")
        self.enabled = distributed.is_writer()  # Several processes: process 0 alone writes.
        if not self.enabled:
            return
        os.makedirs(workdir, exist_ok=True)
        if resume_step is not None and os.path.exists(self.path):
            atomic_write.write_text(self.path, "".join(_lines_up_to(self.path, resume_step)))
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close()).
        purge = None if resume_step is None else resume_step + 1
        self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"), purge_step=purge)

    def write(self, step: int, split: str, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        self._file.write(json.dumps({"step": step, "split": split, **metrics}) + "\n")
        self._file.flush()
        for name, value in metrics.items():
            self._tb.add_scalar(f"{split}/{name}", value, step)

    def write_text(self, step: int, tag: str, text: str) -> None:
        if self.enabled:
            self._tb.add_text(tag, text, step)

    def write_image(self, step: int, tag: str, image_HxWx3: np.ndarray) -> None:
        """An RGB uint8 image (e.g. a rendered figure) to TensorBoard."""
        if self.enabled:
            self._tb.add_image(tag, image_HxWx3, step, dataformats="HWC")

    def close(self) -> None:
        if self.enabled:
            self._file.close()
            self._tb.close()


def _lines_up_to(path: str, step: int) -> list[str]:
    """The whole lines of `path` logged at steps <= `step`, not of a 'best_*' split."""
    kept = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # Cut short by a crash mid-write.
                continue
            if record["step"] <= step and not record["split"].startswith("best_"):
                kept.append(line if line.endswith("\n") else line + "\n")
    return kept
