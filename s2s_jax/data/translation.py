"""Parallel text for training and evaluation: TFDS splits, SentencePiece, bucketing.

A split is named by a spec string:
  'tatoeba:train'                               a split of the en_ko builder (en_ko.py);
  'tfds/ted_hrlr_translate/pt_to_en:validation' any prepared TFDS translation dataset, read
                                                with config.data.src_key / tgt_key;
  'tatoeba:train[:1000]'                        a TFDS slice of a split.

The tokenizers are trained on the train split's text the first time and saved
in workdir/tokenizers, so a restored model translates without retraining them.
"""

import os

import ml_collections
import numpy as np
from absl import logging

from s2s_jax.data import tfds_reader, translation_metrics
from s2s_jax.data.base import Batch, Pair, exact_match
from s2s_jax.data.batching import BucketedBatches, pad_batch, pad_sources
from s2s_jax.data.tokenizer import SubwordTokenizer, load_or_train
from s2s_jax.distributed import ONE_PROCESS, Share
from s2s_jax.errors import ConfigError


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
    data: ml_collections.ConfigDict, workdir: str, train: list[Pair]
) -> tuple[SubwordTokenizer, SubwordTokenizer]:
    directory = os.path.join(workdir, "tokenizers")
    os.makedirs(directory, exist_ok=True)
    options = {"character_coverage": data.character_coverage, "model_type": data.tokenizer_type}
    if data.shared_vocab:
        shared = load_or_train(
            directory,
            "shared",
            lambda: [t for pair in train for t in pair],
            data.src_vocab_size,
            **options,
        )
        return shared, shared
    src = load_or_train(
        directory, "src", lambda: [s for s, _ in train], data.src_vocab_size, **options
    )
    tgt = load_or_train(
        directory, "tgt", lambda: [t for _, t in train], data.tgt_vocab_size, **options
    )
    return src, tgt


class _Batches(BucketedBatches):
    def stats(self) -> dict[str, float]:
        return {"epoch": float(self.epoch), "padding_fraction": self.padding_fraction(self.epoch)}


class TranslationData:
    """Parallel text from a `config.data` block; scores are BLEU and chrF (sacrebleu)."""

    best_metric = "chrf"

    def __init__(self, config: ml_collections.ConfigDict, workdir: str):
        self.config, data = config, config.data
        self._train = load_split(data.train, data)
        self._eval = {"dev": load_split(data.dev, data)}
        for spec in filter(None, data.tests.split(",")):
            self._eval["test_" + spec.strip().replace("/", "_").replace(":", "_")] = load_split(
                spec.strip(), data
            )
        self.src_tok, self.tgt_tok = _tokenizers(data, workdir, self._train)
        self.src_vocab_size, self.tgt_vocab_size = self.src_tok.size, self.tgt_tok.size
        self.boundaries = list(data.bucket_boundaries)
        self.max_len = self.boundaries[-1]
        self.max_decode_len = config.eval.max_decode_len or self.max_len
        logging.info(
            "Data: %d train pairs (%s), eval sets %s; vocab %d -> %d",
            len(self._train),
            data.train,
            {k: len(v) for k, v in self._eval.items()},
            self.src_vocab_size,
            self.tgt_vocab_size,
        )

    def _encode(self, pairs: list[Pair]) -> list[tuple[list[int], list[int]]]:
        return [(self.src_tok.encode(s), self.tgt_tok.encode(t)) for s, t in pairs]

    def example_batch(self) -> Batch:
        return pad_batch(self._encode(self._train[:1]), self.boundaries[0], self.boundaries[0], 1)

    def train_batches(self, share: Share = ONE_PROCESS) -> _Batches:
        data = self.config.data
        return _Batches(
            self._encode(self._train),
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
        return self._eval

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
