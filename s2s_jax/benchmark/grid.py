"""A benchmark's grid: its points, and each point as an ordinary experiment config.

`config.benchmark.grid` holds one list per axis; every combination is a point.
Each axis sets one field of the experiment config (`FIELDS`); `lengths` is a
list of (source, target) pairs that set the synthetic data's lengths together.
The axes of `OPTIONAL` may be left out (then the config's own field holds):
`devices` sets config.devices, the device count of the scaling plot (report.py).
`validate` checks a benchmark config with config_checks' rules before anything runs;
`runnable` sets aside the points that need more devices than exist.
"""

import itertools
from typing import Any

import ml_collections

from s2s_jax import config_checks
from s2s_jax.errors import ConfigError

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
    "devices": "devices",
}
OPTIONAL = ("devices",)


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
    fields = {d: point[axis] for axis, d in FIELDS.items() if axis != "lengths" and axis in point}
    src, tgt = FIELDS["lengths"]
    return {**fields, src: point["src_len"], tgt: point["tgt_len"]}


def point_config(
    config: ml_collections.ConfigDict, point: dict[str, Any]
) -> ml_collections.ConfigDict:
    """The experiment config of one point: `config` without its benchmark block, the point set."""
    c = ml_collections.ConfigDict(config.to_dict())
    del c["benchmark"]
    for dotted, value in point_fields(point).items():
        section, _, key = dotted.rpartition(".")
        (c[section] if section else c)[key] = value
    return c


def point_devices(point: dict[str, Any], config: ml_collections.ConfigDict) -> int:
    """The devices a point asks for: its `devices` axis, else config.devices (-1: all)."""
    return point.get("devices", config.devices)


def runnable(
    config: ml_collections.ConfigDict, num_devices: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the points that fit on `num_devices` devices, the ones that need more)."""
    points = grid_points(config)
    fits = [p for p in points if point_devices(p, config) <= num_devices]
    return fits, [p for p in points if p not in fits]


def validate(config: ml_collections.ConfigDict, num_devices: int, platform: str) -> None:
    """Checks a benchmark config: its settings, every grid value, and every point's config.

    Grid values are held to the rules of the experiment config fields they set, and
    errors name the grid axis, e.g. config.benchmark.grid.cell.
    """
    config_checks.check_fields(config, config_checks.BENCHMARK_RULES)
    grid = config.benchmark.grid
    if not set(FIELDS) - set(OPTIONAL) <= set(grid) <= set(FIELDS):
        raise ConfigError(
            f"config.benchmark.grid has axes {sorted(grid)}; expected exactly "
            f"{sorted(set(FIELDS) - set(OPTIONAL))}, and optionally {list(OPTIONAL)}"
        )
    for axis, values in grid.items():
        if not isinstance(values, list | tuple) or not values:
            raise ConfigError(f"config.benchmark.grid.{axis}={values!r}: expected a list of values")
        if axis == "lengths":
            if not all(isinstance(v, list | tuple) and len(v) == 2 for v in values):
                raise ConfigError(
                    f"config.benchmark.grid.lengths={values}: expected (src, tgt) pairs"
                )
            checks = [(field, [v[i] for v in values]) for i, field in enumerate(FIELDS[axis])]
        else:
            checks = [(FIELDS[axis], list(values))]
        for field, field_values in checks:
            expected, ok = config_checks.RULES[field]
            bad = [v for v in field_values if not ok(v)]
            if bad:
                raise ConfigError(
                    f"config.benchmark.grid.{axis} has {bad}: expected values that are "
                    f"{expected} (for config.{field})"
                )
    for point in grid_points(config):
        try:  # A point for more devices than exist is checked as if they did (`runnable`).
            wanted = max(num_devices, point_devices(point, config))
            config_checks.validate(point_config(config, point), wanted)
        except ConfigError as e:
            raise ConfigError(f"config.benchmark.grid point {point}: {e}") from e
        config_checks.check_backend(
            ml_collections.ConfigDict(point), platform, "config.benchmark.grid"
        )
        devices = point_devices(point, config)
        devices = num_devices if devices == -1 else devices
        if config.benchmark.kernel_bound and (point["decoder"] != "basic" or devices != 1):
            raise ConfigError(
                f"config.benchmark.kernel_bound: point {point} has decoder "
                f"{point['decoder']!r} on {devices} device(s); the kernel bound covers the "
                "basic decoder on one device"
            )
