"""Tests for the English–Korean TFDS dataset: real corpora, handmade files, and errors.

The real corpora are read from the shared data directory next to the repository
(ROOT/../shared/data/en_ko); those tests are skipped where it is absent.
"""

import hashlib
import io
import json
import socket
import sys
import tarfile
from pathlib import Path

import pytest

from s2s_jax.data import en_ko, tfds_reader
from s2s_jax.data.text_cleaning import COUNT_KEYS
from s2s_jax.errors import ConfigError, UserError

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data" / "en_ko"

SPLIT_SIZES = {
    "tatoeba": {"train": 5175, "validation": 289, "test": 284},
    "jhe": {"validation": 720, "test": 720},
    "news_v1": {"validation": 979, "test": 1938},
    "ntrex": {"test": 1996},
}
# The counts per rule that are not zero, by corpus and split ('all': tatoeba before splitting).
NONZERO_COUNTS = {
    "tatoeba": {"all": {"dropped_too_long": 1, "kept": 5748}},
    "jhe": {
        "validation": {"spaces_normalized": 6, "kept": 720},
        "test": {"spaces_normalized": 11, "kept": 720},
    },
    "news_v1": {
        "validation": {
            "html_unescaped": 8,
            "mojibake_fixed": 3,
            "spaces_normalized": 16,
            "dropped_url": 1,
            "dropped_ratio": 20,
            "kept": 979,
        },
        "test": {
            "html_unescaped": 80,
            "mojibake_fixed": 135,
            "spaces_normalized": 32,
            "dropped_url": 1,
            "dropped_duplicate": 4,
            "dropped_ratio": 57,
            "kept": 1938,
        },
    },
    "ntrex": {
        "test": {
            "crlf_fixed": 1997,
            "spaces_normalized": 31,
            "dropped_untranslated": 1,
            "kept": 1996,
        }
    },
}
# Raw lines per split, from the data's MANIFEST.md.
RAW_LINES = {
    "tatoeba": {"all": 5749},
    "jhe": {"validation": 720, "test": 720},
    "news_v1": {"validation": 1000, "test": 2000},
    "ntrex": {"test": 1997},
}


def _require_shared_data() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"the shared English-Korean data is not at {SHARED}")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> str:
    """A data dir with every corpus prepared once from the shared data."""
    _require_shared_data()
    path = str(tmp_path_factory.mktemp("en_ko_data"))
    for corpus in en_ko.CORPORA:
        en_ko.prepare(corpus, path, str(SHARED))
    return path


def _all_splits(corpus: str, data_dir: str) -> dict[str, list[tuple[str, str]]]:
    return {
        split: tfds_reader.load_pairs(corpus, split, data_dir=data_dir)
        for split in SPLIT_SIZES[corpus]
    }


@pytest.mark.parametrize("corpus", en_ko.CORPORA)
def test_split_sizes_and_counts_per_rule(corpus, data_dir):
    builder = en_ko.prepare(corpus, data_dir, None)
    assert {s: i.num_examples for s, i in builder.info.splits.items()} == SPLIT_SIZES[corpus]
    pairs = _all_splits(corpus, data_dir)
    assert {split: len(p) for split, p in pairs.items()} == SPLIT_SIZES[corpus]
    assert all(isinstance(s, str) for p in pairs.values() for pair in p for s in pair)
    expected = {
        split: {key: nonzero.get(key, 0) for key in COUNT_KEYS}
        for split, nonzero in NONZERO_COUNTS[corpus].items()
    }
    assert tfds_reader.cleaning_stats(corpus, data_dir) == expected
    stats_file = builder.data_path / en_ko.STATS_FILE
    assert json.loads(stats_file.read_text()) == expected


@pytest.mark.parametrize("corpus", en_ko.CORPORA)
def test_every_raw_line_is_kept_or_dropped_once(corpus, data_dir):
    for split, counts in tfds_reader.cleaning_stats(corpus, data_dir).items():
        dropped = sum(v for k, v in counts.items() if k.startswith("dropped_"))
        assert counts["kept"] + dropped == RAW_LINES[corpus][split]


