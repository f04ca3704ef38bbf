"""Tests for sweeps: the declaration helpers, trial names, devices, and `launch.py --sweep` runs."""

import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time

import ml_collections
import pytest
from helpers import run_launch

from s2s_jax import sweeps
from s2s_jax.errors import ConfigError
from s2s_jax.sweeps import devices as sweep_devices
from s2s_jax.sweeps import plan as sweep_plan
from s2s_jax.sweeps import report as sweep_report
from s2s_jax.sweeps import runner as sweep_runner
from s2s_jax.sweeps import spec as sweep_spec

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPERIMENTS = os.path.join(ROOT, "experiments")
METRIC = "best_eval.exact_match"
# Shrinks every trial of a sweep of experiments/generated.py:reverse to a few seconds.
TINY = [
    "--config.task.max_len=6",
    "--config.task.num_symbols=6",
    "--config.task.num_eval=32",
    "--config.model.embed_size=8",
    "--config.train.batch_size=16",
    "--config.train.num_steps=10",
    "--config.train.log_every_steps=5",
    "--config.train.eval_every_steps=10",
    "--config.train.checkpoint_every_steps=5",
    "--config.eval.batch_size=32",
]
GRID = ["--config=experiments/generated.py:reverse", "--sweep", "--sweep_parallel=2", *TINY]


# --- Declaring a sweep -------------------------------------------------------------------------


def test_product_is_the_cartesian_product():
    """Axes and whole sweeps combine into every combination, the first one varying slowest."""
    grid = sweeps.product({"model.hidden_size": [32, 64]}, seed=[0, 1])
    assert grid == [
        {"model.hidden_size": 32, "seed": 0},
        {"model.hidden_size": 32, "seed": 1},
        {"model.hidden_size": 64, "seed": 0},
        {"model.hidden_size": 64, "seed": 1},
    ]
    pairs = sweeps.zipped({"optim.learning_rate": [1e-3, 1e-2], "optim.warmup_steps": [0, 100]})
    assert len(sweeps.product({"model.cell": ["lstm", "gru", "rnn"]}, pairs)) == 6
    with pytest.raises(ValueError, match="'seed' is set by two"):
        sweeps.product({"seed": [0]}, seed=[1])
    with pytest.raises(ValueError, match="give a list of values"):
        sweeps.product({"model.cell": "lstm"})


def test_zipped_pairs_equal_length_axes():
    """zipped takes the i-th value of each axis; axes of different lengths are an error."""
    trials = sweeps.zipped({"optim.learning_rate": [1e-3, 1e-2]}, seed=[7, 8])
    assert trials == [
        {"optim.learning_rate": 1e-3, "seed": 7},
        {"optim.learning_rate": 1e-2, "seed": 8},
    ]
    with pytest.raises(ValueError, match=r"equally long.*\[2, 3\]"):
        sweeps.zipped({"a": [1, 2], "b": [1, 2, 3]})


def test_random_search_is_deterministic_and_in_range():
    """Same draws for a seed, others for another, all in range; log-uniform spreads by decade."""
    dists = {
        "optim.learning_rate": sweeps.log_uniform(1e-4, 1e-1),
        "model.dropout_rate": sweeps.uniform(0.0, 0.5),
        "model.cell": sweeps.choice(["lstm", "gru"]),
    }
    trials = sweeps.random_search(300, 0, dists)
    assert trials == sweeps.random_search(300, 0, dists)
    assert trials != sweeps.random_search(300, 1, dists)
    lrs = [t["optim.learning_rate"] for t in trials]
    assert all(1e-4 <= x <= 1e-1 for x in lrs)
    # Log-uniform: each of the three decades holds about a third of the draws.
    for lo in (1e-4, 1e-3, 1e-2):
        assert 70 <= sum(lo <= x < 10 * lo for x in lrs) <= 130
    assert all(0.0 <= t["model.dropout_rate"] <= 0.5 for t in trials)
    assert {t["model.cell"] for t in trials} == {"lstm", "gru"}
    assert all(x == float(f"{x:.3g}") for x in lrs)  # Rounded to 3 significant digits.
    with pytest.raises(ValueError, match="0 < lo < hi"):
        sweeps.log_uniform(0.0, 1.0)


