"""English–Korean parallel corpora as a TFDS dataset, built and read without TensorFlow.

`EnKo` (TFDS name 'en_ko') has one config per corpus:

| config    | splits                                   | source                               |
|-----------|------------------------------------------|--------------------------------------|
| `tatoeba` | train / validation / test (90/5/5)       | manythings.org Anki export, kor.txt  |
| `jhe`     | validation (dev) / test (eval)           | JHE English–Korean set               |
| `news_v1` | validation / test, and train when given  | Korean–English news v1 tarballs      |
| `ntrex`   | test                                     | NTREX-128 newstest2019, eng -> kor   |

The data is prepared once with `file_format='array_record'` and read with
`as_data_source`, which needs neither TensorFlow nor a network. The files come
from `manual_dir` when it holds any files (the layout of the shared data
directory: `tatoeba/kor.txt`, `jhe/jhe-koen-dev.en`, `news_v1/…tar.gz`,
`ntrex128/newstest2019-src.eng.txt`, …), else they are downloaded.

Every split goes through `text_cleaning.clean_pairs`; the counts per rule are
logged and written to `cleaning_stats.json` in the prepared dataset's directory,
keyed by split ('all' for tatoeba, which is cleaned before it is split, so that
the split hash sees the cleaned English sentence). Examples keep file order
(`disable_shuffling`): tatoeba's train split is sorted by length, so shuffle it.
"""

import dataclasses
import hashlib
import json
import os
import socket
import tarfile
import urllib.parse
from collections.abc import Iterable
from typing import ClassVar

import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from s2s_jax.data.base import decode_utf8
from s2s_jax.data.text_cleaning import clean_pairs
from s2s_jax.errors import ConfigError

CORPORA = ("tatoeba", "jhe", "news_v1", "ntrex")
STATS_FILE = "cleaning_stats.json"
_JHE_URL = (
    "https://raw.githubusercontent.com/jungyeul/korean-parallel-corpora/"
    "07883d4cae4e309dfde8c48c5f37ebea0b59574e/korean-english-jhe/"
)
_NEWS_URL = (
    "https://raw.githubusercontent.com/jungyeul/korean-parallel-corpora/"
    "07883d4cae4e309dfde8c48c5f37ebea0b59574e/korean-english-news-v1/"
)
_NTREX_URL = "https://raw.githubusercontent.com/MicrosoftTranslator/NTREX/main/NTREX-128/"
_NEWS_TRAIN_SHA256 = "9750eecef363a9abbadbe40b6a4140c2052ebe06abf4a98665abdcfdedf014a8"


@dataclasses.dataclass(frozen=True)
class _File:
    """One source file: where it sits under `manual_dir`, and where to download it."""

    rel: str  # Path under manual_dir.
    url: str
    member: str | None = None  # The URL is an archive to extract; this file is inside.
    sha256: str | None = None
    optional: bool = False


def _news(split: str, **kwargs) -> _File:
    name = f"korean-english-park.{split}.tar.gz"
    return _File(f"news_v1/{name}", _NEWS_URL + name, **kwargs)


_FILES: dict[str, tuple[_File, ...]] = {
    "tatoeba": (
        _File("tatoeba/kor.txt", "https://www.manythings.org/anki/kor-eng.zip", member="kor.txt"),
    ),
    "jhe": tuple(
        _File(f"jhe/jhe-koen-{part}.{lang}", f"{_JHE_URL}jhe-koen-{part}.{lang}")
        for part in ("dev", "eval")
        for lang in ("en", "ko")
    ),
    "news_v1": (
        _news("dev"),
        _news("test"),
        _news("train", sha256=_NEWS_TRAIN_SHA256, optional=True),
    ),
    "ntrex": tuple(
        _File(f"ntrex128/{name}", _NTREX_URL + name)
        for name in ("newstest2019-src.eng.txt", "newstest2019-ref.kor.txt")
    ),
}


@dataclasses.dataclass(eq=False, kw_only=True)
class EnKoConfig(tfds.core.BuilderConfig):
    """A corpus, with its cleaning filters (see `text_cleaning.clean_pairs`)."""

    max_words: int = 80
    max_ratio: float = 4.0


