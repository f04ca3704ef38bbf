"""Durations as text, steps/s between reports, and the time left: for the train loop and sweeps."""

import datetime
import time


def format_duration(seconds: float) -> str:
    """Whole seconds as H:MM:SS, e.g. 3725.4 -> '1:02:05'."""
    return str(datetime.timedelta(seconds=round(seconds)))


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
        return format_duration(max(0.0, min(seconds, self.deadline - time.monotonic())))