def test_trial_names_are_unique_stable_and_safe():
    """Names read as key=value, use full keys only where short ones clash, and never repeat."""
    trials = sweeps.product({"model.hidden_size": [32], "optim.learning_rate": [1e-3, 1e-5]})
    assert sweep_spec.trial_names(trials) == [
        "hidden_size=32,learning_rate=0.001",
        "hidden_size=32,learning_rate=1e-05",
    ]
    clash = [{"model.dropout_rate": 0.1, "data.dropout_rate": 0.2}]
    assert sweep_spec.trial_names(clash) == ["model.dropout_rate=0.1,data.dropout_rate=0.2"]
    repeated = [{"model.cell": "a/b"}, {"model.cell": "a_b"}, {"model.cell": "A_B"}]
    assert sweep_spec.trial_names(repeated) == ["cell=a_b", "cell=a_b~2", "cell=A_B~3"]
    long = [{"data.train": "x" * 300}, {"data.train": "x" * 299 + "y"}]
    names = sweep_spec.trial_names(long)
    assert len(set(names)) == 2 and all(len(n) <= 100 for n in names)
    assert sweep_spec.trial_names(long) == names  # Stable.
    assert sweep_spec.trial_names([{}]) == ["default"]


def test_slot_devices_and_their_environment():
    """Accelerators are split into equal contiguous shares, each shown to its trial by env vars."""
    assert sweep_devices.slot_devices(0, 3) == [[], [], []]  # CPU: trials share the host.
    assert sweep_devices.slot_devices(4, 4) == [[0], [1], [2], [3]]
    assert sweep_devices.slot_devices(8, 2) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    with pytest.raises(ConfigError, match="--sweep_parallel=3 but this host has 2"):
        sweep_devices.slot_devices(2, 3)
    assert sweep_devices.device_env("cpu", [], 0) == {}
    assert sweep_devices.device_env("gpu", [2, 3], 1) == {"CUDA_VISIBLE_DEVICES": "2,3"}
    assert sweep_devices.device_env("gpu", [1], 1, visible="4,6") == {"CUDA_VISIBLE_DEVICES": "6"}
    tpu = [sweep_devices.device_env("tpu", [i], i) for i in range(2)]
    assert [e["TPU_VISIBLE_CHIPS"] for e in tpu] == ["0", "1"]
    assert tpu[0]["TPU_CHIPS_PER_PROCESS_BOUNDS"] == "1,1,1"
    assert tpu[0]["TPU_PROCESS_PORT"] != tpu[1]["TPU_PROCESS_PORT"]
    with pytest.raises(ConfigError, match="3 TPU chips"):
        sweep_devices.device_env("tpu", [0, 1, 2], 0)


def test_experiment_sweeps_load(tmp_path):
    """Both experiment files declare their sweep; a file without get_sweep is a clear error."""
    grid = sweep_spec.load("experiments/generated.py:reverse")
    assert len(grid.trials) == 4 and grid.metric == METRIC and grid.mode == "max"
    en_ko = sweep_spec.load(os.path.join(EXPERIMENTS, "en_ko.py:smoke"))
    assert {(t["model.cell"], t["model.decoder"]) for t in en_ko.trials} == {
        ("lstm", "basic"), ("lstm", "context"), ("gru", "basic"), ("gru", "context"),
    }  # fmt: skip
    (tmp_path / "plain.py").write_text("def get_config():\n    return None\n")
    with pytest.raises(ConfigError, match=r"plain\.py declares no get_sweep"):
        sweep_spec.load(str(tmp_path / "plain.py"))


