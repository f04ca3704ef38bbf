"""Parallel text for training and evaluation: TFDS splits, SentencePiece, bucketing.

A split is named by a spec string:
  'tatoeba:train'                               a split of the en_ko builder (en_ko.py);
  'tfds/ted_hrlr_translate/pt_to_en:validation' any prepared TFDS translation dataset, read
                                                with config.data.src_key / tgt_key;
  'tatoeba:train[:1000]'                        a TFDS slice of a split.

The tokenizers are trained on the train split's text the first time and saved
in workdir/tokenizers, so a restored model translates without retraining them.

Splits are read when first needed, never before: the train split by `train_batches` (or
to train tokenizers missing from the workdir), the held-out sets by `eval_sets`. So
translating needs only the workdir (config.json, tokenizers/, checkpoints), and a
corpus that cannot be read is a ConfigError naming the split and the directories.
With several processes, process 0 reads a split first (it may prepare the corpus), then
the others: every process must first ask for it at the same point (train.py and
evaluate.py do).
"""

import os
from collections.abc import Callable
from typing import Generic, TypeVar

import ml_collections
import numpy as np
from absl import logging

from s2s_jax import distributed
from s2s_jax.data import tfds_reader, translation_metrics
from s2s_jax.data.base import Batch, Pair, exact_match
from s2s_jax.data.batching import BucketedBatches, pad_batch, pad_sources
from s2s_jax.data.tokenizer import SubwordTokenizer, load_or_train
from s2s_jax.distributed import ONE_PROCESS, Share
from s2s_jax.errors import ConfigError, UserError
from s2s_jax.vocab import UNK_ID

T = TypeVar("T")


def load_split(spec: str, data: ml_collections.ConfigDict) -> list[Pair]:
    """The (source, target) pairs a spec string names (see the module docstring)."""
    name, sep, split = spec.partition(":")  # The first ':': a slice such as [:10] has one.
    if not sep or not name or not split:
        raise ConfigError(f"split spec {spec!r} is invalid: expected '<dataset>:<split>'")
    if name.startswith("tfds/"):
        return tfds_reader.load_tfds_pairs(
            name.removeprefix("tfds/"),
            split,
            src_key=data.src_key,
            tgt_key=data.tgt_key,
            data_dir=data.data_dir,
        )
    pairs = tfds_reader.load_pairs(
        name, split, data_dir=data.data_dir, manual_dir=data.manual_dir or None
    )
    if (data.src_key, data.tgt_key) == ("ko", "en"):
        return [(ko, en) for en, ko in pairs]
    if (data.src_key, data.tgt_key) != ("en", "ko"):
        raise ConfigError(
            f"config.data.src_key={data.src_key!r}, tgt_key={data.tgt_key!r}: the en_ko "
            "corpora have 'en' and 'ko'"
        )
    return pairs


def _tokenizers(
    data: ml_collections.ConfigDict, workdir: str, train: Callable[[], list[Pair]]
) -> tuple[SubwordTokenizer, SubwordTokenizer]:
    """The saved tokenizers; those missing are trained on `train()`, which reads the split."""
    directory = os.path.join(workdir, "tokenizers")
    os.makedirs(directory, exist_ok=True)
    options = {"character_coverage": data.character_coverage, "model_type": data.tokenizer_type}
    if data.shared_vocab:
        shared = load_or_train(
            directory,
            "shared",
            lambda: [t for pair in train() for t in pair],
            data.src_vocab_size,
            **options,
        )
        return shared, shared
    src = load_or_train(
        directory, "src", lambda: [s for s, _ in train()], data.src_vocab_size, **options
    )
    tgt = load_or_train(
        directory, "tgt", lambda: [t for _, t in train()], data.tgt_vocab_size, **options
    )
    return src, tgt


class _Once(Generic[T]):
    """A value made on first use. `local()` makes it in this process alone (inside
    make_data's writer_first); `shared()`, the first time, makes it in process 0 first and
    then in the others (distributed.writer_first), so all must first call it together."""

    def __init__(self, make: Callable[[], T]):
        self._make, self._value, self._shared = make, None, False

    def local(self) -> T:
        if self._value is None:
            self._value = self._make()
        return self._value

    def shared(self) -> T:
        if not self._shared:  # Process 0 may hold it already (local): it still takes part.
            self._value, self._shared = distributed.writer_first(self.local), True
        return self.local()


def _read(spec: str, field: str, data: ml_collections.ConfigDict) -> list[Pair]:
    """load_split, with a ConfigError that names the split, its config field and the
    directories (e.g. a workdir copied to a machine without the corpus)."""
    try:
        pairs = load_split(spec, data)
    except UserError as e:
        manual = data.manual_dir or "'' (download)"
        raise ConfigError(
            f"cannot read the split {spec!r} (config.data.{field}) with config.data.data_dir="
            f"{data.data_dir}, manual_dir={manual}: {e}"
        ) from e
    logging.info("Data: read %d pairs of %s (config.data.%s)", len(pairs), spec, field)
    return pairs


class _Batches(BucketedBatches):
    def stats(self) -> dict[str, float]:
        return {"epoch": float(self.epoch), "padding_fraction": self.padding_fraction(self.epoch)}


