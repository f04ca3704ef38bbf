"""Which accelerators each concurrently running trial of a sweep may use.

On CPU, trials share the host (`--sweep_parallel` defaults to 1). With GPUs or
TPUs, the `--sweep_parallel` slots split the host's accelerators into equal,
contiguous shares (by default one per trial), and a trial started in slot i
sees only slot i's share through its environment:

- GPU: CUDA_VISIBLE_DEVICES (indices into the sweep's own CUDA_VISIBLE_DEVICES
  when that is set);
- TPU: TPU_VISIBLE_CHIPS (and the older TPU_VISIBLE_DEVICES), chip bounds for
  1, 2 or 4 chips, and a port of its own, as libtpu needs to run several
  processes on one host.

The sweep process itself never starts a backend (that could hold GPU memory);
it asks a short-lived subprocess how many accelerators there are.
"""

import os
import subprocess
import sys

from s2s_jax.errors import ConfigError

# libtpu's chip bounds of one process with 1, 2 or 4 chips.
_TPU_CHIP_BOUNDS = {1: "1,1,1", 2: "1,2,1", 4: "2,2,1"}
_TPU_BASE_PORT = 8476

_PROBE = """
import jax
devices = jax.local_devices()
chips = {tuple(getattr(d, "coords", None) or (d.id,)) for d in devices}  # 2 TPU v3 cores per chip.
print(devices[0].platform, len(chips) if devices[0].platform == "tpu" else len(devices))
"""


def slot_devices(num_accelerators: int, parallel: int) -> list[list[int]]:
    """The accelerator indices of each of `parallel` slots; empty lists on CPU (0 accelerators)."""
    if parallel < 1:
        raise ConfigError(f"--sweep_parallel={parallel} is invalid: expected an integer >= 1")
    if num_accelerators == 0:
        return [[] for _ in range(parallel)]
    if parallel > num_accelerators:
        raise ConfigError(
            f"--sweep_parallel={parallel} but this host has {num_accelerators} accelerators; "
            "each running trial needs one of its own"
        )
    share = num_accelerators // parallel
    return [list(range(i * share, (i + 1) * share)) for i in range(parallel)]


def device_env(
    platform: str, devices: list[int], slot: int, visible: str | None = None
) -> dict[str, str]:
    """Environment variables that show a trial in `slot` only `devices`.

    `visible` is the sweep's own CUDA_VISIBLE_DEVICES (GPU) or TPU_VISIBLE_CHIPS
    (TPU), if set: the trial's indices are positions in it.
    """
    if platform == "cpu" or not devices:
        return {}
    ids = [str(i) for i in devices]
    if visible:
        parent = [v.strip() for v in visible.split(",") if v.strip()]
        ids = [parent[i] for i in devices]
    if platform == "gpu":
        return {"CUDA_VISIBLE_DEVICES": ",".join(ids)}
    if platform == "tpu":
        if len(devices) not in _TPU_CHIP_BOUNDS:
            raise ConfigError(
                f"each trial would get {len(devices)} TPU chips; set --sweep_parallel so that "
                f"it gets one of {sorted(_TPU_CHIP_BOUNDS)}"
            )
        port = str(_TPU_BASE_PORT + slot)
        return {
            "TPU_VISIBLE_CHIPS": ",".join(ids),
            "TPU_VISIBLE_DEVICES": ",".join(ids),
            "TPU_CHIPS_PER_PROCESS_BOUNDS": _TPU_CHIP_BOUNDS[len(devices)],
            "TPU_PROCESS_BOUNDS": "1,1,1",
            "TPU_PROCESS_PORT": port,
            "TPU_MESH_CONTROLLER_ADDRESS": f"localhost:{port}",
            "TPU_MESH_CONTROLLER_PORT": port,
        }
    raise ConfigError(f"unknown platform {platform!r}; expected cpu, gpu or tpu")


def probe(platform: str | None) -> tuple[str, int]:
    """(platform, number of accelerators) that a trial would use; (cpu, 0) on CPU.

    `platform` is --platform (None: JAX's choice). Runs JAX in a subprocess,
    unless the platform is known to be the CPU.
    """
    env_platform = os.environ.get("JAX_PLATFORMS", "").split(",")[0].strip()
    if (platform or env_platform) == "cpu":
        return "cpu", 0
    env = {**os.environ, "JAX_PLATFORMS": platform} if platform else None
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or ["no output"]
        raise ConfigError(f"--platform={platform}: no such device here ({lines[-1]})")
    found, count = proc.stdout.split()[-2:]
    return (found, int(count)) if found in ("gpu", "tpu", "cuda", "rocm") else ("cpu", 0)


def slot_envs(platform: str | None, parallel: int | None) -> tuple[str, list[dict[str, str]]]:
    """The platform and, per slot, the environment additions of the trial running in it.

    `parallel` None means one slot per accelerator, or a single slot on CPU.
    """
    found, count = probe(platform)
    found = "gpu" if found in ("cuda", "rocm") else found
    slots = slot_devices(count, parallel if parallel is not None else max(count, 1))
    visible_var = {"gpu": "CUDA_VISIBLE_DEVICES", "tpu": "TPU_VISIBLE_CHIPS"}.get(found, "")
    visible = os.environ.get(visible_var) if visible_var else None
    return found, [device_env(found, devices, i, visible) for i, devices in enumerate(slots)]
