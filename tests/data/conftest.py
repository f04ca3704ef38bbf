"""Fixtures of the data tests: the shared English–Korean corpora, prepared once per session.

The corpora are read from the shared data directory next to the repository
(ROOT/../shared/data/en_ko); the tests that use these fixtures are skipped where it is
absent. Nothing here imports TFDS until a fixture is used.
"""

import functools
from collections.abc import Callable
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "en_ko"

# corpus -> {split: its (English, Korean) pairs}.
SplitReader = Callable[[str], dict[str, tuple[tuple[str, str], ...]]]


@pytest.fixture(scope="session")
def en_ko_manual_dir() -> str:
    """The shared English-Korean data (the builder's manual_dir); skips the test if absent."""
    if not SHARED.is_dir():
        pytest.skip(f"the shared English-Korean data is not at {SHARED}")
    return str(SHARED)


@pytest.fixture(scope="session")
def en_ko_data_dir(en_ko_manual_dir, tmp_path_factory) -> str:
    """A TFDS data dir with every corpus prepared from the shared data, once per session.

    Tests only read it (preparing again there is a no-op); a test that prepares anew
    uses its own tmp_path.
    """
    from s2s_jax.data import en_ko

    path = str(tmp_path_factory.mktemp("en_ko_data"))
    for corpus in en_ko.CORPORA:
        en_ko.prepare(corpus, path, en_ko_manual_dir)
    return path


@pytest.fixture(scope="session")
def en_ko_splits(en_ko_data_dir) -> SplitReader:
    """Every split of a prepared corpus, read once per session (tuples, so none is changed)."""
    from s2s_jax.data import en_ko, tfds_reader

    @functools.cache
    def read(corpus: str) -> dict[str, tuple[tuple[str, str], ...]]:
        splits = en_ko.prepare(corpus, en_ko_data_dir, None).info.splits
        return {
            split: tuple(tfds_reader.load_pairs(corpus, split, data_dir=en_ko_data_dir))
            for split in splits
        }

    return read
