"""Helpers of the sweep tests: reading a sweep's files back, and the metric they rank by."""

import csv
import json
import os
from typing import Any

METRIC = "best_eval.exact_match"


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_csv(path: str | os.PathLike) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))
