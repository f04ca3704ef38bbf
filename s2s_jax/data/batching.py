"""Padded batches: one fixed-shape padding helper, and length-bucketed train batches.

`BucketedBatches` groups examples of similar length so that little of each batch is
padding, while keeping the number of distinct batch shapes (hence of jit compilations) at
the number of buckets. Its order is a pure function of (seed, epoch), so a resumed run
sees exactly the batches it would have seen without the interruption.
"""

from collections.abc import Sequence

import numpy as np
from absl import logging

from s2s_jax.distributed import ONE_PROCESS, Share
from s2s_jax.errors import CheckpointError, ConfigError
from s2s_jax.vocab import BOS_ID, EOS_ID, PAD_ID

Example = tuple[Sequence[int], Sequence[int]]  # (source ids, target ids), no BOS/EOS.


def pad_sources(rows: Sequence[Sequence[int]], width: int) -> np.ndarray:
    """src_BxS: one row of ids per input, PAD after its last token."""
    src_BxS = np.full((len(rows), width), PAD_ID, np.int32)
    for b, row in enumerate(rows):
        src_BxS[b, : len(row)] = row
    return src_BxS


def pad_batch(pairs: Sequence[Example], S: int, T: int, batch_size: int) -> dict[str, np.ndarray]:
    """Pads id pairs into the model's arrays, of fixed shape whatever the contents.

    Rows past `len(pairs)` are all PAD, so they count in no loss or metric.

    Returns:
      src_BxS:     source ids, PAD after the last token.
      tgt_in_BxT:  BOS followed by the target ids (the decoder's inputs).
      tgt_out_BxT: the target ids followed by EOS (what the decoder predicts).
    """
    if len(pairs) > batch_size:
        raise ValueError(f"{len(pairs)} pairs do not fit a batch of {batch_size} rows")
    src_BxS = np.full((batch_size, S), PAD_ID, np.int32)
    tgt_in_BxT = np.full((batch_size, T), PAD_ID, np.int32)
    tgt_out_BxT = np.full((batch_size, T), PAD_ID, np.int32)
    for b, (src, tgt) in enumerate(pairs):
        if len(src) > S or len(tgt) + 1 > T:
            raise ValueError(
                f"pair {b} (source of {len(src)} ids, target of {len(tgt)} ids) does not fit "
                f"S={S} source ids and T={T} target ids (the target plus BOS or EOS)"
            )
        src_BxS[b, : len(src)] = src
        tgt_in_BxT[b, : len(tgt) + 1] = [BOS_ID, *tgt]
        tgt_out_BxT[b, : len(tgt) + 1] = [*tgt, EOS_ID]
    return {"src_BxS": src_BxS, "tgt_in_BxT": tgt_in_BxT, "tgt_out_BxT": tgt_out_BxT}


