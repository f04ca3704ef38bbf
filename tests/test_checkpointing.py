"""Tests for s2s_jax.checkpointing: exact save/restore, exact resume, clear errors."""

import glob
import json
import os
import re
import shutil
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import on_small_disk, tiny_config

from s2s_jax import atomic_write, checkpointing, evaluate, experiment, train
from s2s_jax.data.generated import TrainStream


def _assert_trees_equal(a, b):
    """Same structure and bit-identical leaves."""
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape
        assert np.array_equal(x, y)


def _assert_states_equal(a, b):
    """TrainStates with bit-identical step, params, opt_state and rng."""
    for field in ("step", "params", "opt_state", "rng"):
        _assert_trees_equal(getattr(a, field), getattr(b, field))


def _latest_state(config, workdir):
    """The TrainState of the newest checkpoint in `workdir`, restored by a fresh manager."""
    exp = experiment.build(config, str(workdir))
    manager = checkpointing.make_manager(workdir, max_to_keep=3, read_only=True)
    try:
        return exp.restore(manager)
    finally:
        manager.close()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """An experiment (hidden 32, dropout) trained 2 steps by hand and saved at step 2.

    Module-scoped so its jitted steps compile once for all the tests below.
    """
    config = tiny_config(model__dropout_rate=0.2)
    workdir = tmp_path_factory.mktemp("saved")
    exp = experiment.build(config, str(workdir))
    state = exp.initial_state()
    stream = TrainStream(exp.data.task, config.seed, config.train.batch_size, set())
    for _ in range(2):
        state, _ = exp.train_step(state, exp.put_batch(next(stream)))
    manager = checkpointing.make_manager(workdir, max_to_keep=3)
    checkpointing.save(manager, 2, state, stream.state(), exp.model_cfg)
    manager.wait_until_finished()
    manager.close()
    return SimpleNamespace(config=config, workdir=workdir, exp=exp, state=state)


def test_save_restore_bit_identical(saved):
    """Restored params, opt_state, step, rng and data position equal what was saved."""
    exp = saved.exp
    manager = checkpointing.make_manager(saved.workdir, max_to_keep=3)
    restored, data_state = exp.restore(manager)
    manager.close()
    assert data_state == {"index": 2}
    assert int(restored.step) == 2
    _assert_states_equal(restored, saved.state)
    # The restored state is a usable TrainState: one more step runs and matches the original's.
    stream = TrainStream(exp.data.task, saved.config.seed, saved.config.train.batch_size, set())
    stream.restore(data_state)
    batch = next(stream)
    copy = jax.tree.map(jnp.copy, saved.state)  # train_step donates its input state.
    from_restored, _ = exp.train_step(restored, exp.put_batch(batch))
    from_saved, _ = exp.train_step(copy, exp.put_batch(batch))
    assert int(from_restored.step) == 3
    _assert_states_equal(from_restored, from_saved)


def test_restore_missing_step(saved):
    """Restoring a step that was never saved is a CheckpointError naming the step."""
    manager = checkpointing.make_manager(saved.workdir, max_to_keep=3, read_only=True)
    with pytest.raises(checkpointing.CheckpointError, match="no checkpoint at step 7"):
        saved.exp.restore(manager, step=7)
    manager.close()


def test_different_model_is_refused(saved):
    """Resuming a workdir whose checkpoint has another hidden_size raises a CheckpointError."""
    other = tiny_config(model__dropout_rate=0.2, model__hidden_size=16)
    with pytest.raises(checkpointing.CheckpointError) as info:
        train.train_and_evaluate(other, str(saved.workdir))
    message = str(info.value)
    assert "hidden_size: checkpoint 32, config 16" in message
    assert "different model" in message and "--workdir" in message
    assert not (saved.workdir / "config.json").exists()  # The refused config is not recorded.
    with pytest.raises(checkpointing.CheckpointError, match="hidden_size"):
        evaluate.load_params(experiment.build(other, str(saved.workdir)), str(saved.workdir))


def test_load_params_empty_workdir(make_config, tmp_path):
    """load_params on a workdir without checkpoints says so and says to train first."""
    exp = experiment.build(make_config(), str(tmp_path))
    with pytest.raises(checkpointing.CheckpointError, match=r"no checkpoints in .*train first"):
        evaluate.load_params(exp, str(tmp_path))
    (tmp_path / "checkpoints").mkdir()  # A checkpoints directory with nothing in it.
    with pytest.raises(checkpointing.CheckpointError, match="no checkpoint in"):
        evaluate.load_params(exp, str(tmp_path))