class TranslationData:
    """Parallel text from a `config.data` block; scores are BLEU and chrF (sacrebleu)."""

    best_metric = "chrf"

    def __init__(self, config: ml_collections.ConfigDict, workdir: str):
        """Loads the tokenizers from workdir/tokenizers, training (and so reading the train
        split) only those missing; no split is read otherwise (see the module docstring)."""
        self.config, data = config, config.data
        self._train = _Once(lambda: _read(data.train, "train", data))
        self._eval = _Once(self._read_eval_sets)
        self.src_tok, self.tgt_tok = _tokenizers(data, workdir, self._train.local)
        self.src_vocab_size, self.tgt_vocab_size = self.src_tok.size, self.tgt_tok.size
        self.boundaries = list(data.bucket_boundaries)
        self.max_len = self.boundaries[-1]
        self.max_decode_len = config.eval.max_decode_len or self.max_len
        logging.info(
            "Data: vocab %d -> %d (%s); splits read when first needed: train %s, eval %s%s",
            self.src_vocab_size,
            self.tgt_vocab_size,
            os.path.join(workdir, "tokenizers"),
            data.train,
            data.dev,
            "".join(f", {spec.strip()}" for spec in filter(None, data.tests.split(","))),
        )

    def _read_eval_sets(self) -> dict[str, list[Pair]]:
        data = self.config.data
        sets = {"dev": _read(data.dev, "dev", data)}
        for spec in filter(None, data.tests.split(",")):
            name = "test_" + spec.strip().replace("/", "_").replace(":", "_")
            sets[name] = _read(spec.strip(), "tests", data)
        logging.info("Data: eval sets %s", {k: len(v) for k, v in sets.items()})
        return sets

    def _encode(self, pairs: list[Pair]) -> list[tuple[list[int], list[int]]]:
        return [(self.src_tok.encode(s), self.tgt_tok.encode(t)) for s, t in pairs]

    def example_batch(self) -> Batch:
        """Fixes the shapes for init (the parameters depend on none of its values): one UNK
        pair at the first bucket's width, so no split is read."""
        return pad_batch([([UNK_ID], [UNK_ID])], self.boundaries[0], self.boundaries[0], 1)

    def train_batches(self, share: Share = ONE_PROCESS) -> _Batches:
        data = self.config.data
        return _Batches(
            self._encode(self._train.shared()),
            self.boundaries,
            seed=self.config.seed,
            max_tokens=data.max_tokens or None,
            batch_size=None if data.max_tokens else self.config.train.batch_size,
            # A token budget's rows are rounded to sharding.batch_multiple, a config value and
            # not the device count, so the batches are the same on any device count; a
            # sentence count is used as it is. (The 'data' mesh axis must divide either.)
            multiple_of=self.config.sharding.batch_multiple if data.max_tokens else 1,
            share=share,
        )

    def eval_sets(self) -> dict[str, list[Pair]]:
        """The held-out sets, read on the first call (all processes call it together)."""
        return self._eval.shared()

    def eval_batches(self, pairs: list[Pair]) -> list[Batch]:
        """Batches in order, each padded to the smallest bucket that fits it.

        Sentences longer than the largest bucket are cut to it (counted in a
        warning); the hypotheses are still scored against the full references.
        """
        ids = self._encode(pairs)
        cut = sum(len(s) > self.max_len or len(t) + 1 > self.max_len for s, t in ids)
        if cut:
            logging.warning("%d of %d eval pairs cut to %d tokens", cut, len(ids), self.max_len)
        ids = [(s[: self.max_len], t[: self.max_len - 1]) for s, t in ids]
        batches, size = [], self.config.eval.batch_size
        for start in range(0, len(ids), size):
            chunk = ids[start : start + size]
            need = max(max(len(s), len(t) + 1) for s, t in chunk)
            width = next(b for b in self.boundaries if b >= need)
            batches.append(pad_batch(chunk, width, width, size))
        return batches

    def encode_sources(self, texts: list[str], line_numbers: list[int]) -> np.ndarray:
        """src_BxS for sentences to translate; longer ones are cut, with a warning."""
        rows = []
        for i, text in zip(line_numbers, texts, strict=True):
            ids = self.src_tok.encode(text)
            if len(ids) > self.max_len:
                logging.warning(
                    "Input line %d is %d tokens long; translating its first %d",
                    i,
                    len(ids),
                    self.max_len,
                )
                ids = ids[: self.max_len]
            rows.append(ids)
        return pad_sources(rows, next(b for b in self.boundaries if b >= max(1, *map(len, rows))))

    def detokenize(self, ids: np.ndarray) -> str:
        return self.tgt_tok.decode(ids)

    def src_pieces(self, ids: np.ndarray) -> list[str]:
        return [self.src_tok.id_to_piece(i) for i in ids]  # SentencePiece's, '▁' and all.

    def tgt_pieces(self, ids: np.ndarray) -> list[str]:
        return [self.tgt_tok.id_to_piece(i) for i in ids]

    def score(self, hyps: list[str], pairs: list[Pair]) -> dict[str, float]:
        scores = translation_metrics.corpus_scores(hyps, [t for _, t in pairs])
        numbers = {k: v for k, v in scores.items() if isinstance(v, float)}
        return {**numbers, "exact_match": exact_match(hyps, pairs)}

    def source_length(self, text: str) -> int:
        """Whitespace-separated words, as Bahdanau et al. (2015) count sentence length
        ('Hello, world!' is 2); not SentencePiece pieces."""
        return len(text.split())
