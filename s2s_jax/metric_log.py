"""Metrics to JSON lines and TensorBoard (and text and images to TensorBoard)."""

import json
import os

import numpy as np
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

    def write_image(self, step: int, tag: str, image_HxWx3: np.ndarray) -> None:
        """An RGB uint8 image (e.g. a rendered figure) to TensorBoard."""
        self._tb.add_image(tag, image_HxWx3, step, dataformats="HWC")

    def close(self) -> None:
        self._file.close()
        self._tb.close()