def test_tatoeba_splits_are_disjoint_by_english_sentence(data_dir):
    pairs = _all_splits("tatoeba", data_dir)
    english = {split: {en for en, _ in p} for split, p in pairs.items()}
    assert not english["train"] & english["validation"]
    assert not english["train"] & english["test"]
    assert not english["validation"] & english["test"]
    # 5,130 distinct English sentences, less the one dropped 101-word outlier.
    assert sum(len(e) for e in english.values()) == 5129
    for split, sentences in english.items():
        assert {en_ko.tatoeba_split(en) for en in sentences} == {split}
    # File order is kept: the export is sorted by length.
    assert pairs["train"][:2] == [("Go.", "가."), ("Hi.", "안녕.")]


def test_cleaned_pairs_hold_none_of_the_known_dirt(data_dir):
    for corpus in en_ko.CORPORA:
        for pairs in _all_splits(corpus, data_dir).values():
            for en, ko in pairs:
                for side in (en, ko):
                    assert side == side.strip() and "  " not in side
                    assert not any(c in side for c in "\r\xa0") and "&#" not in side
                    assert "¡°" not in side and not side.startswith("##http")
    ntrex = tfds_reader.load_pairs("ntrex", "test", data_dir=data_dir)
    assert ("Il faut bien le faire.", "Il faut bien le faire.") not in ntrex
    # Its two repeated Korean lines translate distinct English lines, so both stay.
    assert sum(ko == "매우 좋지 않습니다." for _, ko in ntrex) == 2


def test_preparing_again_gives_the_same_splits(data_dir, tmp_path):
    _require_shared_data()
    for corpus in ("tatoeba", "news_v1"):
        en_ko.prepare(corpus, str(tmp_path), str(SHARED))
        assert _all_splits(corpus, str(tmp_path)) == _all_splits(corpus, data_dir)


def test_prepare_reuses_a_prepared_corpus(data_dir):
    info = en_ko.prepare("jhe", data_dir, None).data_path / "dataset_info.json"
    mtime = info.stat().mtime
    en_ko.prepare("jhe", data_dir, "/no/such/dir")  # Not even looked at.
    assert info.stat().mtime == mtime


def test_unknown_corpus_or_split_lists_the_valid_ones(data_dir):
    with pytest.raises(ConfigError, match="'wmt'; valid: tatoeba, jhe, news_v1, ntrex"):
        tfds_reader.load_pairs("wmt", "train", data_dir=data_dir)
    with pytest.raises(ConfigError, match="no split 'train'; valid: validation, test"):
        tfds_reader.load_pairs("jhe", "train", data_dir=data_dir)
    # news v1 has a train split only when its train tarball was there.
    with pytest.raises(ConfigError, match="no split 'train'"):
        tfds_reader.load_pairs("news_v1", "train", data_dir=data_dir)
    assert len(tfds_reader.load_pairs("jhe", "test[:10]", data_dir=data_dir)) == 10


