"""Tests for s2s_jax.sharding: the mesh and state shardings experiment.build uses; 1 device
against 8 and FSDP against replication (same losses); checkpoints that move between device
counts with token-budget batching."""

import json
import os
import shutil

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from helpers import tiny_config
from jax.sharding import PartitionSpec as P

from experiments import en_ko
from s2s_jax import checkpointing, experiment, train
from s2s_jax.errors import ConfigError

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..",
                      "shared", "data", "en_ko")  # fmt: skip
# The vocabulary matrices fsdp splits, as key-path endings, and their specs.
SPLIT = {
    "['encoder']['embed']['embedding']": P("data", None),
    "['decoder']['embed']['embedding']": P("data", None),
    "['decoder']['logits']['kernel']": P(None, "data"),
}


def _specs(tree) -> dict[str, P]:
    """Key path -> PartitionSpec of every leaf (arrays or ShapeDtypeStructs)."""
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(path): leaf.sharding.spec for path, leaf in flat}


def _expected_spec(path: str) -> P:
    return next((spec for end, spec in SPLIT.items() if path.endswith(end)), P())


def test_fsdp_splits_only_the_vocabulary_matrices_and_their_adam_state(tmp_path):
    """With fsdp the abstract state (what init, the steps and restores use) splits the two
    embeddings and the output kernel, in params, mu and nu (9 leaves); all else is P()."""
    config = tiny_config(task__num_symbols=12, sharding__fsdp=True)  # Vocabulary 16.
    specs = _specs(experiment.build(config, str(tmp_path)).abstract_state)
    assert specs == {path: _expected_spec(path) for path in specs}
    split = sorted(path for path, spec in specs.items() if spec != P())
    assert len(split) == 9 and sum(".params[" in p for p in split) == 3
    assert sum(".mu[" in p for p in split) == sum(".nu[" in p for p in split) == 3
    replicated = _specs(
        experiment.build(tiny_config(task__num_symbols=12), str(tmp_path)).abstract_state
    )
    assert set(replicated.values()) == {P()} and replicated.keys() == specs.keys()


def test_fsdp_needs_vocabularies_the_data_axis_divides(tmp_path):
    """Vocabulary 10 does not split over 8 devices: a ConfigError naming both sizes; over 2
    devices it does."""
    with pytest.raises(
        ConfigError,
        match=r"config\.sharding\.fsdp=True splits the target embedding \(shape \(10, 16\)\).*"
        r"vocabulary size 10 is not a multiple of the 'data' axis size 8",
    ):
        experiment.build(tiny_config(sharding__fsdp=True), str(tmp_path))
    two = experiment.build(tiny_config(sharding__fsdp=True, devices=2), str(tmp_path))
    assert dict(two.mesh.shape) == {"data": 2, "model": 1}
    embedding = two.abstract_state.params["encoder"]["embed"]["embedding"]
    assert embedding.sharding.spec == P("data", None)
    assert embedding.sharding.shard_shape(embedding.shape) == (5, 16)


def _train_steps(config, workdir: str, devices: int) -> tuple[np.ndarray, object, object]:
    """(objective, grad norm) of each of 20 train steps on `devices` devices, the
    experiment, and the state after them."""
    config.devices = devices
    exp = experiment.build(config, workdir)
    state, stream, rows = exp.initial_state(), exp.data.train_batches(), []
    for _ in range(20):
        state, sums = exp.train_step(state, exp.put_batch(next(stream)))
        rows.append(sums)
    rows = jax.device_get(rows)
    return np.array([(s["objective_sum"], s["grad_norm_sum"]) for s in rows]), exp, state


@pytest.mark.slow
@pytest.mark.parametrize(("decoder", "fsdp"), [("basic", True), ("luong", False)])
def test_one_device_and_eight_give_the_same_losses(tmp_path, decoder, fsdp):
    """20 steps with dropout, the same global batch (32 rows) and seed: 8 devices (4 rows
    each), replicated or with fsdp, give the losses and gradient norms of 1 device within
    float32 tolerance. With fsdp the embeddings and output kernel stay split, and the split
    state, saved, restores on 1 device bit for bit and evaluates there as on 8."""
    config = tiny_config(task__num_symbols=12, model__decoder=decoder, model__dropout_rate=0.3,
                         model__hidden_size=16, model__embed_size=8, optim__warmup_steps=2,
                         optim__learning_rate=0.02)  # fmt: skip
    one, one_exp, _ = _train_steps(config.copy_and_resolve_references(), str(tmp_path), 1)
    config.sharding.fsdp = fsdp
    eight, exp, state = _train_steps(config, str(tmp_path), devices=8)
    assert one[-1, 0] < one[0, 0] - 0.2  # It learns (2.78 -> 2.38 and 2.30 here).
    np.testing.assert_allclose(eight, one, rtol=1e-5)
    specs = _specs(state)
    assert specs == {path: _expected_spec(path) if fsdp else P() for path in specs}
    embedding = state.params["decoder"]["embed"]["embedding"]
    shards = {s.data.shape for s in embedding.addressable_shards}
    assert shards == ({(2, 8)} if fsdp else {(16, 8)})  # 16 ids, over 8 devices or not.
    if not fsdp:
        return
    manager = checkpointing.make_manager(str(tmp_path), 1)
    checkpointing.save(manager, 20, state, {}, exp.model_cfg)
    manager.wait_until_finished()
    restored, _ = one_exp.restore(manager)
    manager.close()
    for x, y in zip(jax.tree.leaves(restored), jax.tree.leaves(state), strict=True):
        assert x.sharding.device_set == {jax.devices()[0]}
        np.testing.assert_array_equal(x, y)
    batch = exp.data.eval_batches(exp.data.eval_sets()["eval"])[0]
    sums = [e.eval_step(p, e.put_batch(batch)) for e, p in ((exp, state.params),
            (one_exp, restored.params))]  # fmt: skip
    for key in sums[0]:
        np.testing.assert_allclose(sums[0][key], sums[1][key], rtol=1e-5, err_msg=key)


