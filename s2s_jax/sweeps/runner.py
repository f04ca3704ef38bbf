"""Runs a sweep's trials, each a launch.py process training in W/<trial-name>.

- Trials that finished (final_eval.json and an 'ok' status.json) are skipped;
  the others run, and an interrupted one resumes from its own checkpoints.
- An executor (executors.py) starts them, up to `executor.slots` at once: as
  subprocesses of the sweep (`Local`: the trial in slot i gets that slot's share of
  the accelerators) or as SLURM jobs (`Submitit`). Everything else is done here,
  the same way for both.
- A trial's stdout and stderr are appended to W/<trial>/stdout.log, stderr.log;
  how it ended goes to W/<trial>/status.json: ok, failed (a non-zero exit, no
  final_eval.json, or NaN in it) with the exit code and the last lines of
  stderr, or interrupted. A failure does not stop the sweep; at the end the
  failed trials are reported in a SweepFailedError.
- A trial that an earlier run of the sweep left running as a SLURM job (the sweep
  process died) is waited for, not submitted twice (`Executor.attach`).
- SIGINT/SIGTERM are forwarded to the running trials, which save a checkpoint
  and stop (SLURM jobs: see executors.py); the sweep then stops too, and a rerun
  resumes. Local trials run in their own process group, so a Ctrl-C in the terminal
  reaches them once, forwarded.
- Each finished trial logs one line with its result, the elapsed time and an ETA;
  the results table and plot are rewritten when the sweep stops (report.py).
"""

import dataclasses
import datetime
import os
import time
from typing import Any

import ml_collections
from absl import logging

from s2s_jax import interrupts, text_log
from s2s_jax.errors import ConfigError, UserError
from s2s_jax.progress import format_duration
from s2s_jax.sweeps import devices, executors, files, report, spec
from s2s_jax.sweeps.plan import Plan, Trial, command, make_plan, prepare

_ERROR_LINES = 20  # Lines of stderr kept in status.json.
_POLL_SECONDS = 0.1


class SweepFailedError(UserError):
    """Some trials failed; the others ran to the end."""


def eta_seconds(durations: list[float], remaining: int, parallel: int) -> float:
    """Time left for `remaining` trials at the mean duration so far, `parallel` at a time."""
    if not durations:
        return float("nan")
    return sum(durations) / len(durations) * remaining / max(parallel, 1)


def is_finished(trial_dir: str) -> bool:
    """Whether the trial ran to the end: final_eval.json and an 'ok' status."""
    status = files.read_json(os.path.join(trial_dir, files.STATUS)) or {}
    return status.get("status") == files.OK and os.path.isfile(
        os.path.join(trial_dir, files.FINAL_EVAL)
    )


@dataclasses.dataclass
class _Running:
    trial: Trial
    slot: int
    started: executors.Started
    start: float
    stderr_offset: int  # Where this attempt's stderr starts in stderr.log.


def _start(
    plan: Plan,
    trial: Trial,
    workdir: str,
    launcher: list[str],
    slot: int,
    executor: executors.Executor,
) -> _Running:
    trial_dir = os.path.join(workdir, trial.name)
    status_path = os.path.join(trial_dir, files.STATUS)
    previous = files.read_json(status_path) or {}
    attempt = previous.get("attempts", 0) + 1
    argv = command(plan, trial, workdir, launcher)
    now = datetime.datetime.now().isoformat(timespec="seconds")
    for name in (files.STDOUT, files.STDERR):
        with open(os.path.join(trial_dir, name), "ab") as log:
            log.write(f"==== attempt {attempt}, {now}: {' '.join(argv)}\n".encode())
    stderr_offset = os.path.getsize(os.path.join(trial_dir, files.STDERR))
    started = executor.start(argv, trial_dir, slot)
    status = {"status": files.RUNNING, "attempts": attempt, "started": now, **started.info}
    status |= {"wall_seconds": previous.get("wall_seconds", 0.0), "stderr_offset": stderr_offset}
    files.write_json(status_path, status)
    where = ", ".join(f"{k} {v}" for k, v in started.info.items() if v)
    logging.info("start  %s (attempt %d)%s", trial.name, attempt, f" with {where}" if where else "")
    return _Running(trial, slot, started, time.monotonic(), stderr_offset)


def _attach(trial: Trial, workdir: str, slot: int, executor: executors.Executor) -> _Running | None:
    """The trial as an earlier run of the sweep left it running (a SLURM job), if it still
    runs or has ended with a result; None if it is to start anew."""
    status = files.read_json(os.path.join(workdir, trial.name, files.STATUS)) or {}
    if status.get("status") != files.RUNNING or (started := executor.attach(status)) is None:
        return None
    where = ", ".join(f"{k} {v}" for k, v in started.info.items() if v)
    logging.info("attach %s (attempt %d) with %s, started by an earlier run of the sweep",
                 trial.name, status["attempts"], where)  # fmt: skip
    return _Running(trial, slot, started, time.monotonic(), status["stderr_offset"])


