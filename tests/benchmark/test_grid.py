"""Tests for s2s_jax.benchmark.grid and the benchmark checks: points, their configs, bad grids."""

import pytest
from helpers import tiny_benchmark

from experiments import benchmark as benchmark_config
from s2s_jax import config_checks
from s2s_jax.benchmark import grid
from s2s_jax.errors import ConfigError


def _check(c):
    grid.validate(c, 8, "cpu")


def test_grid_points_expand_length_pairs():
    """Points are the product of the lists; a length pair sets src_len and tgt_len together."""
    points = grid.grid_points(tiny_benchmark())
    assert len(points) == 4
    assert {(p["batch_size"], p["src_len"], p["tgt_len"]) for p in points} == {
        (4, 4, 4), (4, 8, 8), (8, 4, 4), (8, 8, 8)}  # fmt: skip


def test_point_config_sets_each_axis_field_and_drops_the_benchmark_block():
    c = tiny_benchmark()
    point = {**grid.grid_points(c)[-1], "cell": "gru", "backend": "scan", "loss_chunk": 2}
    pc = grid.point_config(c, point)
    assert "benchmark" not in pc and "benchmark" in c  # The original is untouched.
    assert (pc.train.batch_size, pc.synthetic.src_len, pc.synthetic.tgt_len) == (8, 8, 8)
    assert (pc.model.cell, pc.model.backend, pc.train.loss_chunk_size) == ("gru", "scan", 2)
    assert pc.model.hidden_size == 16 and pc.model.embed_size == 8  # Grid and base fields.
    # Every axis maps to a field the experiment config has.
    for dotted in grid.point_fields(point):
        section, key = dotted.split(".")
        assert key in c[section], dotted
    config_checks.validate(pc, 8)


@pytest.mark.parametrize("variant", list(benchmark_config._VARIANTS))
def test_every_declared_variant_passes_the_checks(variant):
    """Each variant of experiments/benchmark.py is a valid grid on this machine."""
    _check(benchmark_config.get_config(variant))


def test_scaling_variant_runs_what_fits_and_sets_aside_the_rest():
    """`scaling` asks for 1, 2, 4 and 8 devices at each batch size; every point is valid on 8
    devices and sets config.devices; on 2 devices the points for 4 and 8 are set aside."""
    c = benchmark_config.get_config("scaling")
    points = grid.grid_points(c)
    assert {(p["devices"], p["batch_size"]) for p in points} == {
        (n, b) for n in (1, 2, 4, 8) for b in (64, 512)}  # fmt: skip
    for point in points:
        pc = grid.point_config(c, point)
        assert pc.devices == point["devices"] and "benchmark" not in pc
        config_checks.validate(pc, 8)
    fits, skipped = grid.runnable(c, 2)
    assert sorted(p["devices"] for p in fits) == [1, 1, 2, 2]
    assert sorted(p["devices"] for p in skipped) == [4, 4, 8, 8]
    _check(c)  # The points for 8 devices are checked as if they existed, here on 8 too.
    grid.validate(c, 1, "cpu")
    c.benchmark.grid.batch_size = (12,)  # Does not split over 8 devices, even where absent.
    with pytest.raises(ConfigError, match=r"'devices': 8.*divisible by the 8 devices"):
        grid.validate(c, 1, "cpu")


def test_remat_variant_pairs_each_backend_with_remat_off_and_on():
    points = grid.grid_points(benchmark_config.get_config("remat"))
    assert {(p["backend"], p["remat"]) for p in points} == {
        ("scan", False), ("scan", True), ("fused", False), ("fused", True)}  # fmt: skip
    assert {(p["src_len"], p["tgt_len"]) for p in points} == {(128, 128)}


@pytest.mark.parametrize(
    "axis, values, message",
    [
        ("cell", ("lstm", "transformer"), r"config\.benchmark\.grid\.cell has \['transformer'\]"),
        ("batch_size", (0,), r"config\.benchmark\.grid\.batch_size has \[0\]"),
        ("lengths", ((4, 4), (8,)), r"config\.benchmark\.grid\.lengths=.*\(src, tgt\) pairs"),
        ("lengths", ((4, 0),), r"grid\.lengths has \[0\].*config\.synthetic\.tgt_len"),
        ("dtype", ("float16",), r"grid\.dtype has \['float16'\]"),
        ("remat", (1,), r"grid\.remat has \[1\]"),
        ("decoder", (), r"grid\.decoder=\(\): expected a list of values"),
        ("devices", (1, 0), r"grid\.devices has \[0\].*config\.devices"),
    ],
)
def test_bad_grid_value_is_named(axis, values, message):
    """A grid value is held to the rule of the config field it sets; the error names the axis."""
    c = tiny_benchmark()
    c.benchmark.grid[axis] = values
    with pytest.raises(ConfigError, match=message):
        _check(c)


def test_bad_settings_and_points_are_named():
    c = tiny_benchmark()
    c.benchmark.reps = 0
    with pytest.raises(ConfigError, match=r"config\.benchmark\.reps=0 is invalid"):
        _check(c)
    c = tiny_benchmark()
    del c.benchmark.grid["loss_chunk"]
    with pytest.raises(ConfigError, match=r"grid has axes .* expected exactly"):
        _check(c)
    c = tiny_benchmark()
    c.devices = -1  # All 8 devices: batch 4 does not split over them.
    with pytest.raises(ConfigError, match=r"grid point .*'batch_size': 4.*divisible by the 8"):
        _check(c)


def test_kernel_bound_takes_basic_points_on_one_device_only():
    c = tiny_benchmark()  # Basic decoder, config.devices = 1.
    c.benchmark.kernel_bound = True
    grid.validate(c, 8, "cpu")
    grid.validate(c, 1, "cpu")
    c.devices = -1  # All devices: fine with one, refused with two.
    grid.validate(c, 1, "cpu")
    c.benchmark.grid.batch_size = (4,)
    with pytest.raises(ConfigError, match=r"kernel_bound: .*'basic' on 2 device\(s\)"):
        grid.validate(c, 2, "cpu")
    c = tiny_benchmark()
    c.benchmark.kernel_bound = True
    c.benchmark.grid.decoder = ("basic", "luong")
    with pytest.raises(ConfigError, match=r"kernel_bound: .*'decoder': 'luong'.* basic decoder"):
        _check(c)