@pytest.fixture(scope="module")
def tatoeba_dir(tmp_path_factory) -> str:
    """A TFDS data dir with the Tatoeba corpus prepared from the shared data."""
    if not os.path.isdir(SHARED):
        pytest.skip(f"the shared English-Korean data is not at {SHARED}")
    from s2s_jax.data import en_ko as en_ko_builder

    path = str(tmp_path_factory.mktemp("tfds"))
    en_ko_builder.prepare("tatoeba", path, SHARED)
    return path


def _positions(workdir) -> dict[int, dict]:
    """The data position saved in each checkpoint of `workdir`, by step."""
    manager = checkpointing.make_manager(str(workdir), 3, read_only=True)
    try:
        return {
            step: manager.restore(step, args=ocp.args.Composite(data=ocp.args.JsonRestore()))[
                "data"
            ]["data"]
            for step in manager.all_steps()
        }
    finally:
        manager.close()


def _step_losses(workdir) -> dict[int, float]:
    """The loss of each train step logged in `workdir` (train.log_every_steps = 1)."""
    with open(os.path.join(workdir, "metrics.jsonl"), encoding="utf-8") as f:
        lines = [json.loads(line) for line in f]
    return {m["step"]: m["loss"] for m in lines if m["split"] == "train"}


@pytest.mark.slow
def test_checkpoints_move_between_device_counts_with_a_token_budget(tmp_path, tatoeba_dir):
    """Token-budget batches (300 tokens of the one 32-token bucket: 9 rows, rounded to
    sharding.batch_multiple = 8, not to the device count) over 44 pairs: 6 batches an epoch,
    the last with 4 all-PAD rows (whole PAD shards on 8 devices). An uninterrupted 8-device
    run saves at steps 4 and 8 (epoch 1, batch 2). Its step-4 checkpoint resumed on 1 device,
    and a 1-device run saved at step 4 and resumed on 8, go on to step 8 with its per-step
    losses (float32 tolerance) and the same data positions."""
    config = en_ko.get_config("smoke")
    config.data.update(data_dir=tatoeba_dir, manual_dir=SHARED, train="tatoeba:train[:44]",
                       dev="tatoeba:validation[:16]", src_vocab_size=64, tgt_vocab_size=96,
                       max_tokens=300, bucket_boundaries=(32,))  # fmt: skip
    config.train.update(num_steps=8, log_every_steps=1, eval_every_steps=100,
                        checkpoint_every_steps=4, max_checkpoints_to_keep=3)  # fmt: skip
    config.model.update(hidden_size=16, embed_size=8)  # Dropout 0.2, as the smoke config.
    config.optim.learning_rate = 0.02

    def run(workdir, devices: int, num_steps: int) -> None:
        run_config = config.copy_and_resolve_references()
        run_config.devices, run_config.train.num_steps = devices, num_steps
        train.train_and_evaluate(run_config, str(workdir))

    reference = tmp_path / "reference"
    run(reference, devices=8, num_steps=8)
    expected = _step_losses(reference)
    assert sorted(expected) == list(range(1, 9)) and len(set(expected.values())) == 8
    positions = _positions(reference)
    assert positions == {4: {"epoch": 0, "batch": 4}, 8: {"epoch": 1, "batch": 2}}

    eight_to_one, one_to_eight = tmp_path / "8_to_1", tmp_path / "1_to_8"
    for workdir in (eight_to_one, one_to_eight):  # The same tokenizers, not trained again.
        shutil.copytree(reference / "tokenizers", workdir / "tokenizers")
    shutil.copytree(reference / "checkpoints" / "4", eight_to_one / "checkpoints" / "4")
    run(eight_to_one, devices=1, num_steps=8)
    run(one_to_eight, devices=1, num_steps=4)
    run(one_to_eight, devices=8, num_steps=8)
    for workdir, steps in ((eight_to_one, range(5, 9)), (one_to_eight, range(1, 9))):
        losses = _step_losses(workdir)
        assert sorted(losses) == list(steps)
        np.testing.assert_allclose(
            [losses[k] for k in steps], [expected[k] for k in steps], rtol=1e-5
        )
        assert _positions(workdir) == positions
