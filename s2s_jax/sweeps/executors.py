"""Where a sweep's trials run: subprocesses of this host, or SLURM jobs through submitit.

The runner (runner.py) keeps all of a trial's bookkeeping (skipping finished trials,
status.json, the attempt headers of its logs, the report); an executor only starts a
trial's command and says, once it has ended, how (`Exit`). Both append the trial's
stdout and stderr to W/<trial>/stdout.log and stderr.log.

- `Local`: one subprocess of the sweep per trial, `slots` at a time; slot i's trial gets
  slot i's environment additions (its share of the host's accelerators, devices.py).
- `Submitit`: one submitit job per trial, its files in W/<trial>/slurm. With
  cluster='slurm' it is an sbatch job (partition, GPUs, time limit... from `slurm_parameters`);
  cluster='local' is submitit's LocalExecutor, the same job path run as processes of this
  host (the tests use it). The job runs `run_trial`: the trial's command as a subprocess,
  in the sweep's working directory, and returns its exit code. The first SIGTERM, SIGINT or
  SIGUSR2 that reaches the job (a cancel or preemption; SLURM's warning `signal_delay_s`
  before the time limit, as submitit asks for it) goes on to the trial as one SIGINT: it saves
  a checkpoint and exits 130, is recorded as interrupted, and a rerun of the sweep resumes it.
"""

import ast
import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import tempfile
import time
from typing import Any, Protocol

from s2s_jax.errors import ConfigError
from s2s_jax.sweeps import files

EXECUTORS = ("local", "slurm")
# The SLURM settings of a trial (Sweep.slurm, --slurm_* flags) that are not sbatch parameters.
SLURM_DEFAULTS: dict[str, Any] = {"partition": None, "gpus_per_trial": 1, "time_min": 60}
_RESULT_GRACE_SECONDS = 15.0  # A SLURM job's result file may show late on a shared disk.
_SLURM_POLL_SECONDS = 1.0
_JOB_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR2)


@dataclasses.dataclass(frozen=True)
class Exit:
    """How a trial ended."""

    code: int | None  # Its exit code; None if it gave none (not submitted, job killed).
    signalled: bool = False  # The job was signalled (cancelled, preempted, near its time limit).
    seconds: float | None = None  # How long it ran; None: the sweep's clock counts.
    error: str = ""  # Why there is no exit code.


class Started(Protocol):
    """A started trial."""

    info: dict[str, Any]  # Where it runs, for status.json.

    def poll(self) -> Exit | None:
        """How it ended; None while it runs (or waits in a queue)."""

    def interrupt(self, signum: int) -> None:
        """Asks it to save a checkpoint and stop."""


class Executor(Protocol):
    slots: int  # How many trials run (or wait in a queue) at once.

    def start(self, argv: list[str], trial_dir: str, slot: int) -> Started:
        """Starts `argv` for the trial in `trial_dir`, in slot `slot` (< slots)."""

    def attach(self, status: dict[str, Any]) -> Started | None:
        """The trial that an earlier run of the sweep started (its 'running' status.json) if
        it still runs or has a result; None if the trial is to start anew."""


def _open_logs(trial_dir: str) -> tuple[Any, Any]:
    """The trial's stdout.log and stderr.log, opened for appending."""
    out, err = (os.path.join(trial_dir, n) for n in (files.STDOUT, files.STDERR))
    return open(out, "ab"), open(err, "ab")


class _Process:
    def __init__(self, proc: subprocess.Popen, env: dict[str, str]):
        self.proc, self.info = proc, {"env": env}

    def poll(self) -> Exit | None:
        code = self.proc.poll()
        return None if code is None else Exit(code)

    def interrupt(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signum)


class Local:
    """Trials as subprocesses of the sweep; the trial in slot i gets `slot_envs[i]` added."""

    def __init__(self, slot_envs: list[dict[str, str]]):
        self.slot_envs, self.slots = slot_envs, len(slot_envs)

    def start(self, argv: list[str], trial_dir: str, slot: int) -> _Process:
        env = self.slot_envs[slot]
        out, err = _open_logs(trial_dir)
        with out, err:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env={**os.environ, **env},
                start_new_session=True,  # Signals reach it only through the sweep.
            )
        return _Process(proc, env)

    def attach(self, status: dict[str, Any]) -> None:
        return None  # A subprocess of an earlier sweep is out of reach.


