"""What the trainer needs from a dataset: the `Data` and `TrainBatches` protocols.

Every dataset (generated.py, translation.py, synthetic.py) hands out
fixed-shape numpy batches and scores decoded strings.
"""

from collections.abc import Callable, Iterator
from typing import Any, Protocol

import numpy as np

from s2s_jax.distributed import ONE_PROCESS, Share
from s2s_jax.errors import UserError

# src_BxS, tgt_in_BxT, tgt_out_BxT: int32 ids, PAD-padded. Host (numpy) arrays here; the steps
# take the same dict as device arrays.
Batch = dict[str, Any]
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
    def train_batches(self, share: Share = ONE_PROCESS) -> TrainBatches:
        """The train stream. Its batches hold only `share`'s rows of each global batch: the
        examples and their order are the same in every process; each makes only its part."""
        ...

    def eval_sets(self) -> dict[str, list[Pair]]:
        """Named held-out sets; the first one selects the best checkpoint."""
        ...

    def eval_batches(self, pairs: list[Pair]) -> list[Batch]: ...
    def encode_sources(self, texts: list[str], line_numbers: list[int]) -> np.ndarray:
        """src_BxS for free-form inputs; `line_numbers` name them in warnings."""
        ...

    def detokenize(self, ids: np.ndarray) -> str: ...
    def src_pieces(self, ids: np.ndarray) -> list[str]:
        """One string per source id: the token as the tokenizer split it ('</s>' for EOS)."""
        ...

    def tgt_pieces(self, ids: np.ndarray) -> list[str]:
        """One string per target id, as `src_pieces`."""
        ...

    def score(self, hyps: list[str], pairs: list[Pair]) -> dict[str, float]: ...
    def source_length(self, text: str) -> int:
        """The length of a source sentence in the data's own unit, for scores by length
        (eval.length_buckets): symbols for generated tasks, whitespace-separated words for
        text (as Bahdanau et al., 2015 count sentence length). Never the model's tokens."""
        ...


class IndexedBatches:
    """Endless train batches; batch k is `make_batch(rng)` with rng a pure function of (seed, k).

    `state()` and `restore()` give the data position stored in checkpoints, so a
    resumed run sees exactly the batches it would have seen without the interruption.
    """

    def __init__(self, seed: int, make_batch: Callable[[np.random.Generator], Batch]):
        self.seed, self._make_batch = seed, make_batch
        self._index = 0

    def state(self) -> dict[str, int]:
        return {"index": self._index}

    def restore(self, state: dict[str, int]) -> None:
        self._index = int(state["index"])

    def stats(self) -> dict[str, float]:
        """Nothing to report: every batch has the same shape and there are no epochs."""
        return {}

    def __iter__(self) -> "IndexedBatches":
        return self

    def __next__(self) -> Batch:
        batch = self._make_batch(np.random.default_rng([self.seed, 0, self._index]))
        self._index += 1
        return batch


def exact_match(hyps: list[str], pairs: list[Pair]) -> float:
    return float(np.mean([h == tgt for h, (_, tgt) in zip(hyps, pairs, strict=True)]))


def decode_utf8(data: bytes, where: str) -> str:
    """`data` as text; a UserError naming `where`, the line and the byte if it is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise UserError(
            f"{where}:{line}: not valid UTF-8 (byte {data[e.start]:#04x} at offset {e.start}); "
            "convert it to UTF-8"
        ) from e


def decode_lines(data: bytes, where: str) -> list[str]:
    """The lines of `data` (`decode_utf8`, so the same error): split at '\\n' only, as
    `wc -l` and the line numbers of decode_utf8's errors count them; a final '\\n' ends the
    last line and a '\\r' before a '\\n' (Windows) is dropped. Unlike str.splitlines, a form
    feed, a lone '\\r', U+0085 or U+2028 inside a line does not split it, so each input line
    gets one output line."""
    lines = decode_utf8(data, where).split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]