def test_model_mismatch_lists_every_difference():
    """model_mismatch is empty for equal configs and lists each differing key."""
    saved = {"cell": "lstm", "hidden_size": 64, "num_layers": 1}
    assert checkpointing.model_mismatch(saved, dict(saved)) == ""
    current = {"cell": "gru", "hidden_size": 32, "num_layers": 1}
    assert checkpointing.model_mismatch(saved, current) == (
        "cell: checkpoint 'lstm', config 'gru'; hidden_size: checkpoint 64, config 32"
    )
    # A field the checkpoint predates stands at its default: equal to it is no mismatch.
    assert checkpointing.model_mismatch(saved, {**saved, "input_feeding": True}) == ""
    assert checkpointing.model_mismatch(saved, {**saved, "input_feeding": False}) == (
        "input_feeding: checkpoint True, config False"
    )
    # How the parameters are computed is no mismatch: a checkpoint moves between backends.
    runtime = {"backend": "scan", "scan_unroll": 2, "remat": True, "dtype": "bfloat16"}
    assert checkpointing.model_mismatch({**saved, "backend": "fused"}, {**saved, **runtime}) == ""


@pytest.mark.parametrize(
    "saved_backend, other_backend",
    [
        pytest.param(*pair, marks=pytest.mark.slow)
        for pair in (("fused", "scan"), ("scan", "fused"))
    ],
)
def test_checkpoint_moves_between_backends(tmp_path, saved_backend, other_backend):
    """A checkpoint saved on one backend restores bit for bit on the other, with another unroll
    and remat, and the next train step gives the same loss and parameters on both."""
    config = tiny_config(model__backend=saved_backend)
    exp = experiment.build(config, str(tmp_path))
    state = exp.initial_state()
    stream = TrainStream(exp.data.task, config.seed, config.train.batch_size, set())
    state, _ = exp.train_step(state, exp.put_batch(next(stream)))
    manager = checkpointing.make_manager(tmp_path, max_to_keep=1)
    checkpointing.save(manager, 1, state, stream.state(), exp.model_cfg)
    manager.wait_until_finished()
    manager.close()

    other = tiny_config(model__backend=other_backend, model__scan_unroll=2, model__remat=True)
    # Restored by the experiment that trains on: a train state goes with the experiment that
    # built or restored it (its optimizer is part of the state's shardings tree).
    other_exp = experiment.build(other, str(tmp_path))
    manager = checkpointing.make_manager(tmp_path, max_to_keep=1, read_only=True)
    restored, _ = other_exp.restore(manager)
    manager.close()
    _assert_states_equal(restored, state)
    batch = next(stream)
    new_other, sums_other = other_exp.train_step(restored, exp.put_batch(batch))
    new_saved, sums_saved = exp.train_step(state, exp.put_batch(batch))
    np.testing.assert_allclose(sums_other["objective_sum"], sums_saved["objective_sum"], rtol=1e-5)
    for a, b in zip(jax.tree.leaves(new_other.params), jax.tree.leaves(new_saved.params),
                    strict=True):  # fmt: skip
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.fixture(scope="module")
def two_steps(saved, tmp_path_factory):
    """`saved`'s workdir with a second checkpoint, step 3 (the same state, saved again)."""
    workdir = tmp_path_factory.mktemp("two_steps")
    shutil.copytree(saved.workdir / "checkpoints", workdir / "checkpoints")
    manager = checkpointing.make_manager(workdir, max_to_keep=3)
    checkpointing.save(manager, 3, saved.state, {"epoch": 0}, saved.exp.model_cfg)
    manager.wait_until_finished()
    manager.close()
    return workdir


def _truncate_the_array_files(step_dir: str) -> None:
    """Every data file of the state's arrays cut to half (which file holds which array is
    orbax's business)."""
    for path in glob.glob(f"{step_dir}/state/**/d/*", recursive=True):
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)


def _garbage_metadata(step_dir: str) -> None:
    with open(f"{step_dir}/state/_METADATA", "w") as f:
        f.write("{not json")


def _missing_entry(step_dir: str) -> None:
    shutil.rmtree(f"{step_dir}/data")


