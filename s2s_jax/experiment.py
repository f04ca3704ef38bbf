"""Builds everything a run needs from a config; the one place that jits.

Shardings: the batch is split over a 1-D device mesh ('data'); the train
state is replicated. The train step donates its input state.
"""

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import ml_collections
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from s2s_jax import checkpointing, config_checks, steps
from s2s_jax.data import Data, make_data
from s2s_jax.decoding import beam_search, greedy
from s2s_jax.model import ModelConfig, Seq2Seq
from s2s_jax.optim import make_optimizer, make_schedule


@dataclasses.dataclass(frozen=True)
class Experiment:
    config: ml_collections.ConfigDict
    data: Data
    model_cfg: ModelConfig
    model: Seq2Seq
    mesh: Mesh
    init: Callable[[jax.Array], steps.TrainState]
    train_step: Callable[..., tuple[steps.TrainState, dict[str, jax.Array]]]
    eval_step: Callable[..., dict[str, jax.Array]]
    # (params, src_BxS) -> (tokens, lengths): greedy, or beam search when eval.beam_size > 1.
    decode: Callable[..., tuple[jax.Array, jax.Array]]
    abstract_state: Any  # ShapeDtypeStructs with shardings: what a checkpoint restores into.
    learning_rate: optax.Schedule

    def put_batch(self, batch: Any) -> Any:
        """Host arrays (any pytree) to device arrays, split over the mesh's 'data' axis."""
        return jax.device_put(batch, NamedSharding(self.mesh, P("data")))

    def initial_state(self) -> steps.TrainState:
        return self.init(jax.random.PRNGKey(self.config.seed))

    def restore(self, manager, step: int | None = None) -> tuple[steps.TrainState, dict[str, Any]]:
        return checkpointing.restore(manager, self.abstract_state, self.model_cfg, step)


def build(config: ml_collections.ConfigDict, workdir: str) -> Experiment:
    """Validates `config` and builds the data, model, mesh and jitted steps."""
    config_checks.validate(config, jax.device_count())
    devices = jax.devices() if config.devices == -1 else jax.devices()[: config.devices]
    config_checks.check_backend(config.model, devices[0].platform)
    data = make_data(config, workdir, len(devices))
    model_cfg = ModelConfig.from_config(config.model, data.src_vocab_size, data.tgt_vocab_size)
    model = Seq2Seq(model_cfg)
    mesh = Mesh(np.array(devices), ("data",))
    replicated, batch_sharding = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))

    tx = make_optimizer(config.optim, config.train.num_steps)
    init_fn = functools.partial(steps.init_state, model, tx, batch=data.example_batch())
    abstract_state = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated),
        jax.eval_shape(init_fn, jax.random.PRNGKey(0)),
    )
    train_step = functools.partial(
        steps.train_step,
        model=model,
        label_smoothing=config.train.label_smoothing,
        loss_chunk=config.train.loss_chunk_size,
    )
    lengths = {"max_len": data.max_decode_len, "early_exit": config.eval.early_exit}
    if config.eval.beam_size == 1:
        decode = functools.partial(greedy.greedy_decode, model, **lengths)
    else:
        decode = functools.partial(
            beam_search.beam_search,
            model,
            beam_size=config.eval.beam_size,
            length_penalty=config.eval.length_penalty,
            **lengths,
        )
    return Experiment(
        config=config,
        data=data,
        model_cfg=model_cfg,
        model=model,
        mesh=mesh,
        init=jax.jit(init_fn, out_shardings=replicated),
        train_step=jax.jit(
            train_step,
            in_shardings=(replicated, batch_sharding),
            out_shardings=(replicated, replicated),
            donate_argnums=0,
        ),
        eval_step=jax.jit(
            functools.partial(steps.eval_step, model=model),
            in_shardings=(replicated, batch_sharding),
            out_shardings=replicated,
        ),
        decode=jax.jit(
            decode,
            in_shardings=(replicated, batch_sharding),
            out_shardings=(batch_sharding, batch_sharding),
        ),
        abstract_state=abstract_state,
        learning_rate=make_schedule(config.optim, config.train.num_steps),
    )
