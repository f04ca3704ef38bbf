"""Tests of the English–Korean TFDS builder (en_ko.py): preparing the corpora and cleaning them.

On the real corpora (prepared once per session by conftest.py, skipped where the shared
data is absent): split sizes, counts per cleaning rule, the Tatoeba split, the cleaned
text, and preparing again. On handmade files in tmp dirs: malformed input and the news
train split. Reading prepared data (load_pairs, load_tfds_pairs, cleaning_stats) is
tested in test_tfds_reader.py.
"""

import hashlib
import io
import json
import socket
import tarfile
from pathlib import Path

import pytest

from s2s_jax.data import en_ko, tfds_reader
from s2s_jax.data.text_cleaning import COUNT_KEYS
from s2s_jax.errors import ConfigError, UserError

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


def _stats(builder: en_ko.EnKo) -> dict[str, dict[str, int]]:
    """The counts per cleaning rule the builder wrote next to the prepared data."""
    return json.loads((builder.data_path / en_ko.STATS_FILE).read_text())


def _read_all(corpus: str, data_dir: str) -> dict[str, tuple[tuple[str, str], ...]]:
    """Every split of a corpus prepared in `data_dir`, as `en_ko_splits` gives them."""
    splits = en_ko.prepare(corpus, data_dir, None).info.splits
    return {s: tuple(tfds_reader.load_pairs(corpus, s, data_dir=data_dir)) for s in splits}


@pytest.mark.parametrize("corpus", en_ko.CORPORA)
def test_split_sizes_and_counts_per_rule(corpus, en_ko_data_dir):
    """The prepared splits and the counts per cleaning rule written beside them.

    Reading them back is tested in test_tfds_reader.py.
    """
    builder = en_ko.prepare(corpus, en_ko_data_dir, None)
    assert {s: i.num_examples for s, i in builder.info.splits.items()} == SPLIT_SIZES[corpus]
    expected = {
        split: {key: nonzero.get(key, 0) for key in COUNT_KEYS}
        for split, nonzero in NONZERO_COUNTS[corpus].items()
    }
    assert _stats(builder) == expected


@pytest.mark.parametrize("corpus", en_ko.CORPORA)
def test_every_raw_line_is_kept_or_dropped_once(corpus, en_ko_data_dir):
    for split, counts in _stats(en_ko.prepare(corpus, en_ko_data_dir, None)).items():
        dropped = sum(v for k, v in counts.items() if k.startswith("dropped_"))
        assert counts["kept"] + dropped == RAW_LINES[corpus][split]


def test_tatoeba_splits_are_disjoint_by_english_sentence(en_ko_splits):
    pairs = en_ko_splits("tatoeba")
    english = {split: {en for en, _ in p} for split, p in pairs.items()}
    assert not english["train"] & english["validation"]
    assert not english["train"] & english["test"]
    assert not english["validation"] & english["test"]
    # 5,130 distinct English sentences, less the one dropped 101-word outlier.
    assert sum(len(e) for e in english.values()) == 5129
    for split, sentences in english.items():
        assert {en_ko.tatoeba_split(en) for en in sentences} == {split}
    # File order is kept: the export is sorted by length.
    assert pairs["train"][:2] == (("Go.", "가."), ("Hi.", "안녕."))


def test_cleaned_pairs_hold_none_of_the_known_dirt(en_ko_splits):
    for corpus in en_ko.CORPORA:
        for pairs in en_ko_splits(corpus).values():
            for en, ko in pairs:
                for side in (en, ko):
                    assert side == side.strip() and "  " not in side
                    assert not any(c in side for c in "\r\xa0") and "&#" not in side
                    assert "¡°" not in side and not side.startswith("##http")
    ntrex = en_ko_splits("ntrex")["test"]
    assert ("Il faut bien le faire.", "Il faut bien le faire.") not in ntrex
    # Its two repeated Korean lines translate distinct English lines, so both stay.
    assert sum(ko == "매우 좋지 않습니다." for _, ko in ntrex) == 2


def test_preparing_again_gives_the_same_splits(en_ko_manual_dir, en_ko_splits, tmp_path):
    for corpus in ("tatoeba", "news_v1"):
        en_ko.prepare(corpus, str(tmp_path), en_ko_manual_dir)
        assert _read_all(corpus, str(tmp_path)) == en_ko_splits(corpus)


def test_prepare_reuses_a_prepared_corpus(en_ko_data_dir):
    info = en_ko.prepare("jhe", en_ko_data_dir, None).data_path / "dataset_info.json"
    mtime = info.stat().mtime
    en_ko.prepare("jhe", en_ko_data_dir, "/no/such/dir")  # Not even looked at.
    assert info.stat().mtime == mtime


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
