"""Tests for s2s_jax.checkpointing: exact save/restore, exact resume, clear errors."""

import glob
import os
import shutil
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tiny_config

from s2s_jax import checkpointing, evaluate, experiment, train
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


@pytest.mark.slow
def test_resume_is_bit_identical(make_config, tmp_path):
    """Training 30 steps in one go equals 10 steps then resuming to 30, bit for bit."""
    # warmup_rsqrt does not depend on num_steps, so both runs have the same schedule.
    config = make_config(
        model__dropout_rate=0.3,
        optim__schedule="warmup_rsqrt",
        optim__warmup_steps=5,
        train__num_steps=30,
        train__eval_every_steps=1000,
    )
    short = config.copy_and_resolve_references()
    short.train.num_steps = 10
    a, b = tmp_path / "a", tmp_path / "b"
    train.train_and_evaluate(config, str(a))
    train.train_and_evaluate(short, str(b))
    at_10, data_10 = _latest_state(config, b)
    assert int(at_10.step) == 10 and data_10["data"] == {"index": 10}
    train.train_and_evaluate(config, str(b))

    state_a, data_a = _latest_state(config, a)
    state_b, data_b = _latest_state(config, b)
    assert int(state_a.step) == int(state_b.step) == 30
    assert data_a["data"] == data_b["data"] == {"index": 30}
    _assert_states_equal(state_a, state_b)
    # Resuming did train: the final params moved away from the step-10 ones.
    assert not all(
        np.array_equal(x, y)
        for x, y in zip(jax.tree.leaves(at_10.params), jax.tree.leaves(state_b.params), strict=True)
    )


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
