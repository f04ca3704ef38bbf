"""Helpers of the sweep tests: reading a sweep's files back, the metric they rank by, a plan
of one swept field, and a signal sent once a trial runs."""

import csv
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import ml_collections

from s2s_jax import sweeps
from s2s_jax.sweeps import plan as sweep_plan

METRIC = "best_eval.exact_match"
# Shrinks a trial of experiments/generated.py:reverse to a few steps of a tiny model.
TINY = {
    "task.max_len": 4,
    "task.num_symbols": 4,
    "task.num_eval": 16,
    "model.embed_size": 4,
    "optim.schedule": "constant",
    "train.batch_size": 8,
    "train.num_steps": 4,
    "train.log_every_steps": 2,
    "train.eval_every_steps": 4,
    "train.checkpoint_every_steps": 4,
    "eval.batch_size": 16,
}


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_csv(path: str | os.PathLike) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def plan_of(key: str, values: list, config: dict) -> sweep_plan.Plan:
    """The plan of a sweep of `key` over `values`, on `config`, ranked by METRIC."""
    sweep = sweeps.Sweep(trials=sweeps.product({key: values}), metric=METRIC)
    return sweep_plan.make_plan("x.py", ml_collections.ConfigDict(config), sweep, {})


def signal_when_ready(ready: Path, done: threading.Event, timeout: float) -> None:
    """Sends this process SIGTERM once `ready` exists (the trial runs), unless `done` first
    or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while not done.is_set() and time.monotonic() < deadline:
        if ready.exists():
            os.kill(os.getpid(), signal.SIGTERM)
            return
        time.sleep(0.01)
