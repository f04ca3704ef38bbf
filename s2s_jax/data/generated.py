"""Generated sequence-to-sequence tasks (copy, reverse, sort, addition) and their `Data`.

Nothing is read from disk or the network. Each example is a pair of strings
drawn from a seeded NumPy generator:

- copy:     "cabd"    -> "cabd"
- reverse:  "cabd"    -> "dbac"
- sort:     "cabd"    -> "abcd"
- addition: "123+45"  -> "168"

The eval split is a fixed set of distinct examples. The train stream is a pure
function of (seed, batch index) and never yields an eval example, so the two
splits never overlap and a resumed run sees exactly the batches it would have
seen without the interruption.
"""

import dataclasses
import string

import ml_collections
import numpy as np

from s2s_jax.data.base import Batch, IndexedBatches, Pair, TrainBatches, exact_match
from s2s_jax.data.batching import pad_batch, pad_sources
from s2s_jax.distributed import ONE_PROCESS, Share
from s2s_jax.errors import ConfigError
from s2s_jax.vocab import PAD_ID, CharVocab

TASKS = ("copy", "reverse", "sort", "addition")
_SYMBOLS = string.ascii_lowercase + string.ascii_uppercase
_EVAL_STREAM = 1  # The train stream is stream 0 (IndexedBatches).


@dataclasses.dataclass(frozen=True)
class Task:
    """A generated task: how to draw one example, and the padded shapes."""

    name: str
    vocab: CharVocab
    max_src_len: int  # S: source tokens, no BOS/EOS.
    max_tgt_len: int  # T: target tokens plus one (BOS in the input, EOS in the output).
    min_len: int
    max_len: int
    max_digits: int

    def sample(self, rng: np.random.Generator) -> Pair:
        """Draws one (source, target) pair of strings."""
        if self.name == "addition":
            a, b = rng.integers(0, 10**self.max_digits, size=2)
            return f"{a}+{b}", str(a + b)
        n = int(rng.integers(self.min_len, self.max_len + 1))
        src = "".join(self.vocab.chars[i] for i in rng.integers(0, len(self.vocab.chars), n))
        tgt = {"copy": src, "reverse": src[::-1], "sort": "".join(sorted(src))}[self.name]
        return src, tgt

    @property
    def num_sources(self) -> int:
        """How many distinct sources the task can draw."""
        if self.name == "addition":
            return 10 ** (2 * self.max_digits)
        k = len(self.vocab.chars)
        return sum(k**n for n in range(self.min_len, self.max_len + 1))


def make_task(config: ml_collections.ConfigDict) -> Task:
    """Builds the task named by `config.name` (a `config.task` block)."""
    if config.name == "addition":
        vocab = CharVocab(string.digits + "+")
        max_src = 2 * config.max_digits + 1
        max_tgt = config.max_digits + 1
    else:
        vocab = CharVocab(_SYMBOLS[: config.num_symbols])
        max_src = max_tgt = config.max_len
    return Task(
        name=config.name,
        vocab=vocab,
        max_src_len=max_src,
        max_tgt_len=max_tgt + 1,
        min_len=config.min_len,
        max_len=config.max_len,
        max_digits=config.max_digits,
    )


def encode_batch(task: Task, pairs: list[Pair]) -> Batch:
    """Pads a list of string pairs into the model's arrays.

    Returns:
      src_BxS:     source ids, PAD after the last token.
      tgt_in_BxT:  BOS followed by the target ids (the decoder's inputs).
      tgt_out_BxT: the target ids followed by EOS (what the decoder predicts).
    """
    ids = [(task.vocab.encode(src), task.vocab.encode(tgt)) for src, tgt in pairs]
    return pad_batch(ids, task.max_src_len, task.max_tgt_len, len(pairs))


