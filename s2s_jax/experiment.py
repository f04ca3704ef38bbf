"""Builds everything a run needs from a config; the one place that jits.

Shardings (s2s_jax/sharding.py, from config.sharding): the batch is split over the
'data' axis of a ('data', 'model') device mesh; the train state is replicated, or with
sharding.fsdp its vocabulary matrices are split over 'data'. The train step donates its
input state.
"""

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import ml_collections
import optax
from jax.sharding import Mesh

from s2s_jax import checkpointing, config_checks, distributed, sharding, steps
from s2s_jax.data import Data, make_data
from s2s_jax.decoding import beam_search, greedy, sampling
from s2s_jax.model import ModelConfig, Seq2Seq
from s2s_jax.model.attention import ATTENTION_DECODERS
from s2s_jax.optim import make_optimizer, make_schedule


@dataclasses.dataclass(frozen=True)
class Experiment:
    config: ml_collections.ConfigDict
    data: Data
    model_cfg: ModelConfig
    model: Seq2Seq
    mesh: Mesh
    init: Callable[[jax.Array], steps.TrainState]
    # (state, batch): the state from this experiment's `init` or `restore`, as its shardings
    # (sharding.state_shardings) are a TrainState tree that holds this experiment's optimizer.
    train_step: Callable[..., tuple[steps.TrainState, dict[str, jax.Array]]]
    eval_step: Callable[..., dict[str, jax.Array]]
    # (params, src_BxS, rng) -> (tokens_BxL, lengths_B), the search of eval.decode: greedy,
    # beam or sample (only sampling reads the rng, a PRNG key).
    decode: Callable[..., tuple[jax.Array, jax.Array]]
    abstract_state: Any  # ShapeDtypeStructs with shardings: what a checkpoint restores into.
    learning_rate: optax.Schedule
    # eval.decode='beam' only: (params, src_BxS, rng) -> (tokens_BxNxL, lengths_BxN,
    # scores_BxN), the eval.n_best best hypotheses and their scores (beam_search_n_best).
    decode_n_best: Callable[..., tuple[jax.Array, jax.Array, jax.Array]] | None = None
    # Attention decoders only: (params, src_BxS, tgt_in_BxT) -> weights_BxTxS, teacher-forced
    # (steps.attention_weights); None for decoders without attention.
    attention: Callable[..., jax.Array] | None = None

    def put_batch(self, batch: Any) -> Any:
        """This process's rows of a global batch (a pytree of host arrays; in one process the
        whole batch; see distributed.Share) as global device arrays split over the mesh's
        'data' axis: jax.make_array_from_process_local_data, in one process a device_put."""
        batch_sharding, share = sharding.batch_sharding(self.mesh), distributed.share()

        def put(rows: Any) -> jax.Array:
            global_shape = (rows.shape[0] * share.count, *rows.shape[1:])
            if share.count > 1:
                distributed.check_rows(batch_sharding, global_shape[0], share)
            return jax.make_array_from_process_local_data(batch_sharding, rows, global_shape)

        return jax.tree.map(put, batch)

    def put_whole_batch(self, batch: Any) -> Any:
        """A global batch that every process holds whole (eval and decode batches) to device
        arrays as `put_batch` does: each process puts its own rows."""
        share = distributed.share()
        return self.put_batch(jax.tree.map(lambda x: x[share.rows(x.shape[0])], batch))

    def initial_state(self) -> steps.TrainState:
        return self.init(jax.random.PRNGKey(self.config.seed))

    def with_search(self, **eval_fields: Any) -> "Experiment":
        """This experiment with other config.eval fields (e.g. beam_size=4,
        length_penalty=0.0) and its searches jitted anew; data and model are shared."""
        config = self.config.copy_and_resolve_references()
        config.eval.update(eval_fields)
        eval_rules = {k: r for k, r in config_checks.RULES.items() if k.startswith("eval.")}
        config_checks.check_fields(config, eval_rules)
        decode, decode_n_best = _searches(config.eval, self.model, self.data.max_decode_len)
        params = jax.tree.map(lambda x: x.sharding, self.abstract_state.params)
        n_best = None if decode_n_best is None else _jit_search(params, decode_n_best, 3)
        decode = _jit_search(params, decode, 2)
        return dataclasses.replace(self, config=config, decode=decode, decode_n_best=n_best)

    def restore(self, manager, step: int | None = None) -> tuple[steps.TrainState, dict[str, Any]]:
        return checkpointing.restore(manager, self.abstract_state, self.model_cfg, step)


