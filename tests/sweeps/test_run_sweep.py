"""End-to-end sweeps through `launch.py --sweep` (sweeps.run_sweep) and `--mode=sweep_report`
(sweeps.write_report).

The quick tests stop before any trial trains. The slow ones train tiny trials (a few steps
of a model with hidden size 8 or 16) as launch.py subprocesses; most of their cost is JAX
starting up and compiling in each subprocess, so they share the session's persistent
compilation cache (tests/conftest.py),
their configs are aligned to reuse each other's compiled steps (a constant learning rate,
so the train step does not depend on the number of steps), and the tests that only read
or copy a finished sweep share one run of it.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import SUBPROCESS_XLA_FLAGS, run_launch
from sweeps import sweep_helpers
from sweeps.sweep_helpers import METRIC, read_csv, read_json

from s2s_jax import sweeps

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = [f"--config.{key}={value}" for key, value in sweep_helpers.TINY.items()]
# The sweep of the shared run: 2 trials over 2 fields, run 2 at a time. Its Sweep.shared sets
# train.num_steps, which TINY overrides from the command line.
GRID_TRIALS = sweeps.zipped({"model.hidden_size": [8, 16], "optim.learning_rate": [3e-3, 1e-2]})
GRID_SHARED = {"model.num_layers": 1, "train.num_steps": 400}


def _launch(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run_launch(*args, check=check, timeout=240)


def _assert_one_line_error(proc: subprocess.CompletedProcess, expected: str) -> None:
    assert proc.returncode != 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    matching = [line for line in proc.stderr.splitlines() if expected in line]
    assert len(matching) == 1 and matching[0].startswith("error:"), proc.stderr[-3000:]


def _sweep_config(path: Path, trials: list[dict[str, Any]], shared: dict | None = None) -> str:
    """An experiment file at `path`: generated.py's get_config, with a get_sweep of `trials`."""
    path.write_text(
        "from experiments.generated import get_config  # noqa: F401\n"
        "from s2s_jax import sweeps\n\n\n"
        "def get_sweep(arg=None):\n"
        f"    return sweeps.Sweep(trials={trials!r}, metric={METRIC!r}, shared={shared or {}!r})\n"
    )
    return f"--config={path}:reverse"


# --- Mistakes stop the sweep before any trial starts (quick) ----------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--sweep", "--mode=eval"], "--sweep trains its trials; drop --mode=eval"),
        (["--sweep_parallel=2"], "--sweep_parallel needs --sweep"),
        (["--sweep", "--sweep_parallel=0"], "--sweep_parallel=0 is invalid"),
        (["--sweep", "--config.model.hidden_size=3"], "--config.model.hidden_size is swept"),
        (["--mode=sweep_report"], "holds no sweep trials"),
        (["--slurm_partition=gpu"], "--slurm_partition needs --sweep --sweep_executor=slurm"),
        (["--sweep", "--sweep_executor=slurm"], "--sweep_executor=slurm needs a SLURM cluster"),
    ],
    ids=[
        "sweep-with-eval",
        "parallel-without-sweep",
        "zero-parallel",
        "cli-sets-swept",
        "no-trials",
        "slurm-flag-without-slurm",
        "slurm-without-cluster",
    ],
)
def test_sweep_user_errors_are_one_line(tmp_path: Path, args: list[str], expected: str) -> None:
    """Mistakes in a sweep command stop before any trial, with one line naming them."""
    config = "--config=experiments/generated.py:reverse"
    proc = _launch(config, *args, f"--workdir={tmp_path / 'sweep'}", check=False)
    _assert_one_line_error(proc, expected)
    assert not (tmp_path / "sweep").exists()


def test_sweep_without_get_sweep_is_one_line(tmp_path: Path) -> None:
    """A config file that declares no sweep names itself and the missing get_sweep."""
    (tmp_path / "plain.py").write_text(
        "from experiments.generated import get_config  # noqa: F401\n"
    )
    proc = _launch(f"--config={tmp_path / 'plain.py'}", "--sweep", check=False)
    _assert_one_line_error(proc, "plain.py declares no get_sweep(arg)")


# --- Sweeps that train (slow) -----------------------------------------------------------------


@pytest.fixture(scope="module")
def grid_sweep(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess, list[str]]:
    """One run of GRID_TRIALS, tiny, 2 at a time: its workdir, process and command line.

    Tests that change the workdir copy it first.
    """
    root = tmp_path_factory.mktemp("sweep")
    config = _sweep_config(root / "grid.py", GRID_TRIALS, GRID_SHARED)
    workdir = root / "grid"
    command = [config, "--sweep", "--sweep_parallel=2", *TINY, f"--workdir={workdir}"]
    return workdir, _launch(*command), command