def run_trial(argv: list[str], trial_dir: str, cwd: str) -> dict[str, Any]:
    """The body of a trial's job: `argv` in `cwd`, its output appended to the trial's logs.

    Returns {"exit_code", "signal" (the first one the job got, or None), "seconds"}.
    """
    start = time.monotonic()
    got: list[int] = []
    out, err = _open_logs(trial_dir)
    with out, err:
        job = os.environ.get("SLURM_JOB_ID") or os.environ.get("SUBMITIT_LOCAL_JOB_ID", "?")
        out.write(f"==== job {job} on {socket.gethostname()}\n".encode())
        out.flush()
        # SLURM may signal every process of the job: the trial inherits "ignore" for USR2
        # (whose default action would kill it) and hears of it from here, as a SIGINT.
        previous = {s: signal.getsignal(s) for s in _JOB_SIGNALS}
        signal.signal(signal.SIGUSR2, signal.SIG_IGN)
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=cwd,
            start_new_session=True,
        )  # fmt: skip

        def stop(signum: int, frame: object) -> None:
            got.append(signum)
            if len(got) == 1:  # A SIGTERM sent to the whole job reached the trial too: one
                with contextlib.suppress(ProcessLookupError):  # SIGINT more still saves.
                    proc.send_signal(signal.SIGINT)

        for s in _JOB_SIGNALS:
            signal.signal(s, stop)
        try:
            code = proc.wait()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
    return {"exit_code": code, "signal": got[0] if got else None,
            "seconds": time.monotonic() - start}  # fmt: skip


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


class _NotSubmitted:
    def __init__(self, error: str):
        self.info, self.error = {}, error

    def poll(self) -> Exit:
        return Exit(None, error=self.error)

    def interrupt(self, signum: int) -> None:
        pass


class _Job:
    """A submitted trial: its submitit job."""

    def __init__(self, job: Any, cluster: str):
        self.job, self.cluster = job, cluster
        self.info = {"job_id": job.job_id, "job_folder": str(job.paths.folder)}
        self.next_check = 0.0
        self.done_at: float | None = None

    def poll(self) -> Exit | None:
        from submitit.core.utils import FailedJobError, UncompletedJobError

        now = time.monotonic()
        if self.cluster == "slurm" and now < self.next_check:
            return None  # Each check reads the shared disk, and may call sacct.
        self.next_check = now + _SLURM_POLL_SECONDS
        if not self.job.done():
            return None
        self.done_at = self.done_at or now
        grace = _RESULT_GRACE_SECONDS if self.cluster == "slurm" else 0.0
        if not self.job.paths.result_pickle.exists():
            if now - self.done_at < grace:
                return None
            return Exit(None, error=f"job {self.job.job_id} ended without a result "
                        f"(state {self.job.state}); see {self.job.paths.stderr}")  # fmt: skip
        try:
            result = self.job.result()
        except FailedJobError as e:  # run_trial raised: the last line of its traceback.
            trace = str(e).split("-" * 22)
            error = _last_line(trace[1] if len(trace) > 2 else str(e))
            return Exit(None, error=f"job {self.job.job_id} failed: {error}")
        except UncompletedJobError as e:
            return Exit(None, error=f"job {self.job.job_id}: {_last_line(str(e))}")
        return Exit(result["exit_code"], result["signal"] is not None, result["seconds"])

    def interrupt(self, signum: int) -> None:
        if self.cluster == "local":  # The job's controller passes SIGTERM on to the job.
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(self.job.job_id), signal.SIGTERM)
            return
        # A running job: SIGTERM to its processes (it ends as it likes, no kill after it).
        # A job still in the queue: removed.
        for args in (["--signal=TERM"], ["--state=PENDING"]):
            subprocess.run(["scancel", *args, self.job.job_id], capture_output=True, check=False)
        # submitit asks sacct about its jobs ever more rarely (up to every 10 minutes); as for
        # a new job, it asks again within seconds, to see the cancelled ones end.
        self.job.watcher.register_job(self.job.job_id)