def test_plan_checks_fields_and_command_line_conflicts():
    """Unknown or swept fields set twice are refused before any trial runs."""
    config = ml_collections.ConfigDict({"model": {"hidden_size": 8, "cell": "lstm"}, "seed": 0})
    sweep = sweeps.Sweep(trials=sweeps.product(seed=[0, 1]), metric=METRIC)
    plan = sweep_plan.make_plan("x.py:a", config, sweep, {"model.cell": "gru"})
    assert [t.name for t in plan.trials] == ["seed=0", "seed=1"]
    assert plan.shared == {"model.cell": "gru"} and plan.experiment == "x.py:a"
    command = sweep_plan.command(plan, plan.trials[1], "/w", ["py", "launch.py", "--platform=cpu"])
    assert command == [
        "py", "launch.py", "--platform=cpu", "--config=x.py:a", "--workdir=/w/seed=1",
        "--config.model.cell=gru", "--config.seed=1",
    ]  # fmt: skip
    with pytest.raises(ConfigError, match=r"--config\.seed is swept"):
        sweep_plan.make_plan("x.py", config, sweep, {"seed": 3})
    bad = sweeps.Sweep(trials=[{"model.hiden_size": 3}], metric=METRIC)
    with pytest.raises(ConfigError, match=r"'model\.hiden_size', which is no config field"):
        sweep_plan.make_plan("x.py", config, bad, {})


def test_probe_finds_no_accelerator_here(monkeypatch):
    """Without JAX_PLATFORMS, a JAX subprocess is asked; this machine has only a CPU: 1 slot."""
    monkeypatch.delenv("JAX_PLATFORMS", raising=False)
    assert sweep_devices.slot_envs(None, None) == ("cpu", [{}])
    assert sweep_devices.slot_envs("cpu", 3) == ("cpu", [{}, {}, {}])


# A stand-in for launch.py: hidden_size 1 crashes, 2 ends with a NaN loss, others succeed.
_FAKE_TRIAL = """
import json, os, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
hidden = int(args["config.model.hidden_size"])
print("slot", os.environ["SLOT"])
if hidden == 1:
    sys.exit("error: boom")
loss = float("nan") if hidden == 2 else 1.0
with open(os.path.join(args["workdir"], "final_eval.json"), "w") as f:
    json.dump({"best_eval": {"exact_match": hidden / 10, "loss": loss}}, f)
"""


def test_runner_records_crashes_and_nan_and_goes_on(tmp_path):
    """A crash and a NaN loss fail with their error; the others run; a rerun retries the failed."""
    (tmp_path / "fake.py").write_text(_FAKE_TRIAL)
    config = ml_collections.ConfigDict({"model": {"hidden_size": 8}})
    sweep = sweeps.Sweep(trials=sweeps.product({"model.hidden_size": [1, 2, 3, 4]}), metric=METRIC)
    plan = sweep_plan.make_plan("x.py", config, sweep, {})
    workdir = str(tmp_path / "sweep")
    sweep_plan.prepare(plan, workdir)
    launcher = [sys.executable, str(tmp_path / "fake.py")]
    envs = [{"SLOT": "0"}, {"SLOT": "1"}]
    with pytest.raises(sweep_runner.SweepFailedError, match="2 of 4 trials failed") as e:
        sweep_runner.run(plan, workdir, launcher, envs)
    assert "hidden_size=1 (exit 1: error: boom)" in str(e.value)
    assert "hidden_size=2 (exit 0: NaN in final_eval.json: best_eval.loss)" in str(e.value)
    status = {t.name: _read_json(os.path.join(workdir, t.name, "status.json")) for t in plan.trials}
    assert [status[n]["status"] for n in sorted(status)] == ["failed", "failed", "ok", "ok"]
    assert status["hidden_size=1"]["exit_code"] == 1 and "boom" in status["hidden_size=1"]["error"]
    assert {s["env"]["SLOT"] for s in status.values()} == {"0", "1"}  # Both slots were used.
    rows = _read_csv(os.path.join(workdir, "results.csv"))
    assert [(r["trial"], r[METRIC]) for r in rows[:2]] == [
        ("hidden_size=4", "0.4"),
        ("hidden_size=3", "0.3"),
    ]

    with pytest.raises(sweep_runner.SweepFailedError, match="2 of 4 trials failed"):
        sweep_runner.run(plan, workdir, launcher, envs)  # Retries the failed ones only.
    attempts = {n: _read_json(os.path.join(workdir, n, "status.json"))["attempts"] for n in status}
    assert attempts == {
        "hidden_size=1": 2,
        "hidden_size=2": 2,
        "hidden_size=3": 1,
        "hidden_size=4": 1,
    }
    log = (tmp_path / "sweep" / "hidden_size=1" / "stderr.log").read_text()
    assert log.count("error: boom") == 2  # Appended, not overwritten.


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--sweep", "--mode=eval"], "--sweep trains its trials; drop --mode=eval"),
        (["--sweep_parallel=2"], "--sweep_parallel needs --sweep"),
        (["--sweep", "--sweep_parallel=0"], "--sweep_parallel=0 is invalid"),
        (["--sweep", "--config.model.hidden_size=3"], "--config.model.hidden_size is swept"),
        (["--mode=sweep_report"], "holds no sweep trials"),
    ],
    ids=[
        "sweep-with-eval",
        "parallel-without-sweep",
        "zero-parallel",
        "cli-sets-swept",
        "no-trials",
    ],
)
def test_sweep_user_errors_are_one_line(tmp_path, args, expected):
    """Mistakes in a sweep command stop before any trial, with one line naming them."""
    config = "--config=experiments/generated.py:reverse"
    proc = _launch(config, *args, f"--workdir={tmp_path / 'sweep'}", check=False)
    _assert_one_line_error(proc, expected)
    assert not (tmp_path / "sweep").exists()


