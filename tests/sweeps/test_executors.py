"""Tests for sweeps/executors.py: trials as submitit jobs, through the same runner as local ones.

submitit's local cluster runs the very job path a SLURM job runs (the pickled `run_trial`
in a job process of its own) as processes of this host: the slow test trains launch.py
trials through it; a stand-in for launch.py keeps the signal test free of JAX. SLURM's own
commands are stand-ins on PATH that record what they were asked.
"""

import os
import re
import signal
import stat
import sys
import threading
from pathlib import Path

import pytest
from helpers import SUBPROCESS_XLA_FLAGS
from sweeps.sweep_helpers import METRIC, TINY, plan_of, read_csv, read_json, signal_when_ready

from experiments import generated
from s2s_jax import sweeps
from s2s_jax.errors import ConfigError
from s2s_jax.sweeps import executors, files
from s2s_jax.sweeps import plan as sweep_plan
from s2s_jax.sweeps import runner as sweep_runner

# A long trial that stops on SIGINT as launch.py does (exit 130), and ignores SIGTERM, so
# that only the SIGINT that run_trial sends can stop it.
_FAKE_LONG_TRIAL = """
import os, signal, sys, time
args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
def stop(signum, frame):
    print("stopped by signal", signum, flush=True)
    sys.exit(130)
signal.signal(signal.SIGINT, stop)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
open(os.path.join(args["workdir"], "ready"), "w").close()
time.sleep(30)
sys.exit("error: never interrupted")
"""


def _local_cluster(slots: int) -> executors.Submitit:
    return executors.Submitit("local", slots, {"gpus_per_node": 0, "timeout_min": 5})


def test_local_cluster_passes_a_signal_on_to_the_trial(tmp_path: Path) -> None:
    """SIGTERM to the sweep reaches the job, which stops its trial with SIGINT: the trial
    exits 130 and is recorded as interrupted; the next trial never starts."""
    (tmp_path / "long.py").write_text(_FAKE_LONG_TRIAL)
    plan = plan_of("seed", [0, 1], {"seed": 0})
    workdir = tmp_path / "sweep"
    sweep_plan.prepare(plan, str(workdir))
    done = threading.Event()
    sender = threading.Thread(
        target=signal_when_ready, args=(workdir / "seed=0" / "ready", done, 30)
    )
    sender.start()
    try:
        with pytest.raises(KeyboardInterrupt, match="stopped seed=0, 1 not started"):
            launcher = [sys.executable, str(tmp_path / "long.py")]
            sweep_runner.run(plan, str(workdir), launcher, _local_cluster(1))
    finally:
        done.set()
        sender.join()
    status = read_json(workdir / "seed=0" / files.STATUS)
    assert (status["status"], status["exit_code"]) == ("interrupted", 130)
    stdout = (workdir / "seed=0" / files.STDOUT).read_text()
    assert f"stopped by signal {int(signal.SIGINT)}" in stdout
    assert not (workdir / "seed=1" / files.STATUS).exists()


