"""Several processes: JAX's distributed runtime, and what the processes of a run agree on.

`initialize` starts the runtime once, from launch.py, before JAX's backend starts:
- with --coordinator_address, --num_processes and --process_id (all three; or
  --num_processes=1 alone: one process), `jax.distributed.initialize` with them;
- without them, JAX's own detection where it applies (`cluster`): a SLURM job step of
  more than one task (`srun`), or a Cloud TPU VM; `jax.distributed.initialize()` then
  reads the rest from the environment;
- otherwise one process, and no runtime.
Collectives between processes on CPU go through gloo. A process that dies is noticed by
the others within `heartbeat_timeout_seconds` (JAX's default 100); the runtime then ends
them with an error saying that another task died, so no process hangs.

In a run of several processes every process runs the same program on its own rows of each
global batch (`Share`; jax.make_array_from_process_local_data puts them together). Process
0 alone writes files (`is_writer`); every process takes part in orbax's checkpoint saves and
restores, and in the collectives here (`any_process`, `to_host`, `writer_first`), which
every process must call at the same point. Nothing here runs at import time.
"""

import dataclasses
import functools
import glob
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from absl import logging

from s2s_jax.errors import UserError

T = TypeVar("T")
# What JAX's SLURM detection reads (jax._src.clusters.SlurmCluster): set inside `srun`.
_SLURM_VARS = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID",
               "SLURM_LOCALID")  # fmt: skip
# Cloud TPU hosts of a slice, as GKE and multislice set them (JAX's TPU detection reads
# them, or else the VM's metadata server).
_TPU_HOST_VARS = ("TPU_WORKER_HOSTNAMES", "TPU_PROCESS_ADDRESSES", "MEGASCALE_COORDINATOR_ADDRESS")


@dataclasses.dataclass(frozen=True)
class Share:
    """The rows of each global batch that one process materializes: part `index` of
    `count` equal, contiguous parts (the process index and the process count).

    The batch plan (which examples, in which order) is global and the same in every
    process; each materializes only its part of each batch.
    """

    index: int = 0
    count: int = 1

    def rows(self, batch_size: int) -> slice:
        size, rest = divmod(batch_size, self.count)
        if rest:
            raise UserError(
                f"a batch of {batch_size} rows does not split into equal shares of "
                f"{self.count} processes: make the batch sizes multiples of the process count"
            )
        return slice(self.index * size, (self.index + 1) * size)


ONE_PROCESS = Share()  # Every row of every batch.


@functools.lru_cache(maxsize=64)
def check_rows(sharding: Any, num_rows: int, share: Share) -> None:
    """A UserError unless `sharding` (of a batch split on its rows) puts exactly rows
    `share.rows(num_rows)` of a [num_rows, ...] batch on this process's devices."""
    import numpy as np

    held_R, wanted_R = np.zeros(num_rows, bool), np.zeros(num_rows, bool)
    for index in sharding.addressable_devices_indices_map((num_rows,)).values():
        held_R[index[0]] = True
    wanted_R[share.rows(num_rows)] = True
    if (held_R != wanted_R).any():
        held = np.flatnonzero(held_R)
        rows = share.rows(num_rows)
        raise UserError(
            f"process {share.index} of {share.count} should hold rows {rows.start}..{rows.stop - 1}"
            f" of each batch of {num_rows}, but the mesh puts {held.size} rows on its devices"
            + (f" ({held[0]}..{held[-1]})" if held.size else "")
            + ": the mesh must take every process's devices in jax.devices() order "
            "(config.devices=-1)"
        )


def check_flags(
    coordinator_address: str | None, num_processes: int | None, process_id: int | None
) -> bool:
    """Whether the flags ask for several processes; a UserError naming the flags if they do
    not go together. None is a flag not given."""
    given = {"--coordinator_address": coordinator_address, "--num_processes": num_processes,
             "--process_id": process_id}  # fmt: skip
    named = [f"{k}={v}" for k, v in given.items() if v is not None]
    if num_processes is not None and num_processes < 1:
        raise UserError(f"--num_processes={num_processes} is invalid: expected an integer >= 1")
    if num_processes == 1 and process_id in (None, 0) and coordinator_address is None:
        return False  # One process, said explicitly: no runtime, no detection.
    missing = [k for k, v in given.items() if v is None]
    if named and missing:
        raise UserError(
            f"{' '.join(named)} needs {' and '.join(missing)} too: --coordinator_address, "
            "--num_processes and --process_id go together (or give none of them, to let JAX "
            "detect a SLURM or Cloud TPU cluster)"
        )
    if not named:
        return False
    assert num_processes is not None and process_id is not None and coordinator_address
    if not 0 <= process_id < num_processes:
        raise UserError(
            f"--process_id={process_id} is invalid: expected 0 <= process_id < "
            f"--num_processes={num_processes}"
        )
    host, _, port = coordinator_address.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(
            f"--coordinator_address={coordinator_address!r} is invalid: expected HOST:PORT, "
            "the address of process 0 and a free port there, e.g. 10.0.0.1:1234"
        )
    return True


