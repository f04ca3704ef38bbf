"""Metrics to JSON lines and TensorBoard (and text and images to TensorBoard)."""

import json
import os
import time

import numpy as np
from tensorboardX import SummaryWriter
from tensorboardX.proto.event_pb2 import Event, SessionLog

from s2s_jax import atomic_write, distributed

_TB_FLUSH_SECONDS = 30  # TensorBoard's files are flushed (and fsynced) at most this often.


class MetricLog:
    """Appends `{"step": k, "split": ..., **metrics}` lines to workdir/metrics.jsonl.

    Each line is flushed as written, so a crash loses nothing already logged.
    The same scalars go to TensorBoard event files in workdir/tensorboard. With several
    processes only process 0's log writes (`enabled`); the others' do nothing.

    A run resumed from the checkpoint of step k (`resume_step=k`) logs again what came after
    k, so the log is first cut back to k: metrics.jsonl keeps its lines of steps <= k (not
    the final 'best_*' evaluation, which a finished run's rerun writes again, nor a line cut
    short by a crash), rewritten atomically; TensorBoard purges events after k.

    Every write happens in the calling thread (TensorBoard's too: tensorboardX's writer thread
    is stopped, as a full disk would kill it and then block the run on its queue), so a full
    disk is a DiskFullError naming the file (atomic_write.reporting_full_disk).
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
        self._tb_dir = os.path.join(workdir, "tensorboard")
        with atomic_write.reporting_full_disk(self._tb_dir):
            self._tb = _synchronous_writer(self._tb_dir, resume_step)
        self._tb_flushed = -float("inf")

    def write(self, step: int, split: str, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        with atomic_write.reporting_full_disk(self.path):
            self._file.write(json.dumps({"step": step, "split": split, **metrics}) + "\n")
            self._file.flush()
        with atomic_write.reporting_full_disk(self._tb_dir):
            for name, value in metrics.items():
                self._tb.add_scalar(f"{split}/{name}", value, step)
            if time.monotonic() > self._tb_flushed + _TB_FLUSH_SECONDS:  # As its thread did.
                self._tb.flush()
                self._tb_flushed = time.monotonic()

    def write_text(self, step: int, tag: str, text: str) -> None:
        if self.enabled:
            with atomic_write.reporting_full_disk(self._tb_dir):
                self._tb.add_text(tag, text, step)

    def write_image(self, step: int, tag: str, image_HxWx3: np.ndarray) -> None:
        """An RGB uint8 image (e.g. a rendered figure) to TensorBoard."""
        if self.enabled:
            with atomic_write.reporting_full_disk(self._tb_dir):
                self._tb.add_image(tag, image_HxWx3, step, dataformats="HWC")

    def close(self) -> None:
        if not self.enabled:
            return
        events = self._tb.file_writer.event_writer
        try:
            with atomic_write.reporting_full_disk(self.path):
                self._file.close()
            with atomic_write.reporting_full_disk(self._tb_dir):
                self._tb.close()
        finally:  # Not retried at exit (tensorboardX's exit hook would, printing a traceback).
            events._closed = True


def _synchronous_writer(logdir: str, resume_step: int | None) -> SummaryWriter:
    """A SummaryWriter that writes each event in the calling thread, where a full disk raises.

    tensorboardX writes from a thread of its own that a failed write kills, after which the
    run would block on its full queue. That thread is stopped (it holds no event yet) and
    events go straight to the file, as its thread would write them. After a resume from step
    k, a purge marker at k + 1 (TensorBoard's readers drop events of later steps before it).
    """
    writer = SummaryWriter(logdir)
    events = writer.file_writer.event_writer  # tensorboardX 2.x: EventFileWriter.
    events._worker.stop()
    events.add_event = events._ev_writer.write_event
    if resume_step is not None:
        writer.file_writer.add_event(Event(step=resume_step + 1, file_version="brain.Event:2"))
        status = SessionLog(status=SessionLog.START)
        writer.file_writer.add_event(Event(step=resume_step + 1, session_log=status))
    return writer


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
