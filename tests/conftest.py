"""Shared test set-up: eight fake CPU devices, and the import paths of the helpers and configs."""

import os
import sys

# Before jax is imported anywhere: tests run on a mesh of 8 CPU devices, so the
# sharded code paths are exercised even on a one-CPU machine.
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [TESTS, os.path.dirname(TESTS)]  # helpers.py; the experiments package.

from helpers import tiny_config  # noqa: E402


@pytest.fixture
def make_config():
    return tiny_config
