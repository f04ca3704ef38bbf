"""Reading TFDS translation datasets without TensorFlow: the en_ko corpora, or any prepared one.

Datasets are read with `as_data_source` from `array_record` files, which needs
neither TensorFlow nor a network once the data is prepared.
"""

import json

import tensorflow_datasets as tfds

from s2s_jax.data.base import Pair
from s2s_jax.data.en_ko import STATS_FILE, prepare
from s2s_jax.errors import ConfigError


def load_pairs(
    corpus: str, split: str, *, data_dir: str, manual_dir: str | None = None
) -> list[Pair]:
    """The (English, Korean) pairs of one split of `corpus`, preparing it if needed."""
    return _read_split(prepare(corpus, data_dir, manual_dir), split, "en", "ko")


def cleaning_stats(
    corpus: str, data_dir: str, manual_dir: str | None = None
) -> dict[str, dict[str, int]]:
    """Counts per cleaning rule, keyed by split ('all' for tatoeba), preparing if needed."""
    builder = prepare(corpus, data_dir, manual_dir)
    return json.loads((builder.data_path / STATS_FILE).read_text())


def load_tfds_pairs(
    name: str, split: str, *, src_key: str, tgt_key: str, data_dir: str
) -> list[Pair]:
    """(source, target) pairs of an already-prepared TFDS translation dataset.

    For example `load_tfds_pairs('ted_hrlr_translate/pt_to_en', 'validation',
    src_key='pt', tgt_key='en', data_dir=...)`. The dataset must have been prepared
    in `data_dir` with `file_format='array_record'`, which is readable without
    TensorFlow.
    """
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except ValueError as err:  # DatasetNotFoundError, or an unknown config.
        raise ConfigError(f"unknown TFDS dataset {name!r}: {' '.join(str(err).split())}") from err
    if not builder.is_prepared():
        raise ConfigError(
            f"TFDS dataset {name!r} is not prepared in {data_dir}; prepare it first, e.g. "
            f"tfds.builder({name!r}, data_dir=...).download_and_prepare("
            "file_format='array_record')"
        )
    file_format = builder.info.file_format
    if file_format is not None and file_format.value != "array_record":
        raise ConfigError(
            f"TFDS dataset {name!r} in {data_dir} is stored as {file_format.value}; reading "
            "it without TensorFlow needs file_format='array_record'"
        )
    keys = list(builder.info.features.keys())
    for key in (src_key, tgt_key):
        if key not in keys:
            raise ConfigError(
                f"TFDS dataset {name!r} has no feature {key!r}; its features: {', '.join(keys)}"
            )
    return _read_split(builder, split, src_key, tgt_key)


def _read_split(
    builder: tfds.core.DatasetBuilder, split: str, src_key: str, tgt_key: str
) -> list[Pair]:
    """Reads one split (slices such as 'train[:10%]' allowed) with `as_data_source`."""
    available = list(builder.info.splits.keys())
    if split.split("[")[0] not in available:
        raise ConfigError(
            f"{builder.info.full_name} has no split {split!r}; valid: {', '.join(available)}"
        )
    source = builder.as_data_source(split=split)
    records = source.__getitems__(range(len(source)))
    return [(_text(r[src_key]), _text(r[tgt_key])) for r in records]


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
