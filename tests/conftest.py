"""Shared test set-up: eight fake CPU devices, and the import paths of the helpers and configs."""

import collections
import os
import shutil
import sys
import tempfile

import pytest

# Bytecode is cached even where PYTHONDONTWRITEBYTECODE is set (as in this machine's
# environment): otherwise each pytest-xdist worker rewrites every test module's assertions anew
# (collection took 7.2 s against 4.0 s), and each launch.py process the tests start compiles
# the package's sources again. __pycache__ is ignored by git.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [TESTS, os.path.dirname(TESTS)]  # helpers.py; the experiments package.

import fast_compile  # noqa: E402  (imports nothing)

# Before jax is imported anywhere: tests run on a mesh of 8 CPU devices, so the sharded code
# paths are exercised even on a one-CPU machine; XLA compiles fast (tests/fast_compile.py).
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "")
    + " --xla_force_host_platform_device_count=8 "
    + fast_compile.XLA_FLAGS
).strip()

# JAX's persistent compilation cache, fresh for each test session and shared with the
# launch.py subprocesses the tests start (they read these variables), and with pytest-xdist's
# workers (they inherit the controller's environment): a jitted function that another test or
# process has compiled for the same shapes is loaded, not compiled again.
_OWN_CACHE = "S2S_JAX_TEST_XLA_CACHE" not in os.environ  # The session's first process.
if _OWN_CACHE:
    os.environ["S2S_JAX_TEST_XLA_CACHE"] = tempfile.mkdtemp(prefix="s2s_jax_xla_cache_")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = os.environ["S2S_JAX_TEST_XLA_CACHE"]
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"

from helpers import tiny_config  # noqa: E402


@pytest.fixture
def make_config():
    return tiny_config


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with the most slow tests run first, and the quick files last: pytest-xdist hands
    out whole files in this order (--no-loadscope-reorder, pyproject.toml), so the many
    small tests at the end even out the workers' finish, where a long file handed out last
    would keep one worker busy alone. Within a file the order is unchanged."""
    slow = collections.Counter(item.path for item in items if item.get_closest_marker("slow"))
    items.sort(key=lambda item: -slow[item.path])  # A stable sort: files stay whole.


def pytest_unconfigure(config: pytest.Config) -> None:
    if _OWN_CACHE:
        shutil.rmtree(os.environ["S2S_JAX_TEST_XLA_CACHE"], ignore_errors=True)