def _fake_slurm(bin_dir: Path, record: Path) -> None:
    """srun, sbatch (which records its script and answers with job 4242), scancel, and sacct
    (every job asked about is in the state that bin_dir/state holds)."""
    bin_dir.mkdir()
    scripts = {
        "srun": "exit 0",
        "sbatch": f'cat "$1" >> {record}; echo "Submitted batch job 4242"',
        "scancel": f'echo "scancel $*" >> {record}',
        "sacct": 'echo "JobID|State|NodeList"; while [ $# -gt 0 ]; do [ "$1" = -j ] && '
        f'echo "$2|$(cat {bin_dir}/state)|node1"; shift; done',
    }
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_slurm_job_asks_for_the_settings_and_is_cancelled_gently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sbatch script of a trial names its partition, GPUs, time limit and extra settings,
    the sweep's settings over Sweep.slurm's; an interrupt signals the job, and drops it if
    it still waits in the queue."""
    record = tmp_path / "record.txt"
    _fake_slurm(tmp_path / "bin", record)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    declared = {"partition": "cpu", "time_min": 30, "account": "proj", "qos": "low"}
    flags = {"partition": "gpu", "gpus_per_trial": 2, "time_min": None, "qos": "high"}
    settings = executors.slurm_settings(declared, flags)
    assert settings == {"partition": "gpu", "gpus_per_trial": 2, "time_min": 30,
                        "account": "proj", "qos": "high"}  # fmt: skip
    executor = executors.Submitit("slurm", 4, executors.slurm_parameters(settings))
    trial_dir = tmp_path / "sweep" / "seed=0"
    trial_dir.mkdir(parents=True)
    job = executor.start(["python", "launch.py"], str(trial_dir), 0)
    assert job.info["job_id"] == "4242"
    script = record.read_text()
    for line in (
        "--partition=gpu",
        "--gpus-per-node=2",
        "--time=30",
        "--account=proj",
        "--qos=high",
        "--job-name=seed=0",
        f"--output={trial_dir}/slurm/%j_0_log.out",
    ):
        assert f"#SBATCH {line}\n" in script, line  # fmt: skip
    job.interrupt(signal.SIGTERM)
    assert record.read_text().endswith("scancel --signal=TERM 4242\nscancel --state=PENDING 4242\n")

    with pytest.raises(ConfigError, match=r"refused by submitit.*Unknown argument 'partitoin'"):
        executors.Submitit("slurm", 1, {"slurm_partitoin": "gpu"})
    monkeypatch.setenv("PATH", str(tmp_path))  # No srun.
    with pytest.raises(ConfigError, match="--sweep_executor=slurm needs a SLURM cluster"):
        executors.Submitit("slurm", 1, {})


def test_a_job_left_by_an_earlier_sweep_is_waited_for_not_submitted_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 'running' trial whose SLURM job still runs, or has left its result, is attached to:
    the rerun records that result and submits nothing; a job that ended without one (here
    cancelled) is not attached to, so the trial starts anew."""
    import cloudpickle

    record = tmp_path / "record.txt"
    _fake_slurm(tmp_path / "bin", record)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    plan = plan_of("seed", [0], {"seed": 0})
    workdir = tmp_path / "sweep"
    sweep_plan.prepare(plan, str(workdir))
    trial = workdir / "seed=0"
    (trial / "slurm").mkdir()
    (trial / files.STDERR).write_text("==== attempt 1\n")
    running = {"status": "running", "attempts": 1, "job_id": "7", "wall_seconds": 0.0,
               "job_folder": str(trial / "slurm"), "stderr_offset": 15}  # fmt: skip
    files.write_json(str(trial / files.STATUS), running)
    executor = executors.Submitit("slurm", 1, {})
    (tmp_path / "bin" / "state").write_text("RUNNING")
    job = executor.attach(running)
    assert job is not None and job.poll() is None  # Still running: waited for.

    files.write_json(str(trial / files.FINAL_EVAL), {"best_eval": {"exact_match": 1.0}})
    (trial / "slurm" / "7_0_result.pkl").write_bytes(
        cloudpickle.dumps(("success", {"exit_code": 0, "signal": None, "seconds": 42.0}))
    )
    sweep_runner.run(plan, str(workdir), ["python", "launch.py"], executor)
    status = read_json(trial / files.STATUS)
    assert (status["status"], status["attempts"], status["wall_seconds"]) == ("ok", 1, 42.0)
    assert not record.exists()  # Nothing submitted, nothing cancelled.

    (tmp_path / "bin" / "state").write_text("CANCELLED")
    assert executor.attach({**running, "job_id": "8"}) is None


@pytest.mark.parametrize(
    ("declared", "flags", "message"),
    [
        (None, {"gpus_per_trial": -1}, r"--slurm_gpus_per_trial: gpus_per_trial=-1 is invalid"),
        ({"time_min": 0}, {}, r"Sweep.slurm: time_min=0 is invalid: expected an integer > 0"),
        ({"partition": ""}, {"partition": None}, r"Sweep.slurm: partition='' is invalid"),
    ],
)
def test_bad_slurm_settings_name_where_they_came_from(declared, flags, message) -> None:
    with pytest.raises(ConfigError, match=message):
        executors.slurm_settings(declared, flags)


