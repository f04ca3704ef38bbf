"""What the trainer needs from a dataset, and the generated tasks' implementation.

A config with a `task` block trains on a generated task (`GeneratedData`); one
with a `data` block trains on parallel text (`translation_data.TranslationData`).
Both hand out fixed-shape numpy batches and score decoded strings.
"""

from collections.abc import Iterator
from typing import Any, Protocol

import ml_collections
import numpy as np

from s2s_jax.tasks import (
    TrainStream,
    encode_batch,
    encode_sources,
    eval_batches,
    eval_pairs,
    make_task,
)

Batch = dict[str, np.ndarray]  # src_BxS, tgt_in_BxT, tgt_out_BxT.
Pair = tuple[str, str]  # (source text, target text).


class TrainBatches(Protocol):
    """An endless, resumable stream of train batches."""

    def __next__(self) -> Batch: ...
    def __iter__(self) -> Iterator[Batch]: ...
    def state(self) -> dict[str, Any]: ...
    def restore(self, state: dict[str, Any]) -> None: ...
    def stats(self) -> dict[str, float]: ...


class Data(Protocol):
    src_vocab_size: int
    tgt_vocab_size: int
    max_decode_len: int  # Decoding stops after this many tokens.
    best_metric: str  # The eval metric that picks the best checkpoint (higher is better).

    def example_batch(self) -> Batch: ...
    def train_batches(self) -> TrainBatches: ...
    def eval_sets(self) -> dict[str, list[Pair]]:
        """Named held-out sets; the first one selects the best checkpoint."""
        ...

    def eval_batches(self, pairs: list[Pair]) -> list[Batch]: ...
    def encode_sources(self, texts: list[str], line_numbers: list[int]) -> np.ndarray:
        """src_BxS for free-form inputs; `line_numbers` name them in warnings."""
        ...

    def detokenize(self, ids: np.ndarray) -> str: ...
    def score(self, hyps: list[str], pairs: list[Pair]) -> dict[str, float]: ...


def exact_match(hyps: list[str], pairs: list[Pair]) -> float:
    return float(np.mean([h == tgt for h, (_, tgt) in zip(hyps, pairs, strict=True)]))


class GeneratedData:
    """A generated task (copy, reverse, sort, addition) from a `config.task` block."""

    best_metric = "exact_match"

    def __init__(self, config: ml_collections.ConfigDict):
        self.config = config
        self.task = make_task(config.task)
        self.src_vocab_size = self.tgt_vocab_size = self.task.vocab.size
        self.max_decode_len = config.eval.max_decode_len or self.task.max_tgt_len
        self._eval = eval_pairs(self.task, config.seed, config.task.num_eval)

    def example_batch(self) -> Batch:
        return encode_batch(self.task, [self.task.sample(np.random.default_rng(0))])

    def train_batches(self) -> TrainBatches:
        exclude = {src for src, _ in self._eval}
        return TrainStream(self.task, self.config.seed, self.config.train.batch_size, exclude)

    def eval_sets(self) -> dict[str, list[Pair]]:
        return {"eval": self._eval}

    def eval_batches(self, pairs: list[Pair]) -> list[Batch]:
        return eval_batches(self.task, pairs, self.config.eval.batch_size)

    def encode_sources(self, texts: list[str], line_numbers: list[int]) -> np.ndarray:
        return encode_sources(self.task, texts)  # Any length works: nothing to cut.

    def detokenize(self, ids: np.ndarray) -> str:
        return self.task.vocab.decode(ids)

    def score(self, hyps: list[str], pairs: list[Pair]) -> dict[str, float]:
        return {"exact_match": exact_match(hyps, pairs)}


def make_data(config: ml_collections.ConfigDict, workdir: str, num_devices: int) -> Data:
    """The dataset a config asks for; translation data keeps its tokenizers in `workdir`.

    Train batch sizes are multiples of `num_devices`, the size of the batch's mesh axis.
    """
    if "task" in config:
        return GeneratedData(config)
    from s2s_jax.translation_data import TranslationData  # Imported only when needed: TFDS.

    return TranslationData(config, workdir, num_devices)