def test_sweep_without_get_sweep_is_one_line(tmp_path):
    """A config file that declares no sweep names itself and the missing get_sweep."""
    (tmp_path / "plain.py").write_text(
        "from experiments.generated import get_config  # noqa: F401\n"
    )
    proc = _launch(f"--config={tmp_path / 'plain.py'}", "--sweep", check=False)
    _assert_one_line_error(proc, "plain.py declares no get_sweep(arg)")


def _row(name, metric, **swept):
    return sweep_report.Row(name, swept, "ok" if metric is not None else "failed", metric, 1.0)


def test_report_sorts_by_metric_and_picks_log_axes():
    """Best first in the declared direction, unscored last; log x only over >= 2 decades."""
    rows = [
        _row("a", 0.5, lr=1e-4, hidden=32, cell="gru"),
        _row("b", None, lr=1e-3, hidden=64, cell="lstm"),
        _row("c", 0.9, lr=1e-2, hidden=64, cell="lstm"),
        _row("d", math.nan, lr=1e-2, hidden=32, cell="gru"),
    ]
    assert [r.name for r in sweep_report.sort_rows(rows, "max")] == ["c", "a", "b", "d"]
    assert [r.name for r in sweep_report.sort_rows(rows, "min")] == ["a", "c", "b", "d"]
    fig = sweep_report.figure(rows, METRIC, "max")
    scales = [(ax.get_xlabel(), ax.get_xscale()) for ax in fig.axes if ax.get_visible()]
    assert scales == [("lr", "log"), ("hidden", "linear"), ("cell", "linear")]
    assert not sweep_report.use_log_x([1e-3, 5e-2])  # Under two decades.
    assert not sweep_report.use_log_x([0.0, 1.0, 100.0])  # Not all positive.


# --- Running sweeps through launch.py ----------------------------------------------------------


def _launch(*args, check=True, timeout=240):
    return run_launch(*args, check=check, timeout=timeout)