def _stderr_tail(path: str, offset: int) -> str:
    with open(path, "rb") as f:
        f.seek(offset)
        lines = f.read().decode("utf-8", errors="replace").rstrip().splitlines()
    return "\n".join(lines[-_ERROR_LINES:])


def _finish(run: _Running, ended: executors.Exit, workdir: str, interrupted: bool) -> dict:
    """Writes the trial's status.json after it ended; returns it."""
    trial_dir = os.path.join(workdir, run.trial.name)
    status_path = os.path.join(trial_dir, files.STATUS)
    previous = files.read_json(status_path) or {}
    code = ended.code
    error = _stderr_tail(os.path.join(trial_dir, files.STDERR), run.stderr_offset)
    error = f"{error}\n{ended.error}".strip()  # The executor's account last: it says most.
    final = files.read_json(os.path.join(trial_dir, files.FINAL_EVAL))
    if code == 0 and final is None:
        status, error = files.FAILED, f"exited 0 without {files.FINAL_EVAL}"
    elif code == 0 and (nans := files.nan_paths(final)):
        status, error = files.FAILED, f"NaN in {files.FINAL_EVAL}: {', '.join(nans)}"
    elif code == 0:
        status, error = files.OK, ""
    else:
        status = files.INTERRUPTED if interrupted or ended.signalled else files.FAILED
    seconds = time.monotonic() - run.start if ended.seconds is None else ended.seconds
    result = {
        **previous,
        "status": status,
        "exit_code": code,
        "error": error,
        "wall_seconds": previous.get("wall_seconds", 0.0) + seconds,
        "finished": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    files.write_json(status_path, result)
    return result


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


class _Scheduler:
    """The trials still to run, the ones running, and what the finished ones gave."""

    def __init__(self, plan: Plan, workdir: str, launcher: list[str], executor: executors.Executor):
        self.plan, self.workdir, self.launcher, self.executor = plan, workdir, launcher, executor
        self.todo = [t for t in plan.trials if not is_finished(os.path.join(workdir, t.name))]
        self.total, self.start = len(self.todo), time.monotonic()
        self.free, self.running = list(range(executor.slots)), []
        self.durations: list[float] = []
        self.failed: list[str] = []  # 'name (exit code: last line of stderr)'.
        self.stopped: list[str] = []

    def start_trials(self) -> None:
        """Starts trials in the free slots."""
        while self.todo and self.free:
            slot = self.free.pop(0)
            trial = self.todo.pop(0)
            self.running.append(
                _attach(trial, self.workdir, slot, self.executor)
                or _start(self.plan, trial, self.workdir, self.launcher, slot, self.executor)
            )

    def forward(self, signum: int) -> None:
        logging.warning("Signal %d: stopping the running trials (they save a checkpoint)", signum)
        for r in self.running:
            r.started.interrupt(signum)

    def collect_finished(self, interrupted: bool) -> None:
        """Records and logs the trials that ended."""
        for r in list(self.running):
            ended = r.started.poll()
            if ended is None:
                continue
            self.running.remove(r)
            self.free = sorted([*self.free, r.slot])
            status = _finish(r, ended, self.workdir, interrupted)
            seconds = time.monotonic() - r.start if ended.seconds is None else ended.seconds
            if status["status"] == files.INTERRUPTED:
                self.stopped.append(r.trial.name)
                took = format_duration(seconds)
                logging.info("stop   %s: interrupted after %s", r.trial.name, took)
                continue
            self.durations.append(seconds)
            if status["status"] == files.FAILED:
                code = status["exit_code"]
                error = f"{'no exit code' if code is None else f'exit {code}'}: " + _last_line(
                    status["error"]
                )
                self.failed.append(f"{r.trial.name} ({error})")
                result = f"FAILED, {error}"
            else:
                path = os.path.join(self.workdir, r.trial.name, files.FINAL_EVAL)
                value = files.metric_value(files.read_json(path), self.plan.metric)
                shown = "missing from final_eval.json" if value is None else f"{value:.4g}"
                result = f"ok, {self.plan.metric} {shown}"
            left = len(self.todo) + len(self.running)
            eta = eta_seconds(self.durations, left, self.executor.slots)
            logging.info(
                "[%d/%d] %s: %s, in %s | elapsed %s, ETA %s",
                len(self.durations), self.total, r.trial.name, result, format_duration(seconds),
                format_duration(time.monotonic() - self.start),
                format_duration(eta) if left else "done",
            )  # fmt: skip


def run(plan: Plan, workdir: str, launcher: list[str], executor: executors.Executor) -> None:
    """Runs the trials of `plan` not yet finished (the workdir is `prepare`d) on `executor`.

    `launcher` is [python, launch.py, extra flags...]. Raises KeyboardInterrupt
    if interrupted, SweepFailedError if a trial failed; writes the report either way.
    """
    sched = _Scheduler(plan, workdir, launcher, executor)
    for trial in plan.trials:
        if trial not in sched.todo:
            logging.info("skip   %s: finished in an earlier run", trial.name)
    logging.info(
        "Sweep of %d trials in %s: %d to run, %d at a time",
        len(plan.trials), workdir, len(sched.todo), executor.slots,
    )  # fmt: skip
    with interrupts.deferred(exit_on_second=False) as received:
        forwarded = 0
        while (sched.todo and not received) or sched.running:
            for signum in received[forwarded:]:  # Each signal once to every running trial.
                sched.forward(signum)
            forwarded = len(received)
            if not received:
                sched.start_trials()
            sched.collect_finished(interrupted=bool(received))
            time.sleep(_POLL_SECONDS)
    rows = report.write(workdir, plan.metric, plan.mode)
    table = report.markdown(rows, plan.metric, plan.mode)
    logging.info("Results in %s:\n%s", workdir, table)
    if received:
        raise KeyboardInterrupt(
            f"sweep interrupted; stopped {', '.join(sched.stopped) or 'no running trial'}, "
            f"{len(sched.todo)} not started; rerun the same command to resume"
        )
    if sched.failed:
        raise SweepFailedError(
            f"{len(sched.failed)} of {len(plan.trials)} trials failed: "
            f"{'; '.join(sched.failed)}; see {os.path.join(workdir, '<trial>', files.STDERR)}"
        )


def make_executor(
    kind: str,
    num_trials: int,
    platform: str | None = None,
    parallel: int | None = None,
    declared_slurm: dict[str, Any] | None = None,
    slurm_flags: dict[str, Any] | None = None,
) -> executors.Executor:
    """The executor of --sweep_executor=`kind` ('local' or 'slurm').

    local: `parallel` trials at a time (None: one per accelerator, or 1 on CPU).
    slurm: `parallel` jobs submitted at a time (None: all `num_trials` at once; SLURM
    queues them); their settings are Sweep.slurm (`declared_slurm`) overridden by the
    --slurm_* flags given (`slurm_flags`: partition, gpus_per_trial, time_min, and
    --slurm_extra's keys), see executors.slurm_settings.
    """
    if kind == "local":
        return executors.Local(devices.slot_envs(platform, parallel)[1])
    if kind != "slurm":
        raise ConfigError(
            f"--sweep_executor={kind!r} is invalid: expected one of {executors.EXECUTORS}"
        )
    settings = executors.slurm_settings(declared_slurm, slurm_flags or {})
    slots = num_trials if parallel is None else parallel
    return executors.Submitit("slurm", slots, executors.slurm_parameters(settings))


def run_sweep(
    config_spec: str,
    config: ml_collections.ConfigDict,
    cli_overrides: dict[str, Any],
    workdir: str,
    launcher: list[str],
    platform: str | None = None,
    parallel: int | None = None,
    executor: str = "local",
    slurm_flags: dict[str, Any] | None = None,
) -> None:
    """Trains every trial of the experiment file's `get_sweep(arg)` not yet finished.

    `config_spec` is --config ('path.py[:arg]') and `config` its config;
    `cli_overrides` the sweep's --config.* flags, which go to every trial;
    `launcher` the command that trains one trial ([python, launch.py, flags...]),
    to which each trial's --config, --workdir and overrides are added.
    `executor`, `parallel` and `slurm_flags`: where and how many at a time (`make_executor`).
    Logs to workdir/sweep.log; raises as `run` does.
    """
    sweep = spec.load(config_spec)
    trials = make_plan(config_spec, config, sweep, cli_overrides)
    runner = make_executor(
        executor, len(trials.trials), platform, parallel, sweep.slurm, slurm_flags
    )
    prepare(trials, workdir)
    text_log.log_to_file(os.path.join(workdir, "sweep.log"))
    run(trials, workdir, launcher, runner)


def write_report(config_spec: str, workdir: str) -> str:
    """Rebuilds results.csv, .md and .png from the trial folders; returns the table."""
    sweep = spec.load(config_spec)
    rows = report.write(workdir, sweep.metric, sweep.mode)
    logging.info("Wrote results.csv, results.md and results.png in %s", workdir)
    return report.markdown(rows, sweep.metric, sweep.mode)