def test_load_tfds_pairs_reads_any_prepared_translation_dataset(data_dir):
    pairs = tfds_reader.load_tfds_pairs(
        "en_ko/jhe", "test", src_key="ko", tgt_key="en", data_dir=data_dir
    )
    jhe = tfds_reader.load_pairs("jhe", "test", data_dir=data_dir)
    assert pairs == [(ko, en) for en, ko in jhe]
    with pytest.raises(ConfigError, match="no feature 'pt'; its features: en, ko"):
        tfds_reader.load_tfds_pairs(
            "en_ko/jhe", "test", src_key="pt", tgt_key="en", data_dir=data_dir
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


@pytest.mark.parametrize("make_dir", [True, False])
def test_manual_dir_without_the_files_is_a_clear_error(tmp_path, make_dir):
    manual = tmp_path / "manual"
    if make_dir:
        manual.mkdir()
    expected = "lacks tatoeba/kor.txt" if make_dir else "is not a directory"
    with pytest.raises(ConfigError, match=expected):
        en_ko.prepare("tatoeba", str(tmp_path / "data"), str(manual))


def test_without_network_or_manual_dir_the_error_asks_for_a_manual_dir(tmp_path, monkeypatch):
    def no_network(host, *args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, f"cannot resolve {host}")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    with pytest.raises(ConfigError, match=r"could not download en_ko/jhe .*pass manual_dir"):
        en_ko.prepare("jhe", str(tmp_path), None)


# --- Handmade corpora in tmp dirs: malformed files and the news train split. -----------


def _write_tarball(path: Path, split: str, en: list[str], ko: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for lang, lines in (("en", en), ("ko", ko)):
            data = "".join(line + "\n" for line in lines).encode("utf-8")
            member = tarfile.TarInfo(f"korean-english-park.{split}.{lang}")
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))


def test_a_malformed_tatoeba_line_names_file_and_line(tmp_path):
    kor = tmp_path / "manual" / "tatoeba" / "kor.txt"
    kor.parent.mkdir(parents=True)
    kor.write_text("Go.\t가.\tCC-BY\nHi.\t안녕.\tCC-BY\nno tab here\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"kor.txt:3: expected 'English<TAB>Korean"):
        en_ko.prepare("tatoeba", str(tmp_path / "data"), str(tmp_path / "manual"))


def test_bad_utf8_names_file_and_line(tmp_path):
    kor = tmp_path / "manual" / "tatoeba" / "kor.txt"
    kor.parent.mkdir(parents=True)
    kor.write_bytes("Go.\t가.\tCC-BY\n".encode() + b"Hi.\t\xff\tCC-BY\n")
    with pytest.raises(UserError, match=r"kor.txt:2: not valid UTF-8"):
        en_ko.prepare("tatoeba", str(tmp_path / "data"), str(tmp_path / "manual"))


def test_sides_of_different_lengths_name_both_files(tmp_path):
    jhe = tmp_path / "manual" / "jhe"
    jhe.mkdir(parents=True)
    for part in ("dev", "eval"):
        (jhe / f"jhe-koen-{part}.en").write_text("One.\nTwo.\n", encoding="utf-8")
        (jhe / f"jhe-koen-{part}.ko").write_text("하나.\n", encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"jhe-koen-dev.en has 2 lines but .*jhe-koen-dev.ko has 1"
    ):
        en_ko.prepare("jhe", str(tmp_path / "data"), str(tmp_path / "manual"))


def test_news_train_split_comes_from_a_checksummed_train_tarball(tmp_path, monkeypatch):
    news = tmp_path / "manual" / "news_v1"
    en, ko = ["One.", "Two.", "Three."], ["하나.", "둘.", "셋."]
    for split in ("dev", "test", "train"):
        _write_tarball(news / f"korean-english-park.{split}.tar.gz", split, en, ko)
    train = news / "korean-english-park.train.tar.gz"
    with pytest.raises(ConfigError, match=f"{train} has sha256 .*, expected 9750eec"):
        en_ko.prepare("news_v1", str(tmp_path / "data"), str(tmp_path / "manual"))

    files = en_ko._FILES["news_v1"]
    digest = hashlib.sha256(train.read_bytes()).hexdigest()
    patched = (*files[:2], en_ko._news("train", sha256=digest, optional=True))
    monkeypatch.setitem(en_ko._FILES, "news_v1", patched)
    data_dir = str(tmp_path / "data2")
    en_ko.prepare("news_v1", data_dir, str(tmp_path / "manual"))
    for split in ("train", "validation", "test"):
        pairs = tfds_reader.load_pairs("news_v1", split, data_dir=data_dir)
        assert pairs == list(zip(en, ko, strict=True))
