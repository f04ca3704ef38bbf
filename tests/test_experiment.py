"""Tests for s2s_jax.experiment.build: validation first, the mesh, shardings and jitted steps."""

import jax
import numpy as np
import pytest
from helpers import tiny_config

from s2s_jax import experiment
from s2s_jax.decoding.sampling import sample_decode
from s2s_jax.errors import ConfigError


@pytest.fixture(scope="module")
def exp(tmp_path_factory):
    return experiment.build(tiny_config(), str(tmp_path_factory.mktemp("exp")))


def test_a_bad_config_is_refused_before_anything_is_built(tmp_path):
    with pytest.raises(ConfigError, match=r"config\.model\.hidden_size=-4 is invalid"):
        experiment.build(tiny_config(model__hidden_size=-4), str(tmp_path))


def test_batches_are_split_over_the_data_axis_and_the_state_is_replicated(exp):
    assert exp.mesh.axis_names == ("data", "model") and exp.mesh.size == jax.device_count() == 8
    assert dict(exp.mesh.shape) == {"data": 8, "model": 1}  # config.sharding.model = 1.
    batch = exp.put_batch(next(exp.data.train_batches()))
    rows = {s.data.shape[0] for s in batch["src_BxS"].addressable_shards}
    assert rows == {exp.config.train.batch_size // 8}
    state = exp.initial_state()
    for leaf, abstract in zip(jax.tree.leaves(state), jax.tree.leaves(exp.abstract_state),
                              strict=True):  # fmt: skip
        assert leaf.shape == abstract.shape and leaf.dtype == abstract.dtype
        assert leaf.sharding.is_fully_replicated and abstract.sharding.is_fully_replicated
    state, sums = exp.train_step(state, batch)
    assert int(state.step) == 1 and sums["objective_sum"].sharding.is_fully_replicated


def test_config_devices_picks_the_first_devices(tmp_path):
    two = experiment.build(tiny_config(devices=2), str(tmp_path))
    assert list(two.mesh.devices.flat) == jax.devices()[:2]
    src_BxS = np.zeros((4, 3), np.int32)
    assert len(two.put_batch(src_BxS).addressable_shards) == 2


def test_the_initial_state_follows_the_seed(exp, tmp_path):
    other = experiment.build(tiny_config(seed=1), str(tmp_path))
    a, b, c = exp.initial_state(), exp.initial_state(), other.initial_state()
    leaves = [jax.tree.leaves(s.params) for s in (a, b, c)]
    assert all(np.array_equal(x, y) for x, y in zip(leaves[0], leaves[1], strict=True))
    assert not all(np.array_equal(x, z) for x, z in zip(leaves[0], leaves[2], strict=True))


@pytest.mark.slow
def test_decode_samples_with_the_eval_config_and_the_rng(tmp_path):
    """eval.decode='sample': the jitted, sharded decode is sample_decode with eval.temperature,
    top_k and top_p (unjitted here) and the given rng; another rng samples otherwise; only
    beam search has an n-best decode."""
    config = tiny_config(eval__decode="sample", eval__temperature=0.8, eval__top_k=4,
                         eval__top_p=0.9)  # fmt: skip
    exp = experiment.build(config, str(tmp_path))
    assert exp.decode_n_best is None
    params = exp.initial_state().params
    src_BxS = exp.data.eval_batches(exp.data.eval_sets()["eval"])[0]["src_BxS"]
    key, other = jax.random.key(3), jax.random.key(4)
    tokens, lengths = jax.device_get(exp.decode(params, exp.put_batch(src_BxS), key))
    expected, expected_lengths = sample_decode(exp.model, params, src_BxS, key,
                                               max_len=exp.data.max_decode_len, temperature=0.8,
                                               top_k=4, top_p=0.9)  # fmt: skip
    np.testing.assert_array_equal(tokens, expected)
    np.testing.assert_array_equal(lengths, expected_lengths)
    resampled, _ = jax.device_get(exp.decode(params, exp.put_batch(src_BxS), other))
    assert (resampled != tokens).any()
    beam = experiment.build(tiny_config(eval__decode="beam", eval__beam_size=2), str(tmp_path))
    assert beam.decode_n_best is not None
