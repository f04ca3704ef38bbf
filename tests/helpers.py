"""Helpers of the tests: tiny experiment configs, launch.py run as a user would run it, and a
small disk to fill."""

import functools
import glob
import os
import struct
import subprocess
import sys
from collections.abc import Iterator

import fast_compile
import jax
import ml_collections
import numpy as np
import pytest

from experiments import benchmark, generated

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The XLA flags of the launch.py processes the tests start (on one CPU device): fast compiles.
SUBPROCESS_XLA_FLAGS = fast_compile.XLA_FLAGS


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
    *args: str,
    check: bool = True,
    stdin: bytes = b"",
    timeout: float = 300,
    xla_flags: str = SUBPROCESS_XLA_FLAGS,
) -> subprocess.CompletedProcess:
    """launch.py from the repo root on one CPU device; stdout and stderr come back as text.

    `xla_flags=fast_compile.TRAINING_XLA_FLAGS` compiles to run fast, for runs long enough to
    need it."""
    env = {**os.environ, "XLA_FLAGS": xla_flags, "JAX_PLATFORMS": "cpu"}
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


@functools.cache
def _small_disk_refused() -> str:
    """Why this machine does not let a test mount a tmpfs in a user and mount namespace of its
    own (`unshare`), or '' if it does. Probed once per process."""
    probe = 'd=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs "$d" && umount "$d"; rmdir "$d"'
    try:
        proc = subprocess.run([*_UNSHARE, "sh", "-ec", probe], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    return "" if proc.returncode == 0 else proc.stderr.decode().strip() or "unshare failed"


_UNSHARE = ("unshare", "--user", "--map-root-user", "--mount")

# Python lines for a script run by on_small_disk: fill $DISK to its last byte.
FILL_THE_DISK = """
with open(os.path.join(os.environ["DISK"], "filler"), "wb", buffering=0) as f:
    try:
        while True:
            f.write(bytes(4096))
    except OSError:
        pass
"""


def on_small_disk(
    script: str, disk: str, size: str, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess:
    """Runs the shell `script` (from the repo root, on one CPU device, `env` added) with a
    fresh tmpfs of `size` (e.g. '4m') mounted at $DISK=`disk`, a new empty folder. The tmpfs
    lives in a mount namespace of the script's own and goes with it: the script copies out
    what the test reads. Skips the test if this machine does not allow that."""
    refused = _small_disk_refused()
    if refused:
        pytest.skip(f"cannot mount a small tmpfs in a user namespace here: {refused}")
    os.makedirs(disk)
    mount = f'mount -t tmpfs -o size={size} tmpfs "$DISK"\n'
    environ = {**os.environ, "XLA_FLAGS": SUBPROCESS_XLA_FLAGS, "JAX_PLATFORMS": "cpu",
               "PYTHON": sys.executable, "DISK": disk, **env}  # fmt: skip
    return subprocess.run([*_UNSHARE, "sh", "-euc", mount + script], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


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
    b.reps, b.calls_per_rep, b.warmup, b.peak_repeats = 2, 2, 1, 1
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