class EnKo(tfds.core.GeneratorBasedBuilder):
    """English–Korean sentence pairs: {'en': text, 'ko': text}."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {"1.0.0": "Initial release."}
    # Tatoeba, JHE and NTREX are sentence-aligned by hand, so their ratio limit only
    # catches gross misalignment; English runs ~1.8x Korean in characters.
    BUILDER_CONFIGS: ClassVar[list[EnKoConfig]] = [
        EnKoConfig(name="tatoeba", description="Tatoeba.", max_words=50, max_ratio=9.0),
        EnKoConfig(name="jhe", description="JHE dev and eval sets.", max_ratio=9.0),
        EnKoConfig(name="news_v1", description="Korean-English news v1.", max_ratio=4.0),
        EnKoConfig(name="ntrex", description="NTREX-128 newstest2019.", max_ratio=9.0),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Put the files in manual_dir with the layout of the shared data directory:
      tatoeba/kor.txt                          (from kor-eng.zip, manythings.org/anki)
      jhe/jhe-koen-{dev,eval}.{en,ko}
      news_v1/korean-english-park.{dev,test}.tar.gz   (and .train.tar.gz, optional)
      ntrex128/newstest2019-{src.eng,ref.kor}.txt
    """

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=tfds.features.FeaturesDict(
                {"en": tfds.features.Text(), "ko": tfds.features.Text()}
            ),
            supervised_keys=("en", "ko"),
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        config = self.builder_config
        raw = _read_corpus(config.name, _fetch(config.name, dl_manager))
        stats: dict[str, dict[str, int]] = {}
        splits: dict[str, list[tuple[str, str]]] = {}
        if config.name == "tatoeba":
            kept, stats["all"] = clean_pairs(
                raw["all"], max_words=config.max_words, max_ratio=config.max_ratio
            )
            splits = {"train": [], "validation": [], "test": []}
            for pair in kept:
                splits[tatoeba_split(pair[0])].append(pair)
        else:
            for split, pairs in raw.items():
                splits[split], stats[split] = clean_pairs(
                    pairs, max_words=config.max_words, max_ratio=config.max_ratio
                )
        for part, counts in stats.items():
            logging.info("en_ko/%s %s cleaning: %s", config.name, part, json.dumps(counts))
        (self.data_path / STATS_FILE).write_text(json.dumps(stats, indent=2))
        return {split: self._generate_examples(pairs) for split, pairs in splits.items()}

    def _generate_examples(self, pairs: list[tuple[str, str]]):
        for i, (en, ko) in enumerate(pairs):
            yield i, {"en": en, "ko": ko}


def tatoeba_split(english: str) -> str:
    """The split of a Tatoeba English sentence: sha256 bucket mod 100, 90/5/5."""
    bucket = int.from_bytes(hashlib.sha256(english.encode("utf-8")).digest()[:8], "big") % 100
    return "train" if bucket < 90 else "validation" if bucket < 95 else "test"


# --- Finding and reading the source files. ---------------------------------------------


def _given_manual_dir(dl_manager: tfds.download.DownloadManager) -> epath.Path | None:
    """The manual dir if it exists and holds files (TFDS asserts otherwise), else None."""
    try:
        return dl_manager.manual_dir
    except AssertionError:
        return None


def _fetch(corpus: str, dl_manager: tfds.download.DownloadManager) -> dict[str, epath.Path]:
    """Local paths of the corpus' files, keyed by `_File.rel`; absent optional ones left out."""
    files = _FILES[corpus]
    manual = _given_manual_dir(dl_manager)
    if manual is not None:
        _check_files(corpus, manual)
        paths = {f.rel: manual / f.rel for f in files if (manual / f.rel).exists()}
    else:
        try:
            _resolve_hosts(f.url for f in files)  # Fails in a second, not after retries.
            archives = dl_manager.download_and_extract({f.rel: f.url for f in files if f.member})
            plain = dl_manager.download({f.rel: f.url for f in files if not f.member})
        except Exception as err:  # Any failure to download means the same fix.
            raise ConfigError(
                f"could not download en_ko/{corpus} ({type(err).__name__}: {err}); without a "
                f"network, pass manual_dir holding {', '.join(f.rel for f in files)}"
            ) from err
        paths = {**plain, **{f.rel: archives[f.rel] / f.member for f in files if f.member}}
    for f in files:
        if f.sha256 and f.rel in paths:
            digest = hashlib.sha256(paths[f.rel].read_bytes()).hexdigest()
            if digest != f.sha256:
                raise ConfigError(f"{paths[f.rel]} has sha256 {digest}, expected {f.sha256}")
    return paths


def _resolve_hosts(urls: Iterable[str]) -> None:
    """Raises OSError if a URL's host name does not resolve (e.g. there is no network)."""
    for host in sorted({urllib.parse.urlsplit(url).hostname or url for url in urls}):
        socket.getaddrinfo(host, 443)


def _check_files(corpus: str, manual_dir: epath.PathLike) -> None:
    """Raises a ConfigError unless `manual_dir` holds every required file of `corpus`."""
    root = epath.Path(manual_dir)
    if not root.is_dir():
        raise ConfigError(f"manual_dir {root} is not a directory")
    missing = [f.rel for f in _FILES[corpus] if not f.optional and not (root / f.rel).exists()]
    if missing:
        raise ConfigError(
            f"manual_dir {root} lacks {', '.join(missing)} (needed for en_ko/{corpus}); "
            "it needs the layout of the shared en_ko data directory"
        )


