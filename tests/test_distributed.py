"""Tests for s2s_jax.distributed: the flags' checks and the cluster detection (no runtime
started), and, end to end, two launch.py processes on loopback and a peer killed mid-run."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from helpers import ROOT, SUBPROCESS_XLA_FLAGS, tiny_config
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from s2s_jax import distributed, experiment
from s2s_jax.distributed import Share
from s2s_jax.errors import UserError
from s2s_jax.losses import summarize


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (("127.0.0.1:1234", 2, 1), True),
        ((None, None, None), False),
        ((None, 1, None), False),  # One process, said explicitly.
        ((None, 1, 0), False),
        (("10.0.0.1:99", 1, 0), True),  # A runtime of one process: allowed.
    ],
)
def test_flags_that_go_together(flags, expected):
    assert distributed.check_flags(*flags) is expected


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ((None, None, 1), "--process_id=1 needs --coordinator_address and --num_processes too"),
        ((None, 2, None), "--num_processes=2 needs --coordinator_address and --process_id too"),
        (("h:1", None, None), "--coordinator_address=h:1 needs --num_processes and --process_id"),
        (("h:1", 2, None), "--num_processes=2 needs --process_id too"),
        (("h:1", 2, 2), "--process_id=2 is invalid: expected 0 <= process_id < --num_processes=2"),
        (("h:1", 0, 0), "--num_processes=0 is invalid"),
        (("h", 2, 0), "--coordinator_address='h' is invalid: expected HOST:PORT"),
        (("h:port", 2, 0), "--coordinator_address='h:port' is invalid"),
    ],
)
def test_flags_that_do_not_go_together(flags, message):
    with pytest.raises(UserError, match=re.escape(message)):
        distributed.check_flags(*flags)


_SLURM = {"SLURM_JOB_ID": "7", "SLURM_STEP_NODELIST": "n[1-2]", "SLURM_PROCID": "0",
          "SLURM_LOCALID": "0"}  # fmt: skip


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({**_SLURM, "SLURM_NTASKS": "4"}, "SLURM (4 tasks)"),
        ({**_SLURM, "SLURM_NTASKS": "1"}, None),  # One task: one process.
        ({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4"}, None),  # sbatch's script, not an srun step.
        ({"TPU_WORKER_HOSTNAMES": "t0,t1"}, "Cloud TPU (hosts from the environment)"),
        ({"TPU_WORKER_HOSTNAMES": "t0,t1", "TPU_PROCESS_BOUNDS": "1,1,1"}, None),  # A sweep trial.
        ({}, None),  # This machine: no TPU, no SLURM.
    ],
)
def test_cluster_detection(environ, expected):
    assert distributed.cluster(environ) == expected


def test_shares_split_batches_into_contiguous_rows():
    parts = [Share(i, 4).rows(32) for i in range(4)]
    assert [(s.start, s.stop) for s in parts] == [(0, 8), (8, 16), (16, 24), (24, 32)]
    with pytest.raises(UserError, match="a batch of 30 rows does not split into equal shares"):
        Share(0, 4).rows(30)


def test_rows_must_match_the_processes_devices():
    """In this one process the mesh's 8 devices hold all rows: the whole share fits, half not."""
    sharding = NamedSharding(Mesh(np.array(jax.devices()), ("data",)), P("data"))
    distributed.check_rows(sharding, 16, distributed.ONE_PROCESS)
    with pytest.raises(UserError, match=r"process 1 of 2 should hold rows 8..15 of each batch "
                       r"of 16, but the mesh puts 16 rows on its devices \(0..15\)"):  # fmt: skip
        distributed.check_rows(sharding, 16, Share(1, 2))


# --- Several launch.py processes on loopback (slow) ---

# A constant learning rate: the programs do not depend on num_steps, so both tests' processes
# compile the same ones (and the second finds them in the session's compilation cache).
TINY = {"task.max_len": 6, "task.num_symbols": 6, "task.num_eval": 64, "model.embed_size": 16,
        "model.hidden_size": 16, "model.dropout_rate": 0.1, "optim.schedule": "constant",
        "train.batch_size": 32, "train.num_steps": 20, "train.log_every_steps": 1,
        "train.eval_every_steps": 20, "train.checkpoint_every_steps": 10,
        "eval.batch_size": 64}  # fmt: skip