def _read_csv(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _sweep_config(path, trials, extra=""):
    """An experiment file at `path`: generated.py's get_config, with a get_sweep of `trials`."""
    path.write_text(
        "from experiments.generated import get_config  # noqa: F401\n"
        "from s2s_jax import sweeps\n\n\n"
        "def get_sweep(arg=None):\n"
        f"    return sweeps.Sweep(trials={trials!r}, metric={METRIC!r}{extra})\n"
    )
    return f"--config={path}:reverse"


@pytest.fixture(scope="module")
def grid_sweep(tmp_path_factory):
    """generated.py's 4-trial sweep (hidden size x learning rate), tiny, 2 at a time."""
    workdir = tmp_path_factory.mktemp("sweep") / "grid"
    proc = _launch(*GRID, f"--workdir={workdir}")
    return workdir, proc


@pytest.mark.slow
def test_sweep_runs_every_trial_and_tabulates(grid_sweep):
    """4 trial folders, each with its final eval; results.csv has their values, best first."""
    workdir, proc = grid_sweep
    rows = _read_csv(workdir / "results.csv")
    assert len(rows) == 4
    assert list(rows[0]) == [
        "trial", "model.hidden_size", "optim.learning_rate", METRIC, "status", "wall_seconds",
    ]  # fmt: skip
    assert {(r["model.hidden_size"], r["optim.learning_rate"]) for r in rows} == {
        ("32", "0.003"), ("32", "0.01"), ("64", "0.003"), ("64", "0.01"),
    }  # fmt: skip
    for row in rows:
        trial = workdir / row["trial"]
        final = _read_json(trial / "final_eval.json")
        assert float(row[METRIC]) == final["best_eval"]["exact_match"]
        assert row["status"] == "ok" and float(row["wall_seconds"]) > 0
        overrides = _read_json(trial / "overrides.json")
        assert overrides["swept"] == {
            "model.hidden_size": int(row["model.hidden_size"]),
            "optim.learning_rate": float(row["optim.learning_rate"]),
        }
        assert overrides["shared"]["train.num_steps"] == 10  # The command line beat Sweep.shared.
        assert (
            _read_json(trial / "config.json")["model"]["hidden_size"]
            == overrides["swept"]["model.hidden_size"]
        )
    metrics = [float(r[METRIC]) for r in rows]
    assert metrics == sorted(metrics, reverse=True)
    assert (workdir / "results.md").read_text().count("\n| ") == 5  # Header and 4 rows.
    assert (workdir / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert proc.stderr.count("ETA") == 4  # One progress line per finished trial.


@pytest.mark.slow
def test_rerun_skips_finished_trials(grid_sweep):
    """Rerunning the same command starts no trial: outputs and logs are untouched."""
    workdir, _ = grid_sweep
    trials = [workdir / r["trial"] for r in _read_csv(workdir / "results.csv")]
    before = {
        t: (os.stat(t / "final_eval.json").st_mtime_ns, (t / "metrics.jsonl").read_text(),
            (t / "stdout.log").read_text())
        for t in trials
    }  # fmt: skip
    proc = _launch(*GRID, f"--workdir={workdir}")
    assert proc.stderr.count("finished in an earlier run") == 4
    for t in trials:
        after = (
            os.stat(t / "final_eval.json").st_mtime_ns,
            (t / "metrics.jsonl").read_text(),
            (t / "stdout.log").read_text(),
        )
        assert after == before[t], t


@pytest.mark.slow
def test_sweep_report_rebuilds_the_same_table(grid_sweep, tmp_path):
    """--mode=sweep_report rebuilds results.csv byte for byte from the trial folders."""
    workdir = tmp_path / "grid"
    shutil.copytree(grid_sweep[0], workdir)
    written = (workdir / "results.csv").read_bytes()
    for name in ("results.csv", "results.md", "results.png", "sweep.json"):
        (workdir / name).unlink()
    proc = _launch("--config=experiments/generated.py:reverse", "--mode=sweep_report",
                   f"--workdir={workdir}")  # fmt: skip
    assert (workdir / "results.csv").read_bytes() == written
    assert (workdir / "results.md").read_text() == proc.stdout
    assert (workdir / "results.png").is_file()


@pytest.mark.slow
def test_changed_definition_is_refused(grid_sweep, tmp_path):
    """An edited overrides.json, or other shared overrides, stop the rerun with a clear line."""
    workdir = tmp_path / "grid"
    shutil.copytree(grid_sweep[0], workdir)
    trial = "hidden_size=32,learning_rate=0.01"
    overrides = _read_json(workdir / trial / "overrides.json")
    overrides["swept"]["model.hidden_size"] = 16
    (workdir / trial / "overrides.json").write_text(json.dumps(overrides))
    proc = _launch(*GRID, f"--workdir={workdir}", check=False)
    _assert_one_line_error(proc, f"trial {trial}:")
    assert "model.hidden_size: saved 16, now 32" in proc.stderr

    proc = _launch(*GRID, "--config.train.num_steps=20", f"--workdir={workdir}", check=False)
    _assert_one_line_error(proc, "sweep.json records another sweep definition")
    assert "shared train.num_steps: saved 10, now 20" in proc.stderr
    assert (
        "stdout.log" not in os.listdir(workdir / trial)
        or "attempt 2" not in (workdir / trial / "stdout.log").read_text()
    )


def _assert_one_line_error(proc, expected):
    assert proc.returncode != 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    matching = [line for line in proc.stderr.splitlines() if expected in line]
    assert len(matching) == 1 and matching[0].startswith("error:"), proc.stderr[-3000:]


@pytest.mark.slow
def test_failed_trial_is_recorded_and_the_others_run(tmp_path):
    """A trial with hidden_size=-1 fails first; the next still runs; the sweep exits non-zero."""
    config = _sweep_config(
        tmp_path / "bad.py", [{"model.hidden_size": -1}, {"model.hidden_size": 8}]
    )
    workdir = tmp_path / "sweep"
    proc = _launch(config, "--sweep", *TINY, f"--workdir={workdir}", check=False)
    _assert_one_line_error(proc, "1 of 2 trials failed: hidden_size=-1 (exit 1: error: "
                                 "config.model.hidden_size=-1 is invalid")  # fmt: skip
    status = _read_json(workdir / "hidden_size=-1" / "status.json")
    assert status["status"] == "failed" and status["exit_code"] == 1
    assert "config.model.hidden_size=-1 is invalid" in status["error"]
    assert (
        "config.model.hidden_size=-1 is invalid"
        in (workdir / "hidden_size=-1" / "stderr.log").read_text()
    )
    assert _read_json(workdir / "hidden_size=8" / "status.json")["status"] == "ok"
    assert (workdir / "hidden_size=8" / "final_eval.json").is_file()
    rows = _read_csv(workdir / "results.csv")
    assert [(r["trial"], r["status"], r[METRIC] == "") for r in rows] == [
        ("hidden_size=8", "ok", False), ("hidden_size=-1", "failed", True),
    ]  # fmt: skip


@pytest.mark.slow
def test_interrupted_sweep_resumes(tmp_path):
    """SIGTERM mid-trial: the trial saves a checkpoint and stops; a rerun resumes it from there."""
    long, short = "num_steps=5000", "num_steps=10"
    config = _sweep_config(
        tmp_path / "long.py", [{"train.num_steps": 5000}, {"train.num_steps": 10}]
    )
    workdir = tmp_path / "sweep"
    schedule = {
        "--config.train.log_every_steps": 250,
        "--config.train.eval_every_steps": 5000,
        "--config.train.checkpoint_every_steps": 250,
    }
    tiny = [a for a in TINY if a.split("=")[0] not in [*schedule, "--config.train.num_steps"]]
    args = [config, "--sweep", *tiny, "--config.model.hidden_size=8", f"--workdir={workdir}"]
    args += [f"{flag}={value}" for flag, value in schedule.items()]
    env = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu"}
    sweep = subprocess.Popen(
        [sys.executable, "launch.py", *args], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    checkpoints = workdir / long / "checkpoints"
    deadline = time.monotonic() + 120
    while not (checkpoints.is_dir() and any(p.name.isdigit() for p in checkpoints.iterdir())):
        assert sweep.poll() is None and time.monotonic() < deadline, sweep.communicate()[1][-3000:]
        time.sleep(0.05)
    sweep.send_signal(signal.SIGTERM)
    _, stderr = sweep.communicate(timeout=120)
    assert sweep.returncode == 130, stderr[-3000:]
    assert "stopped: sweep interrupted" in stderr
    status = _read_json(workdir / long / "status.json")
    assert status["status"] == "interrupted", status
    assert not (workdir / long / "final_eval.json").exists()
    assert not (workdir / short / "status.json").exists()  # Never started.
    saved = max(int(p.name) for p in checkpoints.iterdir() if p.name.isdigit())
    assert 0 < saved < 5000

    _launch(*args)
    assert f"Resuming from step {saved}" in (workdir / long / "train.log").read_text()
    for trial in (long, short):
        assert _read_json(workdir / trial / "status.json")["status"] == "ok"
    status = _read_json(workdir / long / "status.json")
    assert status["attempts"] == 2
    with open(workdir / long / "metrics.jsonl", encoding="utf-8") as f:
        steps = [line["step"] for line in map(json.loads, f) if line["split"] == "train"]
    assert steps[0] == 250 and steps[-1] == 5000
    assert steps.count(250) == 1  # Not restarted from scratch.
    assert len(_read_csv(workdir / "results.csv")) == 2