def eval_pairs(task: Task, seed: int, num_examples: int) -> list[Pair]:
    """The held-out split: `num_examples` distinct pairs, fixed by the seed.

    At most half the task's distinct sources may be held out, so that training
    has examples left to draw.
    """
    if 2 * num_examples > task.num_sources:
        raise ConfigError(
            f"config.task.num_eval={num_examples} is more than half of the {task.num_sources} "
            f"distinct sources of task {task.name!r}; lower num_eval or widen the task"
        )
    rng = np.random.default_rng([seed, _EVAL_STREAM])
    pairs: dict[str, str] = {}
    for _ in range(100 * num_examples):
        src, tgt = task.sample(rng)
        pairs.setdefault(src, tgt)
        if len(pairs) == num_examples:
            return list(pairs.items())
    raise ConfigError(
        f"task {task.name!r} drew only {len(pairs)} distinct sources for config.task.num_eval="
        f"{num_examples}; lower num_eval or widen the task"
    )


class TrainStream(IndexedBatches):
    """Endless train batches of `batch_size` pairs whose sources are not in `exclude`;
    batch k is a pure function of (seed, k). Each holds only `share`'s rows: every process
    draws the whole batch's pairs (strings) and encodes its own."""

    def __init__(
        self,
        task: Task,
        seed: int,
        batch_size: int,
        exclude: set[str],
        share: Share = ONE_PROCESS,
    ):
        super().__init__(seed, self._batch)
        self.task, self.batch_size, self._exclude = task, batch_size, exclude
        self._rows = share.rows(batch_size)

    def _batch(self, rng: np.random.Generator) -> Batch:
        pairs = []
        for _ in range(1000 * self.batch_size):
            src, tgt = self.task.sample(rng)
            if src not in self._exclude:
                pairs.append((src, tgt))
                if len(pairs) == self.batch_size:
                    return encode_batch(self.task, pairs[self._rows])
        raise ConfigError(
            f"task {self.task.name!r}: almost every draw is a held-out eval source; "
            "lower config.task.num_eval or widen the task"
        )


def eval_batches(task: Task, pairs: list[Pair], batch_size: int) -> list[Batch]:
    """Fixed-shape batches of `pairs`; rows past the end are all PAD and count in nothing."""
    batches = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        batch = encode_batch(task, chunk + [("", "")] * (batch_size - len(chunk)))
        for array in batch.values():
            array[len(chunk) :] = PAD_ID
        batches.append(batch)
    return batches


def encode_sources(task: Task, texts: list[str]) -> np.ndarray:
    """src_BxS for free-form inputs (e.g. from the command line), padded to the longest."""
    ids = [task.vocab.encode(t) for t in texts]
    return pad_sources(ids, max(1, *map(len, ids)))


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

    def train_batches(self, share: Share = ONE_PROCESS) -> TrainBatches:
        exclude = {src for src, _ in self._eval}
        size = self.config.train.batch_size
        return TrainStream(self.task, self.config.seed, size, exclude, share)

    def eval_sets(self) -> dict[str, list[Pair]]:
        return {"eval": self._eval}

    def eval_batches(self, pairs: list[Pair]) -> list[Batch]:
        return eval_batches(self.task, pairs, self.config.eval.batch_size)

    def encode_sources(self, texts: list[str], line_numbers: list[int]) -> np.ndarray:
        return encode_sources(self.task, texts)  # Any length works: nothing to cut.

    def detokenize(self, ids: np.ndarray) -> str:
        return self.task.vocab.decode(ids)

    def src_pieces(self, ids: np.ndarray) -> list[str]:
        return [self.task.vocab.piece(int(i)) for i in ids]

    tgt_pieces = src_pieces  # One character vocabulary for both sides.

    def score(self, hyps: list[str], pairs: list[Pair]) -> dict[str, float]:
        return {"exact_match": exact_match(hyps, pairs)}

    def source_length(self, text: str) -> int:
        """Symbols of the source string ('cabd' is 4, '123+45' is 6)."""
        return len(text)