@pytest.mark.parametrize(
    "corrupt",
    [
        _missing_entry,
        pytest.param(_truncate_the_array_files, marks=pytest.mark.slow),
        pytest.param(_garbage_metadata, marks=pytest.mark.slow),
    ],
)
def test_a_corrupt_latest_checkpoint_is_set_aside_and_the_one_before_restored(
    saved, two_steps, tmp_path, corrupt
):
    """Step 3 corrupted: it is moved to corrupt_checkpoints/3 (not deleted), and step 2 is
    restored bit for bit; with step 2 corrupted too, a clear error names both."""
    shutil.copytree(two_steps, tmp_path, dirs_exist_ok=True)
    corrupt(str(tmp_path / "checkpoints" / "3"))
    manager = checkpointing.make_manager(tmp_path, max_to_keep=3)
    state, _ = checkpointing.restore_latest_good(
        manager, saved.exp.abstract_state, saved.exp.model_cfg
    )
    _assert_states_equal(state, saved.state)
    assert manager.all_steps() == [2]
    assert os.listdir(tmp_path / "corrupt_checkpoints") == ["3"]
    corrupt(str(tmp_path / "checkpoints" / "2"))
    with pytest.raises(
        checkpointing.CheckpointError, match=r"no checkpoint in .* reads; set aside"
    ):
        checkpointing.restore_latest_good(manager, saved.exp.abstract_state, saved.exp.model_cfg)
    manager.close()
    assert sorted(os.listdir(tmp_path / "corrupt_checkpoints")) == ["2", "3"]


def test_a_save_that_would_not_fit_is_refused_before_it_starts(saved, tmp_path, monkeypatch):
    """Less free space than the newest checkpoint takes: the save is a DiskFullError naming
    the checkpoint, the space it needs and the free space, and writes nothing; with space,
    the same save goes through."""
    shutil.copytree(saved.workdir / "checkpoints", tmp_path / "checkpoints")
    step_2 = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path / "checkpoints" / "2")
              for f in fs]  # fmt: skip
    manager = checkpointing.make_manager(tmp_path, max_to_keep=3)
    with monkeypatch.context() as patch:
        patch.setattr(atomic_write, "free_space", lambda path: (1000, 2**30))
        with pytest.raises(atomic_write.DiskFullError) as info:
            checkpointing.save(manager, 3, saved.state, {"index": 3}, saved.exp.model_cfg)
    message = str(info.value)
    needs = re.fullmatch(
        rf"no space left on device writing {tmp_path}/checkpoints/3 \(it needs about "
        r"([\d.]+) KiB; 1000 bytes free of 1\.0 GiB on its filesystem\); free some space, "
        r"then rerun the same command: training resumes from the latest complete checkpoint",
        message,
    )
    assert needs, message
    assert float(needs[1]) * 1024 >= sum(os.path.getsize(f) for f in step_2) > 1000
    assert os.listdir(tmp_path / "checkpoints") == ["2"] and manager.all_steps() == [2]
    checkpointing.save(manager, 3, saved.state, {"index": 3}, saved.exp.model_cfg)
    manager.wait_until_finished()
    assert manager.all_steps() == [2, 3]
    manager.close()


_SAVE_ON_A_FULL_DISK = """
import json, os, shutil
import numpy as np
import orbax.checkpoint as ocp
from s2s_jax import checkpointing
from s2s_jax.atomic_write import DiskFullError

disk = os.environ["DISK"]
folder = os.path.join(disk, "checkpoints")


def save(manager, step, n):
    items = {"state": ocp.args.StandardSave({"w": np.arange(n, dtype=np.float32)}),
             "data": ocp.args.JsonSave({"step": step}), "model": ocp.args.JsonSave({})}
    manager.save(step, args=ocp.args.Composite(**items), force=True)


out = {"errors": []}
manager = checkpointing.make_manager(disk, max_to_keep=3)
save(manager, 1, 1000)
manager.wait_until_finished()
filler = os.path.join(disk, "filler")
with open(filler, "wb", buffering=0) as f:  # Leaves 256 KiB.
    f.write(bytes(shutil.disk_usage(disk).free - 256 * 1024))
try:  # 1 MB: step 1 fits in what is left, so orbax starts the save, which fails.
    save(manager, 2, 250_000)
    manager.wait_until_finished()
except DiskFullError as e:
    out["errors"].append(str(e))
out["left"] = sorted(os.listdir(folder))
out["all_steps"] = manager.all_steps()
out["read_only"] = checkpointing.make_manager(disk, 3, read_only=True).all_steps()
manager.close()
os.remove(filler)
again = checkpointing.make_manager(disk, max_to_keep=3)  # The next start.
out["next_start"] = again.all_steps()
save(again, 3, 250_000)
again.wait_until_finished()
out["after"] = sorted(os.listdir(folder))
out["restored"] = again.restore(3, args=ocp.args.Composite(data=ocp.args.JsonRestore()))["data"]
again.close()
print(json.dumps(out))
"""