def _bucket_batch_sizes(
    boundaries: list[int], max_tokens: int | None, batch_size: int | None, multiple_of: int
) -> list[int]:
    """Rows per batch of each bucket, a multiple of `multiple_of`.

    Types and ranges are config_checks' (see `BucketedBatches`); translation.py rounds only
    a token budget's rows (to sharding.batch_multiple), so only direct callers see a
    batch_size rounded.
    """
    if (max_tokens is None) == (batch_size is None):
        raise ConfigError(
            f"set exactly one of max_tokens (got {max_tokens}) and batch_size (got {batch_size})"
        )
    if batch_size is not None:
        rows = batch_size // multiple_of * multiple_of
        if not rows:
            raise ConfigError(
                f"batch_size={batch_size} is invalid: it must hold multiple_of={multiple_of} rows, "
                f"so be >= {multiple_of}"
            )
        if rows != batch_size:
            logging.warning(
                "batch_size=%d rounded down to %d, a multiple of %d", batch_size, rows, multiple_of
            )
        return [rows] * len(boundaries)
    if max_tokens < multiple_of * boundaries[-1]:
        raise ConfigError(
            f"max_tokens={max_tokens!r} is invalid: it must hold multiple_of={multiple_of} rows of "
            f"the longest bucket ({boundaries[-1]} tokens), so be >= {multiple_of * boundaries[-1]}"
        )
    return [max_tokens // b // multiple_of * multiple_of for b in boundaries]


class BucketedBatches:
    """Endless, resumable, length-bucketed train batches over a list of id pairs.

    The bucket of an example is the smallest boundary >= max(len(src), len(tgt) + 1); its
    batches have S = T = that boundary. Examples longer than the largest boundary are
    dropped, never truncated (a cut target teaches the model to stop early); `num_dropped`
    counts them and a warning logs the count.

    Rows per batch come from a token budget (`max_tokens`: max_tokens // boundary, like
    fairseq's --max-tokens, so B * S <= max_tokens) or a sentence count (`batch_size`),
    rounded down to a multiple of `multiple_of` (translation.py: config.sharding.
    batch_multiple, never the device count, so the batches and the position in them are
    the same on any number of devices).

    Epoch e is planned from (seed, e): examples are shuffled within each bucket and cut
    into batches (the last, partial batch of a bucket is padded with all-PAD rows), then the
    order of all the epoch's batches is shuffled. `state()` is the position in that plan.
    With several processes, each makes only `share`'s rows of each batch of that plan.

    The settings come from a config that config_checks has validated (boundaries:
    increasing integers > 0; seed and max_tokens: integers >= 0; batch_size and
    multiple_of: integers > 0); they are not checked again here.
    A ConfigError is raised only for what it cannot know: both or neither of max_tokens
    and batch_size (this class's contract), a token budget too small for `multiple_of`
    rows of the longest bucket, a batch_size below `multiple_of` (no row would be left),
    and examples of which none fits the largest bucket.
    """

    def __init__(
        self,
        examples: Sequence[Example],
        boundaries: Sequence[int],
        *,
        seed: int,
        max_tokens: int | None = None,
        batch_size: int | None = None,
        multiple_of: int = 1,
        share: Share = ONE_PROCESS,
    ):
        boundaries = list(boundaries)
        self.boundaries, self.seed, self.share = boundaries, int(seed), share
        self._sizes = _bucket_batch_sizes(boundaries, max_tokens, batch_size, multiple_of)
        self._examples = examples
        self._src_len = np.array([len(s) for s, _ in examples], np.int64)
        self._tgt_len = np.array([len(t) for _, t in examples], np.int64)
        need = np.maximum(self._src_len, self._tgt_len + 1)
        bucket_of = np.searchsorted(np.array(boundaries), need, side="left")
        self.num_dropped = int((bucket_of == len(boundaries)).sum())
        if self.num_dropped:
            logging.warning(
                "Dropped %d of %d examples longer than the largest bucket (%d tokens, the "
                "target plus EOS)",
                self.num_dropped,
                len(examples),
                boundaries[-1],
            )
        self._members = [np.flatnonzero(bucket_of == k) for k in range(len(boundaries))]
        self.num_examples = len(examples) - self.num_dropped
        if not self.num_examples:
            raise ConfigError(
                f"no training example fits the largest bucket ({boundaries[-1]} tokens) of "
                f"{len(examples)} examples; raise the largest boundary"
            )
        self.batches_per_epoch = sum(
            -(-len(m) // size) for m, size in zip(self._members, self._sizes, strict=True)
        )
        logging.info(
            "Buckets (boundary: examples, rows per batch): %s; %d batches per epoch",
            ", ".join(
                f"{b}: {len(m)}, {n}"
                for b, m, n in zip(boundaries, self._members, self._sizes, strict=True)
            ),
            self.batches_per_epoch,
        )
        self._epoch, self._batch = 0, 0
        self._plan_cache: tuple[int, list[tuple[int, np.ndarray]]] | None = None

    @property
    def batch_sizes(self) -> dict[int, int]:
        """Rows per batch of each bucket, by boundary."""
        return dict(zip(self.boundaries, self._sizes, strict=True))

    @property
    def epoch(self) -> int:
        """The epoch of the next batch; it goes up right after an epoch's last batch."""
        return self._epoch

    def plan(self, epoch: int) -> list[tuple[int, np.ndarray]]:
        """Epoch `epoch`'s batches in order, each (bucket index, example indices)."""
        if self._plan_cache is not None and self._plan_cache[0] == epoch:
            return self._plan_cache[1]
        rng = np.random.default_rng([self.seed, epoch])
        batches = []
        for k, (members, size) in enumerate(zip(self._members, self._sizes, strict=True)):
            order = rng.permutation(members)
            batches += [(k, order[i : i + size]) for i in range(0, len(order), size)]
        plan = [batches[i] for i in rng.permutation(len(batches))]
        self._plan_cache = (epoch, plan)
        return plan

    def padding_fraction(self, epoch: int = 0) -> float:
        """Padded token slots / all token slots of the epoch's batches.

        Counts source slots (src_BxS) and target slots (tgt_out_BxT; tgt_in_BxT has the same
        count). The plan only permutes, so every epoch gives the same value.
        """
        real = total = 0
        for k, indices in self.plan(epoch):
            real += int(self._src_len[indices].sum() + self._tgt_len[indices].sum() + len(indices))
            total += 2 * self._sizes[k] * self.boundaries[k]
        return 1.0 - real / total

    def state(self) -> dict[str, int]:
        """The position of the next batch, for checkpoints."""
        return {"epoch": self._epoch, "batch": self._batch}

    def restore(self, state: dict[str, int]) -> None:
        """Continues from a `state()`: the next batch is the one that followed it."""
        epoch, batch = int(state["epoch"]), int(state["batch"])
        if epoch < 0 or not 0 <= batch < self.batches_per_epoch:
            raise CheckpointError(
                f"the data position {dict(state)} does not fit these batches "
                f"({self.batches_per_epoch} per epoch): the training data or the batching "
                "config changed since the checkpoint"
            )
        self._epoch, self._batch = epoch, batch

    def __iter__(self) -> "BucketedBatches":
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        k, indices = self.plan(self._epoch)[self._batch]
        self._batch += 1
        if self._batch == self.batches_per_epoch:
            self._epoch, self._batch = self._epoch + 1, 0
        boundary, rows = self.boundaries[k], self.share.rows(self._sizes[k])
        pairs = [self._examples[i] for i in indices[rows]]  # This process's rows only.
        return pad_batch(pairs, boundary, boundary, rows.stop - rows.start)
