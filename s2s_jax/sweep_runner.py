"""Runs a sweep's trials, each a launch.py subprocess training in W/<trial-name>.

- Trials that finished (final_eval.json and an 'ok' status.json) are skipped;
  the others run, and an interrupted one resumes from its own checkpoints.
- Up to `len(slot_envs)` trials run at once; the trial in slot i gets
  slot_envs[i] added to its environment (its share of the accelerators).
- A trial's stdout and stderr are appended to W/<trial>/stdout.log, stderr.log;
  how it ended goes to W/<trial>/status.json: ok, failed (a non-zero exit, no
  final_eval.json, or NaN in it) with the exit code and the last lines of
  stderr, or interrupted. A failure does not stop the sweep; at the end the
  failed trials are reported in a SweepFailedError.
- SIGINT/SIGTERM are forwarded to the running trials, which save a checkpoint
  and stop; the sweep then stops too, and a rerun resumes. Trials run in their
  own process group, so a Ctrl-C in the terminal reaches them once, forwarded.
- Each finished trial logs one line with its result, the elapsed time and an ETA;
  the results table and plot are rewritten when the sweep stops (sweep_report).
"""

import contextlib
import dataclasses
import datetime
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import IO

from absl import logging

from s2s_jax import sweep_files, sweep_report
from s2s_jax.errors import UserError
from s2s_jax.sweep_plan import Plan, Trial, command

_ERROR_LINES = 20  # Lines of stderr kept in status.json.
_POLL_SECONDS = 0.1


class SweepFailedError(UserError):
    """Some trials failed; the others ran to the end."""


def _duration(seconds: float) -> str:
    return str(datetime.timedelta(seconds=round(seconds)))


def eta_seconds(durations: list[float], remaining: int, parallel: int) -> float:
    """Time left for `remaining` trials at the mean duration so far, `parallel` at a time."""
    if not durations:
        return float("nan")
    return sum(durations) / len(durations) * remaining / max(parallel, 1)


def is_finished(trial_dir: str) -> bool:
    """Whether the trial ran to the end: final_eval.json and an 'ok' status."""
    status = sweep_files.read_json(os.path.join(trial_dir, sweep_files.STATUS)) or {}
    return status.get("status") == sweep_files.OK and os.path.isfile(
        os.path.join(trial_dir, sweep_files.FINAL_EVAL)
    )


