"""Tests for sweeps/runner.py with stand-ins for launch.py: what each trial's end records,
reruns, signals forwarded to running trials, and the ETA.

The sweeps that train through launch.py are in test_run_sweep.py.
"""

import math
import os
import signal
import sys
import threading
from pathlib import Path

import pytest
from sweeps.sweep_helpers import METRIC, plan_of, read_csv, read_json, signal_when_ready

from s2s_jax.sweeps import executors, files
from s2s_jax.sweeps import plan as sweep_plan
from s2s_jax.sweeps import runner as sweep_runner

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

# A stand-in for a long trial: says it is ready, then waits for SIGTERM and exits 130 as
# launch.py does when interrupted.
_FAKE_LONG_TRIAL = """
import os, signal, sys, time
args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
def stop(signum, frame):
    print("stopped by signal", signum, flush=True)
    sys.exit(130)
signal.signal(signal.SIGTERM, stop)
open(os.path.join(args["workdir"], "ready"), "w").close()
time.sleep(20)
sys.exit("error: never interrupted")
"""


def test_runner_records_crashes_and_nan_and_goes_on(tmp_path: Path) -> None:
    """A crash and a NaN loss fail with their error; the others run; a rerun retries the failed."""
    (tmp_path / "fake.py").write_text(_FAKE_TRIAL)
    plan = plan_of("model.hidden_size", [1, 2, 3, 4], {"model": {"hidden_size": 8}})
    workdir = str(tmp_path / "sweep")
    sweep_plan.prepare(plan, workdir)
    launcher = [sys.executable, str(tmp_path / "fake.py")]
    envs = [{"SLOT": "0"}, {"SLOT": "1"}]
    with pytest.raises(sweep_runner.SweepFailedError, match="2 of 4 trials failed") as e:
        sweep_runner.run(plan, workdir, launcher, executors.Local(envs))
    assert "hidden_size=1 (exit 1: error: boom)" in str(e.value)
    assert "hidden_size=2 (exit 0: NaN in final_eval.json: best_eval.loss)" in str(e.value)
    status = {t.name: read_json(os.path.join(workdir, t.name, "status.json")) for t in plan.trials}
    assert [status[n]["status"] for n in sorted(status)] == ["failed", "failed", "ok", "ok"]
    assert status["hidden_size=1"]["exit_code"] == 1 and "boom" in status["hidden_size=1"]["error"]
    assert {s["env"]["SLOT"] for s in status.values()} == {"0", "1"}  # Both slots were used.
    rows = read_csv(os.path.join(workdir, "results.csv"))
    assert [(r["trial"], r[METRIC]) for r in rows[:2]] == [
        ("hidden_size=4", "0.4"),
        ("hidden_size=3", "0.3"),
    ]

    with pytest.raises(sweep_runner.SweepFailedError, match="2 of 4 trials failed"):
        sweep_runner.run(
            plan, workdir, launcher, executors.Local(envs)
        )  # Retries the failed ones only.
    attempts = {n: read_json(os.path.join(workdir, n, "status.json"))["attempts"] for n in status}
    assert attempts == {
        "hidden_size=1": 2,
        "hidden_size=2": 2,
        "hidden_size=3": 1,
        "hidden_size=4": 1,
    }
    log = (tmp_path / "sweep" / "hidden_size=1" / "stderr.log").read_text()
    assert log.count("error: boom") == 2  # Appended, not overwritten.


def test_runner_forwards_a_signal_and_stops(tmp_path: Path) -> None:
    """SIGTERM reaches the running trial, which is marked interrupted; no new trial starts."""
    (tmp_path / "long.py").write_text(_FAKE_LONG_TRIAL)
    plan = plan_of("seed", [0, 1], {"seed": 0})
    workdir = str(tmp_path / "sweep")
    sweep_plan.prepare(plan, workdir)
    launcher = [sys.executable, str(tmp_path / "long.py")]
    handler = signal.getsignal(signal.SIGTERM)
    done = threading.Event()
    sender = threading.Thread(
        target=signal_when_ready, args=(tmp_path / "sweep" / "seed=0" / "ready", done, 20)
    )
    sender.start()
    try:
        with pytest.raises(KeyboardInterrupt, match="stopped seed=0, 1 not started"):
            sweep_runner.run(plan, workdir, launcher, executors.Local([{}]))
    finally:
        done.set()
        sender.join()
    status = read_json(os.path.join(workdir, "seed=0", files.STATUS))
    assert (status["status"], status["exit_code"], status["attempts"]) == ("interrupted", 130, 1)
    stdout = (tmp_path / "sweep" / "seed=0" / files.STDOUT).read_text()
    assert f"stopped by signal {int(signal.SIGTERM)}" in stdout
    assert not os.path.exists(os.path.join(workdir, "seed=1", files.STATUS))  # Never started.
    assert signal.getsignal(signal.SIGTERM) == handler  # The runner's handler is gone again.
    assert [(r["trial"], r["status"]) for r in read_csv(os.path.join(workdir, "results.csv"))] == [
        ("seed=0", "interrupted"),
        ("seed=1", "pending"),
    ]


def test_eta_is_the_mean_duration_per_slot() -> None:
    """Time left = mean duration x remaining trials / parallel slots; unknown before any ends."""
    assert sweep_runner.eta_seconds([10.0, 20.0], 4, 2) == 15.0 * 4 / 2
    assert sweep_runner.eta_seconds([6.0], 3, 0) == 18.0  # No slots counts as one.
    assert math.isnan(sweep_runner.eta_seconds([], 3, 1))


@pytest.mark.parametrize(
    ("status", "has_final", "expected"),
    [("ok", True, True), ("ok", False, False), ("failed", True, False), (None, True, False)],
)
def test_is_finished_needs_ok_and_final_eval(
    tmp_path: Path, status: str | None, has_final: bool, expected: bool
) -> None:
    """A trial is skipped on a rerun only with an 'ok' status.json and a final_eval.json."""
    if status is not None:
        files.write_json(str(tmp_path / files.STATUS), {"status": status})
    if has_final:
        files.write_json(str(tmp_path / files.FINAL_EVAL), {"best_eval": {"exact_match": 1.0}})
    assert sweep_runner.is_finished(str(tmp_path)) is expected