class Submitit:
    """Each trial a submitit job on `cluster` ('slurm', or 'local' for tests), `slots` at a time.

    `parameters` go to the executor's update_parameters (see `slurm_parameters`); they
    are checked here, before any trial is submitted.
    """

    def __init__(self, cluster: str, slots: int, parameters: dict[str, Any]):
        if slots < 1:
            raise ConfigError(f"--sweep_parallel={slots} is invalid: expected an integer >= 1")
        self.cluster, self.slots, self.parameters = cluster, slots, parameters
        with tempfile.TemporaryDirectory() as folder:
            self._executor(folder, "check")

    def _executor(self, folder: str, name: str) -> Any:
        import submitit

        try:
            executor = submitit.AutoExecutor(folder=folder, cluster=self.cluster)
        except RuntimeError as e:  # submitit's SLURM executor looks for srun.
            raise ConfigError(
                f"--sweep_executor=slurm needs a SLURM cluster: srun and sbatch on PATH ({e})"
            ) from e
        try:
            executor.update_parameters(name=name, **self.parameters)
        except (AssertionError, NameError, TypeError, ValueError) as e:
            raise ConfigError(
                f"SLURM settings (Sweep.slurm, --slurm_* flags) {self.parameters} are refused "
                f"by submitit: {_last_line(str(e).split('Known executors')[0])}"
            ) from e
        return executor

    def attach(self, status: dict[str, Any]) -> _Job | None:
        """A SLURM job of an earlier run of the sweep, so that it is not submitted twice."""
        if self.cluster != "slurm" or "job_id" not in status:
            return None
        from submitit.slurm.slurm import SlurmJob

        job = SlurmJob(folder=status["job_folder"], job_id=status["job_id"])
        if not job.paths.result_pickle.exists() and job.done(force_check=True):
            return None  # It ended without a result (cancelled, killed): start it anew.
        return _Job(job, self.cluster)

    def start(self, argv: list[str], trial_dir: str, slot: int) -> _Job | _NotSubmitted:
        name = os.path.basename(trial_dir)
        executor = self._executor(os.path.join(trial_dir, "slurm"), name)
        try:
            return _Job(executor.submit(run_trial, argv, trial_dir, os.getcwd()), self.cluster)
        except (RuntimeError, OSError) as e:  # sbatch refused it.
            return _NotSubmitted(f"not submitted: {_last_line(str(e))}")


def parse_extra(items: list[str]) -> dict[str, Any]:
    """--slurm_extra=KEY=VALUE flags as a dict; values as Python literals where they parse."""
    extra = {}
    for item in items:
        key, eq, text = item.partition("=")
        if not eq or not key.strip().isidentifier():
            raise ConfigError(
                f"--slurm_extra={item!r}: expected KEY=VALUE with an sbatch parameter as "
                "submitit names it, e.g. account=myproj, qos=high, cpus_per_task=8, mem_gb=32"
            )
        try:
            extra[key.strip()] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            extra[key.strip()] = text
    return extra


def slurm_settings(declared: dict[str, Any] | None, flags: dict[str, Any]) -> dict[str, Any]:
    """SLURM_DEFAULTS, then the sweep's `Sweep.slurm`, then the flags that were given."""
    given = {k: v for k, v in flags.items() if v is not None}
    settings = {**SLURM_DEFAULTS, **(declared or {}), **given}
    checks = {
        "partition": ("a partition name", lambda v: v is None or (isinstance(v, str) and v)),
        "gpus_per_trial": ("an integer >= 0", lambda v: type(v) is int and v >= 0),
        "time_min": ("an integer > 0 (minutes)", lambda v: type(v) is int and v > 0),
    }
    for key, (expected, ok) in checks.items():
        if not ok(settings[key]):
            where = f"--slurm_{key}" if key in given else "Sweep.slurm"
            raise ConfigError(f"{where}: {key}={settings[key]!r} is invalid: expected {expected}")
    return settings


def slurm_parameters(settings: dict[str, Any]) -> dict[str, Any]:
    """submitit's update_parameters arguments for `slurm_settings`: its generic names for GPUs
    (none asked for with 0) and time; the others, sbatch parameters by submitit's names,
    prefixed 'slurm_'."""
    parameters: dict[str, Any] = {"timeout_min": settings["time_min"]}
    if settings["gpus_per_trial"]:
        parameters["gpus_per_node"] = settings["gpus_per_trial"]
    if settings["partition"]:
        parameters["slurm_partition"] = settings["partition"]
    extra = {k: v for k, v in settings.items() if k not in SLURM_DEFAULTS}
    return {**parameters, **{f"slurm_{k}": v for k, v in extra.items()}}
