"""Helpers of the sweep tests: reading a sweep's files back, and the metric they rank by."""

import csv
import json
import os
from typing import Any

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
