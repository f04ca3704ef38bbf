"""Tests of reading prepared TFDS datasets (tfds_reader.py), without TensorFlow.

load_pairs (splits, slices, unknown names), cleaning_stats, and load_tfds_pairs of any
prepared translation dataset, with its errors. The English–Korean corpora are prepared
once per session by conftest.py (skipped where the shared data is absent); what the
builder writes is tested in test_en_ko.py.
"""

import json
import sys

import pytest

from s2s_jax.data import en_ko, tfds_reader
from s2s_jax.errors import ConfigError


@pytest.mark.parametrize("corpus", en_ko.CORPORA)
def test_load_pairs_and_cleaning_stats_read_what_was_prepared(corpus, en_ko_data_dir):
    """Every split has the builder's number of (str, str) pairs; the stats are its file's."""
    builder = en_ko.prepare(corpus, en_ko_data_dir, None)
    for split, info in builder.info.splits.items():
        pairs = tfds_reader.load_pairs(corpus, split, data_dir=en_ko_data_dir)
        assert len(pairs) == info.num_examples > 0
        assert all(type(pair) is tuple and len(pair) == 2 for pair in pairs)
        assert all(isinstance(side, str) and side for pair in pairs for side in pair)
    stats = json.loads((builder.data_path / en_ko.STATS_FILE).read_text())
    assert tfds_reader.cleaning_stats(corpus, en_ko_data_dir) == stats
    assert set(stats) == ({"all"} if corpus == "tatoeba" else set(builder.info.splits))


def test_slices_read_a_split_in_its_file_order(en_ko_data_dir, en_ko_splits):
    """Slices ('test[:10]', 'test[:10%]', 'test[-5:]') are those pairs, decoded to text."""

    def read(spec: str, corpus: str = "jhe") -> list[tuple[str, str]]:
        return tfds_reader.load_pairs(corpus, spec, data_dir=en_ko_data_dir)

    assert read("train[:2]", "tatoeba") == [("Go.", "가."), ("Hi.", "안녕.")]
    jhe_test = list(en_ko_splits("jhe")["test"])
    assert read("test") == jhe_test
    assert read("test[:10]") == jhe_test[:10]
    assert read("test[:10%]") == jhe_test[:72]
    assert read("test[-5:]") == jhe_test[-5:]


def test_unknown_corpus_or_split_lists_the_valid_ones(en_ko_data_dir):
    with pytest.raises(ConfigError, match="'wmt'; valid: tatoeba, jhe, news_v1, ntrex"):
        tfds_reader.load_pairs("wmt", "train", data_dir=en_ko_data_dir)
    with pytest.raises(ConfigError, match="no split 'train'; valid: validation, test"):
        tfds_reader.load_pairs("jhe", "train", data_dir=en_ko_data_dir)
    with pytest.raises(ConfigError, match=r"no split 'train\[:10\]'; valid: validation, test"):
        tfds_reader.load_pairs("jhe", "train[:10]", data_dir=en_ko_data_dir)
    # news v1 has a train split only when its train tarball was there.
    with pytest.raises(ConfigError, match="no split 'train'"):
        tfds_reader.load_pairs("news_v1", "train", data_dir=en_ko_data_dir)
    assert len(tfds_reader.load_pairs("jhe", "test[:10]", data_dir=en_ko_data_dir)) == 10


def test_load_pairs_prepares_a_corpus_from_manual_dir_when_needed(
    en_ko_manual_dir, en_ko_data_dir, en_ko_splits, tmp_path
):
    """An unprepared corpus is prepared first; cleaning_stats then reads its counts."""
    data_dir = str(tmp_path / "fresh")
    pairs = tfds_reader.load_pairs(
        "jhe", "validation", data_dir=data_dir, manual_dir=en_ko_manual_dir
    )
    assert pairs == list(en_ko_splits("jhe")["validation"])
    stats = tfds_reader.cleaning_stats("jhe", data_dir)
    assert stats == tfds_reader.cleaning_stats("jhe", en_ko_data_dir)
    assert stats["validation"]["kept"] == len(pairs)


def test_load_tfds_pairs_reads_any_prepared_translation_dataset(en_ko_data_dir, en_ko_splits):
    pairs = tfds_reader.load_tfds_pairs(
        "en_ko/jhe", "test", src_key="ko", tgt_key="en", data_dir=en_ko_data_dir
    )
    assert pairs == [(ko, en) for en, ko in en_ko_splits("jhe")["test"]]
    sliced = tfds_reader.load_tfds_pairs(
        "en_ko/jhe", "test[:3]", src_key="en", tgt_key="ko", data_dir=en_ko_data_dir
    )
    assert sliced == list(en_ko_splits("jhe")["test"][:3])
    with pytest.raises(ConfigError, match="no feature 'pt'; its features: en, ko"):
        tfds_reader.load_tfds_pairs(
            "en_ko/jhe", "test", src_key="pt", tgt_key="en", data_dir=en_ko_data_dir
        )
    with pytest.raises(
        ConfigError, match=r"en_ko/jhe\S* has no split 'train'; valid: validation, test"
    ):
        tfds_reader.load_tfds_pairs(
            "en_ko/jhe", "train", src_key="en", tgt_key="ko", data_dir=en_ko_data_dir
        )
    assert "tensorflow" not in sys.modules


def test_load_tfds_pairs_of_an_unprepared_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="'ted_hrlr_translate/pt_to_en' is not prepared in"):
        tfds_reader.load_tfds_pairs(
            "ted_hrlr_translate/pt_to_en",
            "test",
            src_key="pt",
            tgt_key="en",
            data_dir=str(tmp_path),
        )
    with pytest.raises(ConfigError, match="unknown TFDS dataset 'no_such_dataset'"):
        tfds_reader.load_tfds_pairs(
            "no_such_dataset", "test", src_key="pt", tgt_key="en", data_dir=str(tmp_path)
        )
    assert "tensorflow" not in sys.modules