def test_defaults_and_extra_flags_become_submitit_parameters() -> None:
    """Unset settings take SLURM_DEFAULTS; --slurm_extra values read as Python literals."""
    extra = executors.parse_extra(["cpus_per_task=8", "account=proj", "exclusive=True"])
    assert extra == {"cpus_per_task": 8, "account": "proj", "exclusive": True}
    parameters = executors.slurm_parameters(executors.slurm_settings(None, extra))
    assert parameters == {
        "gpus_per_node": 1, "timeout_min": 60, "slurm_cpus_per_task": 8,
        "slurm_account": "proj", "slurm_exclusive": True,
    }  # fmt: skip
    cpu_only = executors.slurm_settings({"gpus_per_trial": 0}, {})
    assert executors.slurm_parameters(cpu_only) == {"timeout_min": 60}  # No --gpus-per-node.
    with pytest.raises(ConfigError, match=r"--slurm_extra='qos': expected KEY=VALUE"):
        executors.parse_extra(["qos"])


@pytest.mark.slow
def test_local_cluster_trains_records_a_failure_and_skips_finished_trials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """launch.py trials as jobs of submitit's local cluster: one trains to its final eval, one
    fails with its error; the report ranks them; a rerun leaves the finished one untouched
    and runs the failed one again."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    config = f"{root}/experiments/generated.py:reverse"
    sweep = sweeps.Sweep(trials=[{"model.hidden_size": 8}, {"model.hidden_size": -1}],
                         metric=METRIC, shared={**TINY, "model.num_layers": 1})  # fmt: skip
    plan = sweep_plan.make_plan(config, generated.get_config("reverse"), sweep, {})
    workdir = tmp_path / "sweep"
    sweep_plan.prepare(plan, str(workdir))
    monkeypatch.setenv("XLA_FLAGS", SUBPROCESS_XLA_FLAGS)  # One CPU device, as run_launch has.
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    launcher = [sys.executable, f"{root}/launch.py"]
    expected = "1 of 2 trials failed: hidden_size=-1 (exit 1: error: config.model.hidden_size=-1"
    with pytest.raises(sweep_runner.SweepFailedError, match=re.escape(expected)):
        sweep_runner.run(plan, str(workdir), launcher, _local_cluster(2))
    ok, bad = workdir / "hidden_size=8", workdir / "hidden_size=-1"
    status = read_json(bad / files.STATUS)
    assert (status["status"], status["exit_code"]) == ("failed", 1)
    assert "config.model.hidden_size=-1 is invalid" in status["error"]
    assert read_json(ok / files.STATUS)["status"] == "ok"
    for trial in (ok, bad):  # Each ran as its own job, its files in the trial's folder.
        job_id = read_json(trial / files.STATUS)["job_id"]
        assert read_json(trial / files.STATUS)["job_folder"] == str(trial / "slurm")
        assert any(p.name.startswith(f"{job_id}_") for p in (trial / "slurm").iterdir())
        assert f"==== job {job_id} on " in (trial / files.STDOUT).read_text()
    final = read_json(ok / files.FINAL_EVAL)
    assert read_json(ok / "config.json")["train"]["num_steps"] == TINY["train.num_steps"]
    rows = read_csv(workdir / "results.csv")
    assert [(r["trial"], r["status"], r[METRIC]) for r in rows] == [
        ("hidden_size=8", "ok", repr(final["best_eval"]["exact_match"])),
        ("hidden_size=-1", "failed", ""),
    ]
    assert (workdir / "results.png").is_file()

    before = (os.stat(ok / files.FINAL_EVAL).st_mtime_ns, (ok / files.STDOUT).read_text())
    with pytest.raises(sweep_runner.SweepFailedError, match=re.escape(expected)):
        sweep_runner.run(plan, str(workdir), launcher, _local_cluster(2))
    assert (os.stat(ok / files.FINAL_EVAL).st_mtime_ns, (ok / files.STDOUT).read_text()) == before
    assert read_json(ok / files.STATUS)["attempts"] == 1
    assert read_json(bad / files.STATUS)["attempts"] == 2