@contextlib.contextmanager
def _recorded_signals() -> Iterator[list[int]]:
    """Yields a list that SIGINT/SIGTERM append to while the sweep runs."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, lambda signum, frame: received.append(signum))
    try:
        yield received
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@dataclasses.dataclass
class _Running:
    trial: Trial
    slot: int
    proc: subprocess.Popen
    start: float
    logs: list[IO[bytes]]
    stderr_offset: int  # Where this attempt's stderr starts in stderr.log.


def _start(
    plan: Plan, trial: Trial, workdir: str, launcher: list[str], slot: int, env: dict[str, str]
) -> _Running:
    trial_dir = os.path.join(workdir, trial.name)
    status_path = os.path.join(trial_dir, sweep_files.STATUS)
    previous = sweep_files.read_json(status_path) or {}
    attempt = previous.get("attempts", 0) + 1
    argv = command(plan, trial, workdir, launcher)
    names = (sweep_files.STDOUT, sweep_files.STDERR)
    logs = [open(os.path.join(trial_dir, n), "ab") for n in names]  # noqa: SIM115 (see _finish)
    now = datetime.datetime.now().isoformat(timespec="seconds")
    for log in logs:
        log.write(f"==== attempt {attempt}, {now}: {' '.join(argv)}\n".encode())
        log.flush()
    sweep_files.write_json(
        status_path,
        {
            "status": sweep_files.RUNNING,
            "attempts": attempt,
            "wall_seconds": previous.get("wall_seconds", 0.0),
            "started": now,
            "env": env,
        },
    )
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=logs[0],
        stderr=logs[1],
        env={**os.environ, **env},
        start_new_session=True,  # Signals reach it only through the sweep.
    )
    logging.info("start  %s (attempt %d)%s", trial.name, attempt, f" with {env}" if env else "")
    return _Running(trial, slot, proc, time.monotonic(), logs, logs[1].tell())


def _stderr_tail(path: str, offset: int) -> str:
    with open(path, "rb") as f:
        f.seek(offset)
        lines = f.read().decode("utf-8", errors="replace").rstrip().splitlines()
    return "\n".join(lines[-_ERROR_LINES:])


def _finish(run: _Running, workdir: str, interrupted: bool) -> dict:
    """Writes the trial's status.json after its process ended; returns it."""
    for log in run.logs:
        log.close()
    trial_dir = os.path.join(workdir, run.trial.name)
    status_path = os.path.join(trial_dir, sweep_files.STATUS)
    previous = sweep_files.read_json(status_path) or {}
    code = run.proc.returncode
    error = _stderr_tail(os.path.join(trial_dir, sweep_files.STDERR), run.stderr_offset)
    final = sweep_files.read_json(os.path.join(trial_dir, sweep_files.FINAL_EVAL))
    if code == 0 and final is None:
        status, error = sweep_files.FAILED, f"exited 0 without {sweep_files.FINAL_EVAL}"
    elif code == 0 and (nans := sweep_files.nan_paths(final)):
        status, error = sweep_files.FAILED, f"NaN in {sweep_files.FINAL_EVAL}: {', '.join(nans)}"
    elif code == 0:
        status, error = sweep_files.OK, ""
    else:
        status = sweep_files.INTERRUPTED if interrupted else sweep_files.FAILED
    result = {
        **previous,
        "status": status,
        "exit_code": code,
        "error": error,
        "wall_seconds": previous.get("wall_seconds", 0.0) + time.monotonic() - run.start,
        "finished": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    sweep_files.write_json(status_path, result)
    return result


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


class _Scheduler:
    """The trials still to run, the ones running, and what the finished ones gave."""

    def __init__(
        self, plan: Plan, workdir: str, launcher: list[str], slot_envs: list[dict[str, str]]
    ):
        self.plan, self.workdir, self.launcher, self.slot_envs = plan, workdir, launcher, slot_envs
        self.todo = [t for t in plan.trials if not is_finished(os.path.join(workdir, t.name))]
        self.total, self.start = len(self.todo), time.monotonic()
        self.free, self.running = list(range(len(slot_envs))), []
        self.durations: list[float] = []
        self.failed: list[str] = []  # 'name (exit code: last line of stderr)'.
        self.stopped: list[str] = []

    def start_trials(self) -> None:
        """Starts trials in the free slots."""
        while self.todo and self.free:
            slot = self.free.pop(0)
            trial = self.todo.pop(0)
            env = self.slot_envs[slot]
            self.running.append(_start(self.plan, trial, self.workdir, self.launcher, slot, env))

    def forward(self, signum: int) -> None:
        logging.warning("Signal %d: stopping the running trials (they save a checkpoint)", signum)
        for r in self.running:
            with contextlib.suppress(ProcessLookupError):
                r.proc.send_signal(signum)

    def collect_finished(self, interrupted: bool) -> None:
        """Records and logs the trials whose process ended."""
        for r in [r for r in self.running if r.proc.poll() is not None]:
            self.running.remove(r)
            self.free = sorted([*self.free, r.slot])
            status = _finish(r, self.workdir, interrupted)
            seconds = time.monotonic() - r.start
            if status["status"] == sweep_files.INTERRUPTED:
                self.stopped.append(r.trial.name)
                logging.info("stop   %s: interrupted after %s", r.trial.name, _duration(seconds))
                continue
            self.durations.append(seconds)
            if status["status"] == sweep_files.FAILED:
                error = f"exit {status['exit_code']}: {_last_line(status['error'])}"
                self.failed.append(f"{r.trial.name} ({error})")
                result = f"FAILED, {error}"
            else:
                path = os.path.join(self.workdir, r.trial.name, sweep_files.FINAL_EVAL)
                value = sweep_files.metric_value(sweep_files.read_json(path), self.plan.metric)
                shown = "missing from final_eval.json" if value is None else f"{value:.4g}"
                result = f"ok, {self.plan.metric} {shown}"
            left = len(self.todo) + len(self.running)
            eta = eta_seconds(self.durations, left, len(self.slot_envs))
            logging.info(
                "[%d/%d] %s: %s, in %s | elapsed %s, ETA %s",
                len(self.durations), self.total, r.trial.name, result, _duration(seconds),
                _duration(time.monotonic() - self.start), _duration(eta) if left else "done",
            )  # fmt: skip


def run(plan: Plan, workdir: str, launcher: list[str], slot_envs: list[dict[str, str]]) -> None:
    """Runs the trials of `plan` not yet finished (the workdir is `prepare`d).

    `launcher` is [python, launch.py, extra flags...]. Raises KeyboardInterrupt
    if interrupted, SweepFailedError if a trial failed; writes the report either way.
    """
    sched = _Scheduler(plan, workdir, launcher, slot_envs)
    for trial in plan.trials:
        if trial not in sched.todo:
            logging.info("skip   %s: finished in an earlier run", trial.name)
    logging.info(
        "Sweep of %d trials in %s: %d to run, %d at a time",
        len(plan.trials), workdir, len(sched.todo), len(slot_envs),
    )  # fmt: skip
    with _recorded_signals() as received:
        forwarded = 0
        while (sched.todo and not received) or sched.running:
            for signum in received[forwarded:]:  # Each signal once to every running trial.
                sched.forward(signum)
            forwarded = len(received)
            if not received:
                sched.start_trials()
            sched.collect_finished(interrupted=bool(received))
            time.sleep(_POLL_SECONDS)
    rows = sweep_report.write(workdir, plan.metric, plan.mode)
    table = sweep_report.markdown(rows, plan.metric, plan.mode)
    logging.info("Results in %s:\n%s", workdir, table)
    if received:
        raise KeyboardInterrupt(
            f"sweep interrupted; stopped {', '.join(sched.stopped) or 'no running trial'}, "
            f"{len(sched.todo)} not started; rerun the same command to resume"
        )
    if sched.failed:
        raise SweepFailedError(
            f"{len(sched.failed)} of {len(plan.trials)} trials failed: "
            f"{'; '.join(sched.failed)}; see {os.path.join(workdir, '<trial>', sweep_files.STDERR)}"
        )
