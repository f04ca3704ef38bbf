"""Random token ids of fixed shape: a dataset for benchmarks and throughput checks.

Every source has `src_len` ids and every target `tgt_len` − 1 ids (plus BOS in
the decoder's input and EOS in its output), drawn uniformly from the content
ids of a `vocab_size` vocabulary. Batch k of the train stream is a pure
function of (seed, k), so it resumes like any other. Text is the ids written
out, '17 5 902'; there is nothing to learn, so exact match stays near 0.
"""

import ml_collections
import numpy as np

from s2s_jax.data.base import Batch, IndexedBatches, Pair, exact_match
from s2s_jax.data.batching import pad_batch, pad_sources
from s2s_jax.distributed import ONE_PROCESS, Share
from s2s_jax.errors import UserError
from s2s_jax.vocab import SPECIALS, content_ids

_EVAL_STREAM = 1  # The train stream is stream 0 (IndexedBatches).


class SyntheticData:
    """Random ids from a `config.synthetic` block (vocab_size, src_len, tgt_len, num_eval)."""

    best_metric = "exact_match"

    def __init__(self, config: ml_collections.ConfigDict):
        self.config, synthetic = config, config.synthetic
        self.src_vocab_size = self.tgt_vocab_size = synthetic.vocab_size
        self.src_len, self.tgt_len = synthetic.src_len, synthetic.tgt_len
        self.max_decode_len = config.eval.max_decode_len or self.tgt_len
        rng = np.random.default_rng([config.seed, _EVAL_STREAM])
        self._eval = [
            (self._text(self._ids(rng, self.src_len)), self._text(self._ids(rng, self.tgt_len - 1)))
            for _ in range(synthetic.num_eval)
        ]

    def _ids(self, rng: np.random.Generator, n: int) -> list[int]:
        return rng.integers(len(SPECIALS), self.src_vocab_size, n).tolist()

    @staticmethod
    def _text(ids: list[int]) -> str:
        return " ".join(map(str, ids))

    def batch(self, rng: np.random.Generator, batch_size: int, share: Share = ONE_PROCESS) -> Batch:
        """`batch_size` full-length rows of random ids (only `share`'s rows of them)."""
        pairs = [
            (self._ids(rng, self.src_len), self._ids(rng, self.tgt_len - 1))
            for _ in range(batch_size)
        ][share.rows(batch_size)]
        return pad_batch(pairs, self.src_len, self.tgt_len, len(pairs))

    def example_batch(self) -> Batch:
        return self.batch(np.random.default_rng(0), 1)

    def train_batches(self, share: Share = ONE_PROCESS) -> IndexedBatches:
        size = self.config.train.batch_size
        return IndexedBatches(self.config.seed, lambda rng: self.batch(rng, size, share))

    def eval_sets(self) -> dict[str, list[Pair]]:
        return {"eval": self._eval}

    def eval_batches(self, pairs: list[Pair]) -> list[Batch]:
        size = self.config.eval.batch_size
        ids = [(self._parse(s, i + 1), self._parse(t, i + 1)) for i, (s, t) in enumerate(pairs)]
        return [
            pad_batch(ids[start : start + size], self.src_len, self.tgt_len, size)
            for start in range(0, len(ids), size)
        ]

    def _parse(self, text: str, line: int) -> list[int]:
        try:
            ids = [int(word) for word in text.split()]
        except ValueError as e:
            raise UserError(f"input line {line}: synthetic data reads token ids ({e})") from e
        bad = [i for i in ids if not len(SPECIALS) <= i < self.src_vocab_size]
        if bad:
            raise UserError(
                f"input line {line}: ids {bad} are outside [{len(SPECIALS)}, "
                f"{self.src_vocab_size}) (config.synthetic.vocab_size)"
            )
        return ids

    def encode_sources(self, texts: list[str], line_numbers: list[int]) -> np.ndarray:
        rows = [self._parse(t, i)[: self.src_len] for t, i in zip(texts, line_numbers, strict=True)]
        return pad_sources(rows, self.src_len)

    def detokenize(self, ids: np.ndarray) -> str:
        return self._text(content_ids(ids))

    def src_pieces(self, ids: np.ndarray) -> list[str]:
        return [SPECIALS[i] if i < len(SPECIALS) else str(i) for i in map(int, ids)]

    tgt_pieces = src_pieces

    def score(self, hyps: list[str], pairs: list[Pair]) -> dict[str, float]:
        return {"exact_match": exact_match(hyps, pairs)}

    def source_length(self, text: str) -> int:
        """Whitespace-separated words, here the source's ids ('17 5 902' is 3)."""
        return len(text.split())