# Runs launch.py with an audit hook that reports every file or folder this process creates or
# opens for writing under the workdir, outside the checkpoints (which every process writes).
_AUDITED = r"""
import os, runpy, sys
workdir, sys.argv = os.path.realpath(sys.argv[1]), sys.argv[2:]
shared = tuple(os.path.join(workdir, d) + os.sep for d in ("checkpoints", "best"))
def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        mode, flags = args[1] or "", args[2] or 0
        writes = any(c in mode for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
    else:
        writes = event in ("os.mkdir", "os.rename", "os.remove", "shutil.rmtree")
    if writes:
        path = os.path.realpath(os.fsdecode(args[0]))
        if path.startswith(workdir + os.sep) and not path.startswith(shared):
            sys.stderr.write(f"WROTE {event} {path}\n")
sys.addaudithook(hook)
runpy.run_path("launch.py", run_name="__main__")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(workdir, tmp_path, config: dict, *flags: str, audit_process: int = -1) -> list:
    """Two launch.py processes of one run (2 CPU devices each); stderr to tmp_path/err<i>.

    XLA compiles without most optimizations: the two processes compile the same programs at
    once on this machine's 2 cores, and that halves the time; what is tested is unchanged.
    """
    xla_flags = f"{SUBPROCESS_XLA_FLAGS} --xla_force_host_platform_device_count=2"
    env = {**os.environ, "XLA_FLAGS": xla_flags,
           "JAX_PLATFORMS": "cpu", "JAX_DISABLE_MOST_OPTIMIZATIONS": "1"}  # fmt: skip
    args = [
        "launch.py",
        "--config=experiments/generated.py:reverse",
        f"--workdir={workdir}",
        *(f"--config.{k}={v}" for k, v in config.items()),
        f"--coordinator_address=127.0.0.1:{_free_port()}",
        "--num_processes=2",
        *flags,
    ]
    procs = []
    for i in range(2):
        command = [sys.executable, *args, f"--process_id={i}"]
        if i == audit_process:
            command[1:2] = ["-c", _AUDITED, str(workdir), "launch.py"]
        with open(tmp_path / f"err{i}", "wb") as err:
            procs.append(subprocess.Popen(command, cwd=ROOT, env=env, stderr=err,
                                          stdout=subprocess.DEVNULL))  # fmt: skip
    return procs


def _stderr(tmp_path, i: int) -> str:
    return (tmp_path / f"err{i}").read_text(errors="replace")


def _one_process_losses(config: dict, workdir) -> np.ndarray:
    """The same run's per-step train losses in this process, on one device (compiled, as the
    processes are, without most optimizations)."""
    c = tiny_config("reverse", devices=1, **{k.replace(".", "__"): v for k, v in config.items()})
    jax.config.update("jax_disable_most_optimizations", True)
    try:
        exp = experiment.build(c, str(workdir))
        state, stream, losses = exp.initial_state(), exp.data.train_batches(), []
        for _ in range(c.train.num_steps):
            state, sums = exp.train_step(state, exp.put_batch(next(stream)))
            losses.append(summarize(jax.device_get(sums))["loss"])
    finally:
        jax.config.update("jax_disable_most_optimizations", False)
    return np.array(losses)


@pytest.mark.slow
def test_two_processes_train_as_one_and_only_process_0_writes(tmp_path):
    """Two processes of 2 devices each (one global batch of 32, 8 rows per device, dropout on)
    train 20 steps: their losses agree with each other and with one process on one device;
    the workdir holds process 0's files only, each once, and process 1 wrote nothing but its
    share of the checkpoints (an audit hook watches its writes)."""
    workdir = tmp_path / "run"
    procs = _start(workdir, tmp_path, TINY, audit_process=1)
    one = _one_process_losses(TINY, tmp_path / "one")  # Meanwhile.
    for proc in procs:
        proc.wait(timeout=180)
    err0, err1 = _stderr(tmp_path, 0), _stderr(tmp_path, 1)
    assert [p.returncode for p in procs] == [0, 0], (err0[-3000:], err1[-3000:])
    assert "process 1 of 2, 2 local devices of 4" in err1

    with open(workdir / "metrics.jsonl", encoding="utf-8") as f:
        lines = [json.loads(line) for line in f]
    train_lines = [m for m in lines if m["split"] == "train"]
    assert [m["step"] for m in train_lines] == list(range(1, 21))  # One writer: each step once.
    assert [m["split"] for m in lines if m["split"] != "train"] == ["eval", "best_eval"]
    losses = np.array([m["loss"] for m in train_lines])
    logged_by_1 = [float(x) for x in re.findall(r"train  step \d+/20 \| loss ([\d.]+)", err1)]
    np.testing.assert_allclose(logged_by_1, losses, atol=5.1e-5)  # Logged with 4 decimals.
    print("max |2 processes - 1 process| over 20 losses:", np.abs(losses - one).max())
    np.testing.assert_allclose(losses, one, rtol=1e-5, atol=1e-5)

    files = sorted(
        os.path.relpath(os.path.join(d, f), workdir)
        for d, _, names in os.walk(workdir)
        for f in names
        if not os.path.relpath(d, workdir).startswith(("checkpoints", "best"))
    )
    best_step = json.loads((workdir / "final_eval.json").read_text())["best_step"]
    assert [f for f in files if not f.startswith("tensorboard")] == [
        "config.json",
        "final_eval.json",
        f"hypotheses/best_eval_step{best_step}.tsv",
        "hypotheses/eval_step20.tsv",
        "metrics.jsonl",
        "train.log",
    ]
    assert len([f for f in files if f.startswith("tensorboard/")]) == 1  # One event file.
    assert sorted(os.listdir(workdir / "checkpoints")) == ["10", "20"]
    log = (workdir / "train.log").read_text().splitlines()
    assert sum("train  step" in line for line in log) == 20
    assert all(line in err0 for line in log if line[:1] in "IWE")  # Process 0's own lines.
    assert "WROTE" not in err1, [line for line in err1.splitlines() if "WROTE" in line]


@pytest.mark.slow
def test_an_interrupt_stops_both_and_a_dead_peer_ends_the_other(tmp_path):
    """SIGTERM to process 1 alone: both processes stop at the same step, save it together and
    exit 130. Rerun, both resume from it; then SIGKILL process 1: process 0 stops with JAX's
    error within the heartbeat timeout (5 s here) and a few seconds more; it does not hang."""
    config = {**TINY, "train.num_steps": 100_000, "train.checkpoint_every_steps": 100_000,
              "train.eval_every_steps": 100_000, "train.log_every_steps": 10}  # fmt: skip
    workdir, flag = tmp_path / "run", "--heartbeat_timeout_seconds=5"
    procs = _start(workdir, tmp_path, config, flag)
    try:
        _wait_for(tmp_path, "train  step 10/", procs)
        procs[1].send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)
    finally:
        _stop(procs)
    assert [p.returncode for p in procs] == [130, 130], _stderr(tmp_path, 0)[-3000:]
    saved = [re.findall(r"Interrupted: saved step (\d+)", _stderr(tmp_path, i)) for i in (0, 1)]
    assert saved[0] == saved[1] and len(saved[0]) == 1, saved
    assert os.listdir(workdir / "checkpoints") == saved[0]

    procs = _start(workdir, tmp_path, config, flag)  # Resumes; compiled programs are cached.
    try:
        _wait_for(tmp_path, f"Resuming from step {saved[0][0]}", procs)
        _wait_for(tmp_path, "train  step", procs)  # Training again, in both processes.
        procs[1].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        procs[0].wait(timeout=25)
        waited = time.monotonic() - killed
    finally:
        _stop(procs)
    print(f"process 0 ended {waited:.1f} s after process 1 was killed")
    assert procs[0].returncode != 0
    assert "another task died" in _stderr(tmp_path, 0)
    assert waited < 20


def _wait_for(tmp_path, text: str, procs: list, timeout: float = 120) -> None:
    """Until process 0's stderr has `text`; both processes must be running all along."""
    deadline = time.monotonic() + timeout
    while text not in _stderr(tmp_path, 0):
        assert time.monotonic() < deadline, _stderr(tmp_path, 0)[-3000:]
        assert all(p.poll() is None for p in procs), _stderr(tmp_path, 0)[-3000:]
        time.sleep(0.2)


def _stop(procs: list) -> None:
    for proc in procs:
        proc.kill()
        proc.wait()
