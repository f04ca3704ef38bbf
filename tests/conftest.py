"""Shared test set-up: eight fake CPU devices, and tiny configs."""

import os

# Before jax is imported anywhere: tests run on a mesh of 8 CPU devices, so the
# sharded code paths are exercised even on a one-CPU machine.
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()

import sys

import ml_collections
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "experiments"))

import generated  # noqa: E402


def tiny_config(task: str = "reverse", **overrides) -> ml_collections.ConfigDict:
    """The experiment config for `task`, shrunk to test size (hidden 32).

    `overrides` use '__' for '.', e.g. model__cell="gru".
    """
    c = generated.get_config(task)
    c.task.max_len = 6
    c.task.num_symbols = 6
    c.task.num_eval = 64
    c.model.embed_size = 16
    c.model.hidden_size = 32
    c.train.batch_size = 32
    c.train.num_steps = 20
    c.train.log_every_steps = 10
    c.train.eval_every_steps = 10
    c.train.checkpoint_every_steps = 10
    c.eval.batch_size = 32
    c.eval.num_examples_to_log = 2
    for key, value in overrides.items():
        section, _, field = key.rpartition("__")
        (c[section] if section else c)[field] = value
    return c


@pytest.fixture
def make_config():
    return tiny_config
