"""The device mesh and the shardings of batches and of the train state (`config.sharding`).

The mesh lays the run's devices (`config.devices` of `jax.devices()`: every process's,
once jax.distributed is initialized) out as ('data', 'model') = (devices / model, model).
Batches are split over 'data' on their rows (P('data')). The train state is replicated
(P()), except with `config.sharding.fsdp`: then the three vocabulary matrices, the source
and target embeddings [V, E] (P('data', None)) and the output layer's kernel [H, V]
(P(None, 'data')), and their optimizer state (Adam's mu and nu mirror the params tree, so
they match by path) are split over 'data' on the vocabulary axis. XLA gathers what a step
needs; each device keeps 1/n of those matrices between steps.

`state_shardings` is the one source of the state's shardings: experiment.py uses it for
init, the train step's in/out shardings, the searches' params and the checkpoint's
abstract state (so a restore lands sharded, whatever the saving run's device count).

What FSDP saves on experiments/benchmark.py:base (vocabularies of 8,000, E 256, H 512, one
LSTM layer each side, B 64, length 32) with 8 fake CPU devices, per device: params + Adam
state (the first shard's bytes) 136.2 MB replicated, 50.2 MB with fsdp (the three matrices
hold 8.2M of the 11.4M parameters); XLA's plan of the compiled train step (arguments +
outputs + temporaries - aliased, `memory_analysis()`) 236.6 MB replicated, 137.4 MB with
fsdp, of which temporaries 100.4 MB and 87.2 MB.
"""

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from s2s_jax.errors import ConfigError

DATA, MODEL = "data", "model"

# The matrices fsdp shards: (the end of their key path, their spec, what they are).
_VOCAB_MATRICES = (
    (("encoder", "embed", "embedding"), P(DATA, None), "the source embedding"),
    (("decoder", "embed", "embedding"), P(DATA, None), "the target embedding"),
    (("decoder", "logits", "kernel"), P(None, DATA), "the output layer's kernel"),
)


def make_mesh(devices: Sequence[jax.Device], model: int) -> Mesh:
    """`devices` as a ('data', 'model') mesh of shape (len(devices) / model, model).

    In jax.devices() order, so that each process's devices hold neighbouring batch rows.
    config_checks has made `model` divide the device count.
    """
    return Mesh(np.array(devices).reshape(-1, model), (DATA, MODEL))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Rows split over 'data', replicated over 'model'."""
    return NamedSharding(mesh, P(DATA))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def _name(key: Any) -> Any:
    """A key path entry as a plain name or index (DictKey, GetAttrKey, SequenceKey...)."""
    for field in ("key", "name", "idx"):
        if hasattr(key, field):
            return getattr(key, field)
    return key


def state_shardings(abstract_state: Any, mesh: Mesh, fsdp: bool) -> Any:
    """A NamedSharding for each leaf of `abstract_state` (a TrainState of arrays or
    ShapeDtypeStructs): P() everywhere, but with `fsdp` the vocabulary matrices and their
    optimizer state split over 'data' on their vocabulary axis (see the module docstring).

    Raises ConfigError if a vocabulary size is not a multiple of the 'data' axis size: the
    matrix is then neither padded nor silently replicated (the memory asked for would not be
    saved, and a padded vocabulary would change the checkpoint's shapes).
    """
    n = mesh.shape[DATA]

    def leaf(path: tuple, x: Any) -> NamedSharding:
        names = tuple(_name(k) for k in path)
        for suffix, spec, what in _VOCAB_MATRICES if fsdp else ():
            if names[-len(suffix) :] != suffix:
                continue
            vocab = x.shape[list(spec).index(DATA)]
            if vocab % n:
                raise ConfigError(
                    f"config.sharding.fsdp=True splits {what} (shape {tuple(x.shape)}) over "
                    f"the 'data' mesh axis on its vocabulary axis, but the vocabulary size "
                    f"{vocab} is not a multiple of the 'data' axis size {n}: choose a "
                    f"vocabulary size divisible by {n}, another config.devices, or "
                    "config.sharding.fsdp=False"
                )
            return NamedSharding(mesh, spec)
        return NamedSharding(mesh, P())

    return jax.tree_util.tree_map_with_path(leaf, abstract_state)