@pytest.mark.slow
def test_sweep_runs_every_trial_and_tabulates(grid_sweep) -> None:
    """A folder per trial, each with its final eval; results.csv has their values, best first."""
    workdir, proc, _ = grid_sweep
    rows = read_csv(workdir / "results.csv")
    assert len(rows) == len(GRID_TRIALS) == 2
    assert list(rows[0]) == [
        "trial", "model.hidden_size", "optim.learning_rate", METRIC, "status", "wall_seconds",
    ]  # fmt: skip
    assert {(r["model.hidden_size"], r["optim.learning_rate"]) for r in rows} == {
        ("8", "0.003"), ("16", "0.01"),
    }  # fmt: skip
    for row in rows:
        trial = workdir / row["trial"]
        final = read_json(trial / "final_eval.json")
        assert float(row[METRIC]) == final["best_eval"]["exact_match"]
        assert row["status"] == "ok" and float(row["wall_seconds"]) > 0
        overrides = read_json(trial / "overrides.json")
        assert overrides["swept"] == {
            "model.hidden_size": int(row["model.hidden_size"]),
            "optim.learning_rate": float(row["optim.learning_rate"]),
        }
        assert overrides["shared"]["train.num_steps"] == 4  # The command line beat Sweep.shared.
        assert overrides["shared"]["model.num_layers"] == 1  # From Sweep.shared.
        config = read_json(trial / "config.json")
        assert config["model"]["hidden_size"] == overrides["swept"]["model.hidden_size"]
        assert config["train"]["num_steps"] == 4
    metrics = [float(r[METRIC]) for r in rows]
    assert metrics == sorted(metrics, reverse=True)
    assert (workdir / "results.md").read_text().count("\n| ") == 1 + len(rows)  # Header, rows.
    assert (workdir / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert proc.stderr.count("ETA") == len(rows)  # One progress line per finished trial.


@pytest.mark.slow
def test_rerun_skips_finished_trials(grid_sweep) -> None:
    """Rerunning the same command starts no trial: outputs and logs are untouched."""
    workdir, _, command = grid_sweep
    trials = [workdir / r["trial"] for r in read_csv(workdir / "results.csv")]

    def outputs(t: Path) -> tuple:
        return (
            os.stat(t / "final_eval.json").st_mtime_ns,
            (t / "metrics.jsonl").read_text(),
            (t / "stdout.log").read_text(),
        )

    before = {t: outputs(t) for t in trials}
    proc = _launch(*command)
    assert proc.stderr.count("finished in an earlier run") == len(trials) == 2
    for t in trials:
        assert outputs(t) == before[t], t


@pytest.mark.slow
def test_sweep_report_rebuilds_the_same_table(grid_sweep, tmp_path: Path) -> None:
    """--mode=sweep_report rebuilds results.csv byte for byte from the trial folders."""
    source, _, command = grid_sweep
    workdir = tmp_path / "grid"
    shutil.copytree(source, workdir)
    written = (workdir / "results.csv").read_bytes()
    for name in ("results.csv", "results.md", "results.png", "sweep.json"):
        (workdir / name).unlink()
    proc = _launch(command[0], "--mode=sweep_report", f"--workdir={workdir}")
    assert (workdir / "results.csv").read_bytes() == written
    assert (workdir / "results.md").read_text() == proc.stdout
    assert (workdir / "results.png").is_file()


@pytest.mark.slow
def test_changed_definition_is_refused(grid_sweep, tmp_path: Path) -> None:
    """An edited overrides.json, or other shared overrides, stop the rerun with a clear line."""
    source, _, command = grid_sweep
    workdir = tmp_path / "grid"
    shutil.copytree(source, workdir)
    command = [*command[:-1], f"--workdir={workdir}"]
    trial = "hidden_size=16,learning_rate=0.01"
    overrides = read_json(workdir / trial / "overrides.json")
    overrides["swept"]["model.hidden_size"] = 4
    (workdir / trial / "overrides.json").write_text(json.dumps(overrides))
    proc = _launch(*command, check=False)
    _assert_one_line_error(proc, f"trial {trial}:")
    assert "model.hidden_size: saved 4, now 16" in proc.stderr

    proc = _launch(*command, "--config.train.num_steps=20", check=False)
    _assert_one_line_error(proc, "sweep.json records another sweep definition")
    assert "shared train.num_steps: saved 4, now 20" in proc.stderr
    assert (
        "stdout.log" not in os.listdir(workdir / trial)
        or "attempt 2" not in (workdir / trial / "stdout.log").read_text()
    )


@pytest.mark.slow
def test_failed_trial_is_recorded_and_the_others_run(
    tmp_path: Path,
) -> None:
    """A trial with hidden_size=-1 fails first; the next still runs; the sweep exits non-zero."""
    config = _sweep_config(
        tmp_path / "bad.py", [{"model.hidden_size": -1}, {"model.hidden_size": 8}]
    )
    workdir = tmp_path / "sweep"
    proc = _launch(config, "--sweep", *TINY, f"--workdir={workdir}",
                   check=False)  # fmt: skip
    _assert_one_line_error(proc, "1 of 2 trials failed: hidden_size=-1 (exit 1: error: "
                                 "config.model.hidden_size=-1 is invalid")  # fmt: skip
    status = read_json(workdir / "hidden_size=-1" / "status.json")
    assert status["status"] == "failed" and status["exit_code"] == 1
    assert "config.model.hidden_size=-1 is invalid" in status["error"]
    assert (
        "config.model.hidden_size=-1 is invalid"
        in (workdir / "hidden_size=-1" / "stderr.log").read_text()
    )
    assert read_json(workdir / "hidden_size=8" / "status.json")["status"] == "ok"
    assert (workdir / "hidden_size=8" / "final_eval.json").is_file()
    rows = read_csv(workdir / "results.csv")
    assert [(r["trial"], r["status"], r[METRIC] == "") for r in rows] == [
        ("hidden_size=8", "ok", False), ("hidden_size=-1", "failed", True),
    ]  # fmt: skip


def _child(pid: int) -> int:
    """The one child process of `pid` (Linux /proc)."""
    with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
        children = [int(p) for p in f.read().split()]
    assert len(children) == 1, children
    return children[0]


def _pending(pid: int, signum: int) -> bool:
    """Whether `signum` waits to be delivered to process `pid` (Linux /proc)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        mask = next(int(line.split()[1], 16) for line in f if line.startswith("ShdPnd:"))
    return bool(mask >> (signum - 1) & 1)


def _wait_for(condition, what: str, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert proc.poll() is None, f"the sweep ended while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.mark.slow
def test_interrupted_sweep_resumes(tmp_path: Path) -> None:
    """SIGTERM mid-trial: the trial saves a checkpoint and stops; a rerun resumes it from there.

    Once the first trial has saved its first checkpoint, it is paused (SIGSTOP) until the
    sweep has forwarded SIGTERM to it, so that it cannot finish before the signal arrives.
    """
    first, second = "seed=0", "seed=1"
    config = _sweep_config(tmp_path / "two.py", [{"seed": 0}, {"seed": 1}])
    workdir = tmp_path / "sweep"
    num_steps, every = 500, 50
    schedule = {
        "--config.train.num_steps": num_steps,
        "--config.train.log_every_steps": every,
        "--config.train.eval_every_steps": num_steps,
        "--config.train.checkpoint_every_steps": every,
    }
    tiny = [a for a in TINY if a.split("=")[0] not in schedule]
    args = [config, "--sweep", *tiny, "--config.model.hidden_size=8", f"--workdir={workdir}"]
    args += [f"{flag}={value}" for flag, value in schedule.items()]
    env = {**os.environ, "XLA_FLAGS": SUBPROCESS_XLA_FLAGS, "JAX_PLATFORMS": "cpu"}
    sweep = subprocess.Popen(
        [sys.executable, "launch.py", *args], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    trial = None
    try:
        checkpoints = workdir / first / "checkpoints"
        _wait_for(
            lambda: checkpoints.is_dir() and any(p.name.isdigit() for p in checkpoints.iterdir()),
            "the first checkpoint", sweep,
        )  # fmt: skip
        trial = _child(sweep.pid)
        os.kill(trial, signal.SIGSTOP)
        with open(f"/proc/{trial}/cmdline", encoding="utf-8") as f:
            assert f"--workdir={workdir / first}" in f.read().split("\0"), "the trial ended early"
        sweep.send_signal(signal.SIGTERM)
        _wait_for(lambda: _pending(trial, signal.SIGTERM), "the forwarded SIGTERM", sweep, 30)
        os.kill(trial, signal.SIGCONT)
        _, stderr = sweep.communicate(timeout=120)
    finally:
        if sweep.poll() is None:  # A failed assertion above: stop what this test started.
            if trial is not None:
                os.kill(trial, signal.SIGKILL)
            sweep.kill()
            sweep.communicate()
    assert sweep.returncode == 130, stderr[-3000:]
    assert "stopped: sweep interrupted" in stderr
    status = read_json(workdir / first / "status.json")
    assert status["status"] == "interrupted", status
    assert not (workdir / first / "final_eval.json").exists()
    assert not (workdir / second / "status.json").exists()  # Never started.
    saved = max(int(p.name) for p in checkpoints.iterdir() if p.name.isdigit())
    assert 0 < saved < num_steps

    _launch(*args)
    assert f"Resuming from step {saved}" in (workdir / first / "train.log").read_text()
    for name in (first, second):
        assert read_json(workdir / name / "status.json")["status"] == "ok"
    assert read_json(workdir / first / "status.json")["attempts"] == 2
    with open(workdir / first / "metrics.jsonl", encoding="utf-8") as f:
        steps = [line["step"] for line in map(json.loads, f) if line["split"] == "train"]
    assert steps[0] == every and steps[-1] == num_steps
    assert steps.count(every) == 1  # Not restarted from scratch.
    assert len(read_csv(workdir / "results.csv")) == 2
