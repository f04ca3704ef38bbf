"""A benchmark's grid: its points, and each point as an ordinary experiment config.

`config.benchmark.grid` holds one list per axis; every combination is a point.
Each axis sets one field of the experiment config (`FIELDS`); `lengths` is a
list of (source, target) pairs that set the synthetic data's lengths together.
Nothing here imports JAX.
"""

import itertools
from typing import Any

import ml_collections

# Grid axis -> the experiment config field it sets ('lengths' sets two).
FIELDS = {
    "batch_size": "train.batch_size",
    "lengths": ("synthetic.src_len", "synthetic.tgt_len"),
    "hidden_size": "model.hidden_size",
    "cell": "model.cell",
    "dtype": "model.dtype",
    "scan_unroll": "model.scan_unroll",
    "backend": "model.backend",
    "decoder": "model.decoder",
    "remat": "model.remat",
    "loss_chunk": "train.loss_chunk_size",
}


def grid_points(config: ml_collections.ConfigDict) -> list[dict[str, Any]]:
    """Every combination of the grid's lists, in order; `lengths` pairs become src_len, tgt_len."""
    grid = config.benchmark.grid
    keys = list(grid.keys())
    points = []
    for values in itertools.product(*grid.values()):
        point = dict(zip(keys, values, strict=True))
        point["src_len"], point["tgt_len"] = point.pop("lengths")
        points.append(point)
    return points


def point_fields(point: dict[str, Any]) -> dict[str, Any]:
    """The dotted experiment config fields a point sets."""
    fields = {dotted: point[axis] for axis, dotted in FIELDS.items() if axis != "lengths"}
    src, tgt = FIELDS["lengths"]
    return {**fields, src: point["src_len"], tgt: point["tgt_len"]}


def point_config(
    config: ml_collections.ConfigDict, point: dict[str, Any]
) -> ml_collections.ConfigDict:
    """The experiment config of one point: `config` without its benchmark block, the point set."""
    c = ml_collections.ConfigDict(config.to_dict())
    del c["benchmark"]
    for dotted, value in point_fields(point).items():
        section, key = dotted.split(".")
        c[section][key] = value
    return c
