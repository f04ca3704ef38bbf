"""Tests for sweeps/keep.py: a sweep's records are copied without checkpoints or logs, and a
sweep run on them trains only the trials that were not kept."""

import os
import shutil
import sys
from pathlib import Path

import pytest
from sweeps.sweep_helpers import plan_of, read_json

from s2s_jax.errors import UserError
from s2s_jax.sweeps import executors, files, keep
from s2s_jax.sweeps import plan as sweep_plan
from s2s_jax.sweeps import runner as sweep_runner

# A stand-in for launch.py: hidden_size 1 crashes; the others leave what a training run
# leaves (records, a checkpoint, a log). Each run is counted in W/../runs.txt.
_FAKE_TRIAL = """
import json, os, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
workdir, hidden = args["workdir"], int(args["config.model.hidden_size"])
with open(os.path.join(workdir, "..", "..", "runs.txt"), "a") as f:
    f.write(os.path.basename(workdir) + "\\n")
if hidden == 1:
    sys.exit("error: boom")
os.makedirs(os.path.join(workdir, "checkpoints", "4"))
open(os.path.join(workdir, "checkpoints", "4", "params"), "w").write("weights")
open(os.path.join(workdir, "train.log"), "w").write("step 4\\n")
open(os.path.join(workdir, "metrics.jsonl"), "w").write('{"step": 4, "eval": {"x": 1}}\\n')
final_eval = {"best_eval": {"exact_match": hidden / 10}}
json.dump(final_eval, open(os.path.join(workdir, "final_eval.json"), "w"))
"""


def _sweep(tmp_path: Path, launcher_script: str = _FAKE_TRIAL) -> tuple[sweep_plan.Plan, str]:
    """A sweep of hidden sizes 1-3 run in tmp_path/a/sweep: hidden_size=1 failed."""
    (tmp_path / "fake.py").write_text(launcher_script)
    plan = plan_of("model.hidden_size", [1, 2, 3], {"model": {"hidden_size": 8}})
    workdir = str(tmp_path / "a" / "sweep")
    sweep_plan.prepare(plan, workdir)
    with pytest.raises(sweep_runner.SweepFailedError, match="1 of 3 trials failed"):
        sweep_runner.run(
            plan, workdir, [sys.executable, str(tmp_path / "fake.py")], executors.Local([{}])
        )
    return plan, workdir


def _runs(workdir: str | Path) -> list[str]:
    """The trials the fake launch.py started in `workdir`, in order."""
    return (Path(workdir).parent / "runs.txt").read_text().split()


def test_keep_copies_the_records_of_finished_trials_only(tmp_path: Path) -> None:
    _, workdir = _sweep(tmp_path)
    out = tmp_path / "kept"
    assert keep.keep(workdir, str(out)) == ["hidden_size=2", "hidden_size=3"]
    assert sorted(os.listdir(out)) == [
        "hidden_size=2", "hidden_size=3", "results.csv", "results.md", "sweep.json",
    ]  # fmt: skip
    assert sorted(os.listdir(out / "hidden_size=3")) == [
        "final_eval.json", "metrics.jsonl", "overrides.json", "status.json",
    ]  # fmt: skip
    for name in ("sweep.json", "results.md", "hidden_size=3/status.json"):
        assert (out / name).read_bytes() == (Path(workdir) / name).read_bytes()
    assert read_json(out / "hidden_size=2" / files.FINAL_EVAL)["best_eval"]["exact_match"] == 0.2


def test_a_sweep_on_kept_records_trains_only_the_others(tmp_path: Path) -> None:
    plan, workdir = _sweep(tmp_path)
    keep.keep(workdir, str(tmp_path / "kept"))
    elsewhere = tmp_path / "b" / "sweep"
    shutil.copytree(tmp_path / "kept", elsewhere)
    sweep_plan.prepare(plan, str(elsewhere))  # The kept sweep.json is the same sweep.
    with pytest.raises(sweep_runner.SweepFailedError, match="1 of 3 trials failed"):
        sweep_runner.run(
            plan, str(elsewhere), [sys.executable, str(tmp_path / "fake.py")], executors.Local([{}])
        )
    assert _runs(workdir) == ["hidden_size=1", "hidden_size=2", "hidden_size=3"]
    assert _runs(elsewhere) == ["hidden_size=1"]  # The kept trials were skipped.


def test_keep_again_adds_newly_finished_trials(tmp_path: Path) -> None:
    _, workdir = _sweep(tmp_path)
    out = str(tmp_path / "kept")
    keep.keep(workdir, out)
    failed = os.path.join(workdir, "hidden_size=1")  # Rerun, and finished this time.
    files.write_json(os.path.join(failed, files.FINAL_EVAL), {"best_eval": {"exact_match": 0.1}})
    files.write_json(os.path.join(failed, files.STATUS), {"status": files.OK})
    assert keep.keep(workdir, out) == ["hidden_size=1", "hidden_size=2", "hidden_size=3"]


def test_bad_places_are_named(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=f"{tmp_path / 'none' / 'sweep.json'} is missing"):
        keep.keep(str(tmp_path / "none"), str(tmp_path / "kept"))
    _, workdir = _sweep(tmp_path)
    with pytest.raises(UserError, match="is the sweep's own workdir"):
        keep.keep(workdir, workdir + "/")
    other = tmp_path / "other"
    other.mkdir()
    (other / "sweep.json").write_text('{"experiment": "y.py"}')
    with pytest.raises(UserError, match=f"{other / 'sweep.json'} records another sweep"):
        keep.keep(workdir, str(other))
    assert not (other / "results.md").exists()  # Nothing was copied.
