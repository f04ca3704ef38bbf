"""Helpers of the tests: tiny experiment configs, and launch.py run as a user would run it."""

import glob
import os
import struct
import subprocess
import sys
from collections.abc import Iterator

import jax
import ml_collections
import numpy as np

from experiments import benchmark, generated

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(task: str = "reverse", **overrides) -> ml_collections.ConfigDict:
    """The experiment config for `task`, shrunk to test size (hidden 32).

    `overrides` use '__' for '.', e.g. model__cell="gru".
    """
    c = generated.get_config(task)
    c.task.max_len = 6
    c.task.num_symbols = 6
    c.task.num_eval = 64
    c.model.embed_size = 16
    c.model.hidden_size = 32
    c.train.batch_size = 32
    c.train.num_steps = 20
    c.train.log_every_steps = 10
    c.train.eval_every_steps = 10
    c.train.checkpoint_every_steps = 10
    c.eval.batch_size = 32
    c.eval.num_examples_to_log = 2
    for key, value in overrides.items():
        section, _, field = key.rpartition("__")
        (c[section] if section else c)[field] = value
    return c


def run_launch(
    *args: str, check: bool = True, stdin: bytes = b"", timeout: float = 300
) -> subprocess.CompletedProcess:
    """launch.py from the repo root on one CPU device; stdout and stderr come back as text."""
    env = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(
        [sys.executable, "launch.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        input=stdin,
        timeout=timeout,
    )
    proc.stdout, proc.stderr = proc.stdout.decode(), proc.stderr.decode()
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def tensorboard_events(workdir: str) -> list:
    """Every event (tensorboardX's Event protos) in workdir/tensorboard, file by file.

    Event files are TFRecords: an 8-byte length, its 4-byte CRC, the data, the data's CRC.
    """
    from tensorboardX.proto import event_pb2

    events = []
    for path in sorted(glob.glob(os.path.join(workdir, "tensorboard", "events.out.tfevents.*"))):
        with open(path, "rb") as f:
            data = f.read()
        at = 0
        while at < len(data):
            (length,) = struct.unpack("<Q", data[at : at + 8])
            events.append(event_pb2.Event.FromString(data[at + 12 : at + 12 + length]))
            at += 12 + length + 4
    return events


def step_by_step_attention(exp, params, src_BxS: np.ndarray, tokens_BxL: np.ndarray) -> np.ndarray:
    """weights_BxLxS of decoding one step at a time (Seq2Seq.decode_step, as greedy runs it),
    feeding BOS and then the decoded tokens: the reference for the teacher-forced weights."""
    from s2s_jax.model import Seq2Seq
    from s2s_jax.vocab import BOS_ID

    variables = {"params": params}
    state = exp.model.apply(variables, src_BxS, method=Seq2Seq.encode)
    token_B = np.full((src_BxS.shape[0],), BOS_ID, np.int32)
    rows = []
    for t in range(tokens_BxL.shape[1]):
        (state, _), sown = exp.model.apply(
            variables, state, token_B, method=Seq2Seq.decode_step, mutable=["intermediates"]
        )
        rows.append(np.asarray(sown["intermediates"]["decoder"]["attention"][0][:, 0]))
        token_B = tokens_BxL[:, t]
    return np.stack(rows, axis=1)


def tiny_benchmark() -> ml_collections.ConfigDict:
    """experiments/benchmark.py's `small` variant shrunk: 40 ids, hidden 16, 1 device, 4 points."""
    c = benchmark.get_config("small")
    c.devices = 1
    c.synthetic.vocab_size, c.model.embed_size = 40, 8
    b = c.benchmark
    b.reps, b.calls_per_rep, b.warmup = 2, 2, 1
    b.grid.batch_size, b.grid.lengths, b.grid.hidden_size = (4, 8), ((4, 4), (8, 8)), (16,)
    return c


def take(batches: Iterator[dict[str, np.ndarray]], n: int) -> list[dict[str, np.ndarray]]:
    """The next `n` batches of a train stream."""
    return [next(batches) for _ in range(n)]


def assert_same_batches(a: list[dict], b: list[dict]) -> None:
    """The same batches, array for array."""
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])


class StepCounter:
    """Wraps a Seq2Seq for the decoders (greedy, beam search) and counts the decode steps run."""

    def __init__(self, model):
        self.model = model
        self.steps = 0

    def _tick(self) -> None:
        self.steps += 1

    def apply(self, variables, *args, method):
        from s2s_jax.model import Seq2Seq

        if method is Seq2Seq.decode_step:
            jax.debug.callback(self._tick)  # Once per while-loop iteration.
        return self.model.apply(variables, *args, method=method)
