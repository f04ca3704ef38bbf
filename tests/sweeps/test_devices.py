"""Tests for sweeps/devices.py: which accelerators each running trial of a sweep may use."""

import pytest

from s2s_jax.errors import ConfigError
from s2s_jax.sweeps import devices as sweep_devices


def test_slot_devices_and_their_environment() -> None:
    """Accelerators are split into equal contiguous shares, each shown to its trial by env vars."""
    assert sweep_devices.slot_devices(0, 3) == [[], [], []]  # CPU: trials share the host.
    assert sweep_devices.slot_devices(4, 4) == [[0], [1], [2], [3]]
    assert sweep_devices.slot_devices(8, 2) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    with pytest.raises(ConfigError, match="--sweep_parallel=3 but this host has 2"):
        sweep_devices.slot_devices(2, 3)
    assert sweep_devices.device_env("cpu", [], 0) == {}
    assert sweep_devices.device_env("gpu", [2, 3], 1) == {"CUDA_VISIBLE_DEVICES": "2,3"}
    assert sweep_devices.device_env("gpu", [1], 1, visible="4,6") == {"CUDA_VISIBLE_DEVICES": "6"}
    tpu = [sweep_devices.device_env("tpu", [i], i) for i in range(2)]
    assert [e["TPU_VISIBLE_CHIPS"] for e in tpu] == ["0", "1"]
    assert tpu[0]["TPU_CHIPS_PER_PROCESS_BOUNDS"] == "1,1,1"
    assert tpu[0]["TPU_PROCESS_PORT"] != tpu[1]["TPU_PROCESS_PORT"]
    with pytest.raises(ConfigError, match="3 TPU chips"):
        sweep_devices.device_env("tpu", [0, 1, 2], 0)


def test_slot_devices_refuses_no_slots() -> None:
    """--sweep_parallel below 1 is refused, on CPU as well."""
    with pytest.raises(ConfigError, match="--sweep_parallel=0 is invalid"):
        sweep_devices.slot_devices(0, 0)


def test_probe_finds_no_accelerator_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without JAX_PLATFORMS, a JAX subprocess is asked; this machine has only a CPU: 1 slot."""
    monkeypatch.delenv("JAX_PLATFORMS", raising=False)
    assert sweep_devices.slot_envs(None, None) == ("cpu", [{}])
    assert sweep_devices.slot_envs("cpu", 3) == ("cpu", [{}, {}, {}])