def cluster(environ: Mapping[str, str]) -> str | None:
    """The cluster whose several processes JAX's auto-detection finds, or None: a SLURM
    job step of more than one task, or a Cloud TPU VM (not one that a sweep trial confines
    to one process with TPU_PROCESS_BOUNDS=1,1,1)."""
    if all(k in environ for k in _SLURM_VARS) and int(environ["SLURM_NTASKS"]) > 1:
        return f"SLURM ({environ['SLURM_NTASKS']} tasks)"
    if environ.get("TPU_PROCESS_BOUNDS") == "1,1,1":
        return None
    if any(environ.get(k) for k in _TPU_HOST_VARS):
        return "Cloud TPU (hosts from the environment)"
    tpu_chips = glob.glob("/dev/accel*") or glob.glob("/dev/vfio/[0-9]*")
    if tpu_chips and importlib.util.find_spec("libtpu") is not None:
        return "Cloud TPU VM"
    return None


def initialize(
    coordinator_address: str | None,
    num_processes: int | None,
    process_id: int | None,
    heartbeat_timeout_seconds: int = 100,
) -> None:
    """Starts JAX's distributed runtime if the flags or the environment ask for several
    processes (see the module docstring). Call once, before anything uses JAX's backend.
    """
    explicit = check_flags(coordinator_address, num_processes, process_id)
    found = None if explicit or num_processes == 1 else cluster(os.environ)
    import jax

    if explicit or found:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        if explicit:
            logging.info("Process %d of %d, coordinator %s", process_id, num_processes,
                         coordinator_address)  # fmt: skip
            jax.distributed.initialize(
                coordinator_address,
                num_processes,
                process_id,
                heartbeat_timeout_seconds=heartbeat_timeout_seconds,
            )
        else:
            logging.info("%s detected: jax.distributed.initialize() from the environment", found)
            jax.distributed.initialize(heartbeat_timeout_seconds=heartbeat_timeout_seconds)


def describe() -> str:
    """'process 0 of 2, 1 local device of 2' (this starts JAX's backend)."""
    import jax

    local, total = jax.local_device_count(), jax.device_count()
    return (
        f"process {jax.process_index()} of {jax.process_count()}, {local} local "
        f"device{'s' if local > 1 else ''} of {total}"
    )


def is_writer() -> bool:
    """Whether this process writes the run's files: process 0 of several, or the only one.

    Starts neither JAX's backend nor JAX (a sweep's own process writes, and never starts it).
    """
    if "jax" not in sys.modules:
        return True
    import jax

    return not jax.distributed.is_initialized() or jax.process_index() == 0


def share() -> Share:
    """This process's rows of each global batch."""
    import jax

    return Share(jax.process_index(), jax.process_count())


def any_process(*flags: bool) -> tuple[bool, ...]:
    """Each flag, true if it is true in any process: the same answer in every process, so
    that all stop (or save) at the same step. A collective with several processes."""
    import jax

    if jax.process_count() == 1:
        return tuple(bool(f) for f in flags)
    import numpy as np
    from jax.experimental import multihost_utils

    gathered_PxF = multihost_utils.process_allgather(np.array(flags, np.int32))
    return tuple(bool(f) for f in gathered_PxF.any(axis=0))


def to_host(tree: Any) -> Any:
    """Device arrays as numpy arrays, whole in every process (`jax.device_get`; with several
    processes `process_allgather`, a collective): e.g. the decodes of a global batch."""
    import jax

    if jax.process_count() == 1:
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    return multihost_utils.process_allgather(tree, tiled=True)


def writer_first(make: Callable[[], T]) -> T:
    """make() in process 0, then (after a barrier) in the others: what it writes, such as
    prepared data or trained tokenizers, is there for them to read, never written by
    several processes at once."""
    import jax

    if jax.process_count() == 1:
        return make()
    from jax.experimental import multihost_utils

    made, failed = None, None
    if is_writer():
        try:
            made = make()
        except Exception as e:  # Raised after the barrier: the others must not wait for it.
            failed = e
    multihost_utils.sync_global_devices("s2s_jax.distributed.writer_first")
    if failed is not None:
        raise failed
    return made if is_writer() else make()
