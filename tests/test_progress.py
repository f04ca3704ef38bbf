"""Tests for progress.py: durations as H:MM:SS, steps/s between reports, and the ETA."""

import math

import pytest

from s2s_jax import progress
from s2s_jax.progress import Progress, format_duration


class FakeClock:
    """Stands in for the `time` module of progress.py: both clocks read `now`."""

    def __init__(self, now: float = 1000.0):
        self.now = now

    def perf_counter(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(progress, "time", fake)
    return fake


def _h_mm_ss(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def test_format_duration_rounds_to_whole_seconds() -> None:
    """Durations read H:MM:SS, rounded to the second; a day or more names the days."""
    assert format_duration(3725.4) == "1:02:05"
    assert format_duration(0) == "0:00:00"
    assert format_duration(59.4) == "0:00:59"
    assert format_duration(59.6) == "0:01:00"
    assert format_duration(36000) == "10:00:00"
    assert format_duration(90061) == "1 day, 1:01:01"
    for seconds in range(0, 86400, 997):
        assert format_duration(seconds + 0.25) == _h_mm_ss(seconds), seconds


def test_report_measures_steps_per_second_since_the_last_report(clock: FakeClock) -> None:
    """Each report's rate covers only the steps and time since the previous report."""
    p = Progress(start_step=10, num_steps=110)
    clock.now += 2.0
    assert p.report(30) == {"steps_per_sec": pytest.approx(20 / 2.0)}
    clock.now += 0.5
    assert p.report(40) == {"steps_per_sec": pytest.approx(10 / 0.5)}
    rate = p.report(41)["steps_per_sec"]  # No time passed: a large rate, not a ZeroDivisionError.
    assert math.isfinite(rate) and rate > 1e6


def test_eta_is_the_steps_left_at_the_rate(clock: FakeClock) -> None:
    """ETA = steps left / rate, never negative, and capped by the deadline."""
    p = Progress(start_step=0, num_steps=1000)
    assert p.eta(400, 20.0) == format_duration((1000 - 400) / 20.0) == "0:00:30"
    assert p.eta(1000, 20.0) == "0:00:00"
    assert p.eta(1200, 20.0) == "0:00:00"  # Past the end: not negative.
    budget = Progress(start_step=0, num_steps=1000, deadline=clock.now + 12)
    assert budget.eta(0, 1.0) == "0:00:12"  # 1000 s of steps, but the run ends in 12 s.
    assert budget.eta(990, 1.0) == "0:00:10"  # The steps end first.
    clock.now += 60
    assert budget.eta(0, 1.0) == "0:00:00"  # Past the deadline.