def build(config: ml_collections.ConfigDict, workdir: str) -> Experiment:
    """Validates `config` and builds the data, model, mesh and jitted steps."""
    config_checks.validate(config, jax.device_count())
    devices = jax.devices() if config.devices == -1 else jax.devices()[: config.devices]
    config_checks.check_backend(config.model, devices[0].platform)
    data = make_data(config, workdir)
    model_cfg = ModelConfig.from_config(config.model, data.src_vocab_size, data.tgt_vocab_size)
    model = Seq2Seq(model_cfg)
    mesh = sharding.make_mesh(devices, config.sharding.model)
    replicated, batch_sharding = sharding.replicated(mesh), sharding.batch_sharding(mesh)

    tx = make_optimizer(config.optim, config.train.num_steps)
    init_fn = functools.partial(steps.init_state, model, tx, batch=data.example_batch())
    shapes = jax.eval_shape(init_fn, jax.random.PRNGKey(0))
    # The one source of the state's shardings: init, the steps and the checkpoint's restore.
    state_sharding = sharding.state_shardings(shapes, mesh, config.sharding.fsdp)
    params_sharding = state_sharding.params
    abstract_state = jax.tree.map(
        lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), shapes, state_sharding
    )
    train_step = functools.partial(
        steps.train_step,
        model=model,
        label_smoothing=config.train.label_smoothing,
        loss_chunk=config.train.loss_chunk_size,
        scheduled_sampling=config.train.scheduled_sampling,
        skip_nonfinite=config.train.nonfinite == "skip",
    )
    decode, decode_n_best = _searches(config.eval, model, data.max_decode_len)
    return Experiment(
        config=config,
        data=data,
        model_cfg=model_cfg,
        model=model,
        mesh=mesh,
        init=jax.jit(init_fn, out_shardings=state_sharding),
        train_step=jax.jit(
            train_step,
            in_shardings=(state_sharding, batch_sharding),
            out_shardings=(state_sharding, replicated),
            donate_argnums=0,
        ),
        eval_step=jax.jit(
            functools.partial(steps.eval_step, model=model),
            in_shardings=(params_sharding, batch_sharding),
            out_shardings=replicated,
        ),
        decode=_jit_search(params_sharding, decode, 2),
        abstract_state=abstract_state,
        attention=None
        if model_cfg.decoder not in ATTENTION_DECODERS
        else jax.jit(
            functools.partial(steps.attention_weights, model=model),
            in_shardings=(params_sharding, batch_sharding, batch_sharding),
            out_shardings=batch_sharding,
        ),
        learning_rate=make_schedule(config.optim, config.train.num_steps),
        decode_n_best=None
        if decode_n_best is None
        else _jit_search(params_sharding, decode_n_best, 3),
    )


def _jit_search(params_sharding: Any, search: Callable, num_outputs: int) -> Callable:
    """A search (params, src_BxS, rng) jitted: params as the train state holds them
    (`params_sharding`, sharding.state_shardings), the key replicated, batches split."""
    mesh = jax.tree.leaves(params_sharding)[0].mesh
    replicated, batch_sharding = sharding.replicated(mesh), sharding.batch_sharding(mesh)
    return jax.jit(
        search,
        in_shardings=(params_sharding, batch_sharding, replicated),
        out_shardings=(batch_sharding,) * num_outputs,
    )


def _searches(
    eval_config: ml_collections.ConfigDict, model: Seq2Seq, max_len: int
) -> tuple[Callable, Callable | None]:
    """The unjitted decode of eval.decode and (beam only) the n-best one, as (params, src, rng)."""
    lengths = {"max_len": max_len, "early_exit": eval_config.early_exit}
    if eval_config.decode == "sample":
        return functools.partial(
            sampling.sample_decode,
            model,
            temperature=eval_config.temperature,
            top_k=eval_config.top_k,
            top_p=eval_config.top_p,
            **lengths,
        ), None
    if eval_config.decode == "greedy":
        search = functools.partial(greedy.greedy_decode, model, **lengths)
        return _ignore_rng(search), None
    beam = {"beam_size": eval_config.beam_size, "length_penalty": eval_config.length_penalty}
    n_best = functools.partial(
        beam_search.beam_search_n_best, model, n_best=eval_config.n_best, **beam, **lengths
    )
    search = functools.partial(beam_search.beam_search, model, **beam, **lengths)
    return _ignore_rng(search), _ignore_rng(n_best)


def _ignore_rng(search: Callable) -> Callable:
    """A deterministic search with the (params, src_BxS, rng) signature of sampling."""

    def decode(params: Any, src_BxS: jax.Array, rng: jax.Array) -> Any:
        del rng  # Deterministic.
        return search(params, src_BxS)

    return decode