def _lines(data: bytes, where: str) -> list[str]:
    """UTF-8 lines split on '\\n' only (a '\\r' stays, for the cleaning to count)."""
    lines = decode_utf8(data, where).split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def _aligned(en: list[str], ko: list[str], en_where: str, ko_where: str) -> list[tuple[str, str]]:
    if len(en) != len(ko):
        raise ConfigError(
            f"{en_where} has {len(en)} lines but {ko_where} has {len(ko)}; "
            "the two sides must align line by line"
        )
    return list(zip(en, ko, strict=True))


def _tsv_pairs(path: epath.Path) -> list[tuple[str, str]]:
    """(English, Korean) from 'English<TAB>Korean<TAB>attribution' lines."""
    pairs = []
    for number, line in enumerate(_lines(path.read_bytes(), str(path)), start=1):
        fields = line.split("\t")
        if len(fields) < 2:
            raise ConfigError(
                f"{path}:{number}: expected 'English<TAB>Korean<TAB>attribution', got {line[:80]!r}"
            )
        pairs.append((fields[0], fields[1]))
    return pairs


def _tarball_pairs(path: epath.Path) -> list[tuple[str, str]]:
    """(English, Korean) from the one '.en' and one '.ko' file in a news tarball."""
    try:
        with path.open("rb") as raw, tarfile.open(fileobj=raw, mode="r:gz") as tar:
            files = {m.name: m for m in tar.getmembers() if m.isfile()}
            sides = {}
            for lang in ("en", "ko"):
                names = [n for n in files if n.endswith(f".{lang}")]
                if len(names) != 1:
                    raise ConfigError(
                        f"{path}: expected one .{lang} file, found {names or 'none'} "
                        f"among {sorted(files)}"
                    )
                where = f"{path}[{names[0]}]"
                sides[lang] = (_lines(tar.extractfile(files[names[0]]).read(), where), where)
    except (tarfile.TarError, OSError, EOFError) as err:
        raise ConfigError(f"{path}: not a readable .tar.gz ({err})") from err
    (en, en_where), (ko, ko_where) = sides["en"], sides["ko"]
    return _aligned(en, ko, en_where, ko_where)


def _file_pairs(en_path: epath.Path, ko_path: epath.Path) -> list[tuple[str, str]]:
    en = _lines(en_path.read_bytes(), str(en_path))
    ko = _lines(ko_path.read_bytes(), str(ko_path))
    return _aligned(en, ko, str(en_path), str(ko_path))


def _read_corpus(corpus: str, paths: dict[str, epath.Path]) -> dict[str, list[tuple[str, str]]]:
    """Raw (English, Korean) pairs per split ('all' for tatoeba, split after cleaning)."""
    if corpus == "tatoeba":
        return {"all": _tsv_pairs(paths["tatoeba/kor.txt"])}
    if corpus == "jhe":
        return {
            split: _file_pairs(paths[f"jhe/jhe-koen-{part}.en"], paths[f"jhe/jhe-koen-{part}.ko"])
            for split, part in (("validation", "dev"), ("test", "eval"))
        }
    if corpus == "news_v1":
        splits = {"train": "train", "validation": "dev", "test": "test"}
        return {
            split: _tarball_pairs(paths[_news(part).rel])
            for split, part in splits.items()
            if _news(part).rel in paths
        }
    return {
        "test": _file_pairs(
            paths["ntrex128/newstest2019-src.eng.txt"], paths["ntrex128/newstest2019-ref.kor.txt"]
        )
    }


# --- Public helpers. ---------------------------------------------------------------------


def _check_corpus(corpus: str) -> None:
    if corpus not in CORPORA:
        raise ConfigError(f"unknown en_ko corpus {corpus!r}; valid: {', '.join(CORPORA)}")


def prepare(corpus: str, data_dir: str, manual_dir: str | None = None) -> EnKo:
    """Builds `corpus` in `data_dir` once (array_record) and returns its builder.

    Files come from `manual_dir` if given, else they are downloaded into
    `data_dir/downloads`. A corpus already prepared in `data_dir` is reused as is.
    """
    _check_corpus(corpus)
    builder = EnKo(config=corpus, data_dir=data_dir, file_format="array_record")
    if builder.is_prepared():
        return builder
    if manual_dir is not None:
        _check_files(corpus, manual_dir)
    builder.download_and_prepare(
        download_dir=os.path.join(data_dir, "downloads"),
        download_config=tfds.download.DownloadConfig(manual_dir=manual_dir),
        file_format="array_record",
    )
    return builder