@pytest.mark.slow
def test_a_save_cut_short_by_a_full_disk_is_never_taken_for_a_checkpoint(tmp_path):
    """On a real 4 MiB tmpfs, a save that orbax starts and a full disk cuts short: one
    DiskFullError naming the checkpoint and the free space; what it leaves is a temporary
    folder that no manager lists, and that the next start deletes; then saves go through.
    (orbax 0.12 raises tensorstore's ValueError 'RESOURCE_EXHAUSTED: ... No space left on
    device' from wait_until_finished.)"""
    disk = str(tmp_path / "disk")
    proc = on_small_disk('"$PYTHON" -c "$SCRIPT"', disk, "4m", SCRIPT=_SAVE_ON_A_FULL_DISK)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    [error] = out["errors"]
    assert re.fullmatch(
        rf"no space left on device writing {disk}/checkpoints/2 \(\d+(\.\d)? (bytes|KiB) free "
        r"of 4\.0 MiB on its filesystem\); free some space, then rerun .*",
        error,
    ), error
    assert out["left"] == ["1", "2.orbax-checkpoint-tmp"]
    assert out["all_steps"] == out["read_only"] == out["next_start"] == [1]
    assert out["after"] == ["1", "3"]  # The leftover of step 2 is gone.
    assert out["restored"] == {"step": 3}


_FULL_DISK_RUN = """
run() {  # name, num_steps
  "$PYTHON" launch.py $ARGS --config.train.num_steps=$2 --workdir="$DISK/run" \\
    >"$OUT/$1.out" 2>"$OUT/$1.err" && echo 0 >"$OUT/$1.rc" || echo $? >"$OUT/$1.rc"
}
run first 20
cat /dev/zero >"$DISK/filler" 2>/dev/null || true  # The disk full,
truncate -s -48K "$DISK/filler"  # but for 48 KiB: less than a checkpoint takes.
run full 40
cp -a "$DISK/run" "$OUT/failed"
rm "$DISK/filler"
run again 40
cp -a "$DISK/run" "$OUT/resumed"
"""
_TINY_RUN = [
    "--config=experiments/generated.py:reverse",
    *(f"--config.{key}={value}" for key, value in {
        "task.max_len": 6, "task.num_symbols": 6, "task.num_eval": 64, "model.embed_size": 16,
        "model.hidden_size": 16, "train.batch_size": 32, "train.log_every_steps": 10,
        "train.eval_every_steps": 10, "train.checkpoint_every_steps": 10,
        "eval.batch_size": 64, "optim.schedule": "warmup_rsqrt", "optim.warmup_steps": 5,
    }.items()),
]  # fmt: skip


@pytest.mark.slow
def test_a_run_stopped_by_a_full_disk_says_so_in_one_line_and_resumes_with_space(tmp_path):
    """launch.py on a 4 MiB tmpfs: 20 steps; the disk filled but for 48 KiB; on to 40 steps:
    exit 1 with one line naming the path and the free space, no traceback, and no
    checkpoint past the last complete one; with space again, the same command resumes from
    that checkpoint and finishes, every step logged once."""
    disk, out = tmp_path / "disk", tmp_path / "out"
    out.mkdir()
    proc = on_small_disk(_FULL_DISK_RUN, str(disk), "4m", ARGS=" ".join(_TINY_RUN), OUT=str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    rc = {name: (out / f"{name}.rc").read_text().strip() for name in ("first", "full", "again")}
    assert rc == {"first": "0", "full": "1", "again": "0"}, (out / "full.err").read_text()[-3000:]

    err = (out / "full.err").read_text()
    assert "Traceback" not in err, err[-3000:]
    last = err.splitlines()[-1]
    assert re.fullmatch(
        rf"error: no space left on device writing {disk}/run/\S+ \(.*\d+(\.\d)? (bytes|KiB) "
        r"free of 4\.0 MiB on its filesystem\); free some space, then rerun the same command: "
        r"training resumes from the latest complete checkpoint",
        last,
    ), last
    steps = sorted(int(s) for s in os.listdir(out / "failed" / "checkpoints"))
    assert steps == [10, 20]  # Nothing of step 30 or later, not even a temporary folder.

    resumed = out / "resumed"
    log = (resumed / "train.log").read_text()
    assert re.findall(r"Resuming from step (\d+)", log)[-1] == "20"
    with open(resumed / "final_eval.json", encoding="utf-8") as f:
        assert json.load(f)["step"] == 40
    with open(resumed / "metrics.jsonl", encoding="utf-8") as f:
        logged = [(m["step"], m["split"]) for m in map(json.loads, f)]
    assert len(logged) == len(set(logged))
    assert [s for s, split in logged if split == "train"] == [10, 20, 30, 40]
