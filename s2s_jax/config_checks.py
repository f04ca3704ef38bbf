"""Checks an experiment config before anything runs, naming the bad field; reads a saved one.

The rules are tables (`RULES`, `BENCHMARK_RULES`) of dotted field -> expectation; the
benchmark holds its grid values to the rules of the fields they set (benchmark/grid.py).
"""

import json
import os
from collections.abc import Callable
from typing import Any

import ml_collections
from absl import logging

from s2s_jax.data import KINDS
from s2s_jax.data.generated import TASKS
from s2s_jax.decoding import SEARCHES
from s2s_jax.errors import ConfigError
from s2s_jax.model.attention import SCORES
from s2s_jax.model.decoders import DECODERS
from s2s_jax.model.recurrent import BACKENDS, CELLS
from s2s_jax.optim import OPTIMIZERS, SCHEDULES
from s2s_jax.scheduled_sampling import DECAYS


def _positive(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _non_negative(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _string(v: Any) -> bool:
    return isinstance(v, str) and bool(v)


def _fraction(v: Any) -> bool:
    return isinstance(v, int | float) and 0.0 <= v < 1.0


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _probability(v: Any) -> bool:
    return _number(v) and 0.0 <= v <= 1.0


def _one_of(*choices: Any) -> Callable[[Any], bool]:
    # Compares types too, so that 1 is not taken for True.
    return lambda v: any(type(v) is type(c) and v == c for c in choices)


_POSITIVE_FLOAT = ("a number > 0", lambda v: isinstance(v, int | float) and v > 0)
# Dotted field -> (what is expected, in words; a test of a value).
RULES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "seed": ("an integer >= 0", _non_negative),
    "devices": ("-1 (all) or an integer > 0", lambda v: v == -1 or _positive(v)),
    "sharding.model": (
        "1 (no layer splits its weights over a 'model' mesh axis yet; only size 1 runs)",
        _one_of(1),
    ),
    "sharding.fsdp": ("True or False", _one_of(True, False)),
    "sharding.batch_multiple": ("an integer > 0", _positive),
    "task.name": (f"one of {TASKS}", _one_of(*TASKS)),
    "task.min_len": ("an integer > 0", _positive),
    "task.max_len": ("an integer > 0", _positive),
    "task.num_symbols": ("an integer in [1, 52]", lambda v: _positive(v) and v <= 52),
    "task.max_digits": ("an integer in [1, 9]", lambda v: _positive(v) and v <= 9),
    "task.num_eval": ("an integer > 0", _positive),
    "data.train": ("a split spec such as 'tatoeba:train'", lambda v: _string(v) and ":" in v),
    "data.dev": ("a split spec such as 'tatoeba:validation'", lambda v: _string(v) and ":" in v),
    "data.tests": ("comma-separated split specs, or ''", lambda v: isinstance(v, str)),
    "data.src_key": ("a feature name such as 'en'", _string),
    "data.tgt_key": ("a feature name such as 'ko'", _string),
    "data.data_dir": ("a directory", _string),
    "data.manual_dir": ("a directory, or '' to download", lambda v: isinstance(v, str)),
    "data.src_vocab_size": ("an integer > 4", lambda v: _positive(v) and v > 4),
    "data.tgt_vocab_size": ("an integer > 4", lambda v: _positive(v) and v > 4),
    "data.shared_vocab": ("True or False", _one_of(True, False)),
    "data.tokenizer_type": ("'unigram' or 'bpe'", _one_of("unigram", "bpe")),
    "data.character_coverage": (
        "a number in (0, 1]",
        lambda v: isinstance(v, float) and 0 < v <= 1,
    ),
    "data.bucket_boundaries": (
        "increasing integers > 0",
        lambda v: len(v) > 0 and all(_positive(b) for b in v) and list(v) == sorted(set(v)),
    ),
    "data.max_tokens": ("an integer >= 0 (0: train.batch_size sentences)", _non_negative),
    "synthetic.vocab_size": ("an integer > 4", lambda v: _positive(v) and v > 4),
    "synthetic.src_len": ("an integer > 0", _positive),
    "synthetic.tgt_len": ("an integer > 0 (the target plus EOS)", _positive),
    "synthetic.num_eval": ("an integer > 0", _positive),
    "model.cell": (f"one of {CELLS}", _one_of(*CELLS)),
    "model.embed_size": ("an integer > 0", _positive),
    "model.hidden_size": ("an integer > 0", _positive),
    "model.num_layers": ("an integer > 0", _positive),
    "model.bidirectional": ("True or False", _one_of(True, False)),
    "model.dropout_rate": ("a number in [0, 1)", _fraction),
    "model.init_state": ("'zeros' or 'learned'", _one_of("zeros", "learned")),
    "model.reverse_source": ("True or False", _one_of(True, False)),
    "model.scan_unroll": ("an integer > 0", _positive),
    "model.remat": ("True or False", _one_of(True, False)),
    "model.backend": (f"one of {BACKENDS}", _one_of(*BACKENDS)),
    "model.decoder": (f"one of {DECODERS}", _one_of(*DECODERS)),
    "model.attention_score": (f"one of {SCORES}", _one_of(*SCORES)),
    "model.input_feeding": ("True or False", _one_of(True, False)),
    "model.dtype": ("'float32' or 'bfloat16'", _one_of("float32", "bfloat16")),
    "model.param_dtype": ("'float32' or 'bfloat16'", _one_of("float32", "bfloat16")),
    "optim.name": (f"one of {OPTIMIZERS}", _one_of(*OPTIMIZERS)),
    "optim.learning_rate": _POSITIVE_FLOAT,
    "optim.schedule": (f"one of {SCHEDULES}", _one_of(*SCHEDULES)),
    "optim.warmup_steps": ("an integer >= 0", _non_negative),
    "optim.final_lr_fraction": ("a number in [0, 1)", _fraction),
    "optim.b1": ("a number in [0, 1)", _fraction),
    "optim.b2": ("a number in [0, 1)", _fraction),
    "optim.weight_decay": ("a number >= 0", lambda v: isinstance(v, int | float) and v >= 0),
    "optim.momentum": ("a number in [0, 1)", _fraction),
    "optim.grad_clip_norm": (
        "a number >= 0 (0 disables)",
        lambda v: isinstance(v, int | float) and v >= 0,
    ),
    "train.batch_size": ("an integer > 0", _positive),
    "train.num_steps": ("an integer > 0", _positive),
    "train.label_smoothing": ("a number in [0, 1)", _fraction),
    "train.loss_chunk_size": (
        "an integer >= -1 (0: the whole sequence at once; -1: chosen from the batch shape)",
        lambda v: v == -1 or _non_negative(v),
    ),
    "train.log_every_steps": ("an integer > 0", _positive),
    "train.eval_every_steps": ("an integer > 0", _positive),
    "train.checkpoint_every_steps": ("an integer > 0", _positive),
    "train.max_checkpoints_to_keep": ("an integer > 0", _positive),
    "train.time_budget_seconds": (
        "a number >= 0 (0: no limit)",
        lambda v: isinstance(v, int | float) and v >= 0,
    ),
    "train.early_stopping_patience": ("an integer >= 0 (0 disables)", _non_negative),
    "train.scheduled_sampling.decay": (f"one of {DECAYS}", _one_of(*DECAYS)),
    "train.scheduled_sampling.constant_probability": ("a number in [0, 1]", _probability),
    "train.scheduled_sampling.min_teacher_forcing": ("a number in [0, 1]", _probability),
    "train.scheduled_sampling.decay_steps": ("an integer > 0", _positive),
    "train.scheduled_sampling.exponential_base": (
        "a number in (0, 1] (1: no decay)",
        lambda v: _probability(v) and v > 0,
    ),
    "train.scheduled_sampling.inverse_sigmoid_k": (
        "a number >= 1",
        lambda v: _number(v) and v >= 1,
    ),
    "eval.batch_size": ("an integer > 0", _positive),
    "eval.max_decode_len": ("0 (the task's target length) or an integer > 0", _non_negative),
    "eval.num_examples_to_log": ("an integer >= 0", _non_negative),
    "eval.decode": (f"one of {SEARCHES}", _one_of(*SEARCHES)),
    "eval.beam_size": ("an integer > 0 (> 1 only with eval.decode='beam')", _positive),
    "eval.n_best": ("an integer > 0 (> 1 only with eval.decode='beam')", _positive),
    "eval.temperature": _POSITIVE_FLOAT,
    "eval.top_k": ("an integer >= 0 (0: off)", _non_negative),
    "eval.top_p": (
        "a number in (0, 1] (1: off)",
        lambda v: isinstance(v, int | float) and not isinstance(v, bool) and 0 < v <= 1,
    ),
    "train.nonfinite": ("'stop' or 'skip'", _one_of("stop", "skip")),
    "train.max_nonfinite_in_a_row": ("an integer > 0", _positive),
    "eval.seed": ("an integer >= 0", _non_negative),
    "eval.length_penalty": ("a number >= 0", lambda v: isinstance(v, int | float) and v >= 0),
    "eval.early_exit": ("True or False", _one_of(True, False)),
    "eval.length_buckets": (
        "a tuple of integers > 0, strictly ascending (upper bucket edges), or () for off",
        lambda v: (
            isinstance(v, tuple | list)  # A list once config.json has been read back.
            and all(_positive(b) for b in v)
            and list(v) == sorted(set(v))
        ),
    ),
    "eval.beam_grid": (
        "a tuple of (beam_size >= 1, length_penalty >= 0) pairs, or () for off",
        lambda v: (
            isinstance(v, tuple | list)
            and all(
                isinstance(p, tuple | list)
                and len(p) == 2
                and _positive(p[0])
                and isinstance(p[1], int | float)
                and not isinstance(p[1], bool)
                and p[1] >= 0
                for p in v
            )
        ),
    ),
}


def _lookup(config: ml_collections.ConfigDict, dotted: str) -> Any:
    node = config
    for part in dotted.split("."):
        if part not in node:
            raise ConfigError(f"config.{dotted} is missing; every experiment config must set it")
        node = node[part]
    return node


# The benchmark block of a benchmark config (benchmark/grid.py checks its grid).
BENCHMARK_RULES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "benchmark.warmup": ("an integer >= 0", _non_negative),
    "benchmark.reps": ("an integer > 0", _positive),
    "benchmark.calls_per_rep": ("an integer > 0", _positive),
    "benchmark.peak_repeats": ("an integer > 0", _positive),
    "benchmark.decode": ("True or False", _one_of(True, False)),
    "benchmark.beam_size": ("an integer >= 0 (0 skips beam search)", _non_negative),
    "benchmark.memory_bound_mib": ("an integer >= 0 (0: none)", _non_negative),
    "benchmark.kernel_bound": ("True or False", _one_of(True, False)),
}


def check_fields(
    config: ml_collections.ConfigDict, rules: dict[str, tuple[str, Callable[[Any], bool]]]
) -> None:
    """Raises ConfigError naming the first field of `rules` that is missing or breaks its rule."""
    for field, (expected, ok) in rules.items():
        value = _lookup(config, field)
        if not ok(value):
            raise ConfigError(f"config.{field}={value!r} is invalid: expected {expected}")


def validate(config: ml_collections.ConfigDict, num_devices: int) -> None:
    """Raises ConfigError naming the first bad field of `config`."""
    kinds = [kind for kind in KINDS if kind in config]
    if len(kinds) != 1:
        raise ConfigError(
            "a config needs exactly one of config.task (generated), config.data (parallel "
            f"text) or config.synthetic (random ids); it has {kinds or 'none'}"
        )
    other_kinds = [kind for kind in KINDS if kind not in config]  # Their blocks are absent.
    check_fields(config, {f: r for f, r in RULES.items() if f.split(".")[0] not in other_kinds})
    model = config.model
    if model.decoder == "luong" and model.attention_score == "dot" and model.bidirectional:
        raise ConfigError(
            "config.model.attention_score='dot' scores h_t·h_j, but a bidirectional encoder's "
            "h_j has twice the decoder's size; use 'general' or 'concat', or bidirectional=False"
        )
    if "task" in config and config.task.min_len > config.task.max_len:
        raise ConfigError(
            f"config.task.min_len={config.task.min_len} is larger than "
            f"config.task.max_len={config.task.max_len}"
        )
    _check_search(config.eval)
    _check_mesh(config, num_devices)


def _check_mesh(config: ml_collections.ConfigDict, num_devices: int) -> None:
    """The mesh fits the devices, and its 'data' axis divides the rows of every batch.

    Batch rows come from the config alone (train.batch_size, eval.batch_size, or with
    data.max_tokens multiples of sharding.batch_multiple), never from the device count: so
    the data position is the same on any device count, and this check says which counts a
    config can run on.
    """
    devices = num_devices if config.devices == -1 else config.devices
    if config.devices > num_devices:
        raise ConfigError(f"config.devices={config.devices} but only {num_devices} devices exist")
    model = config.sharding.model
    if devices % model:
        raise ConfigError(
            f"config.sharding.model={model} does not divide the {devices} devices "
            f"(config.devices={config.devices})"
        )
    token_budget = "data" in config and config.data.max_tokens > 0
    if token_budget:
        rows, longest = config.sharding.batch_multiple, config.data.bucket_boundaries[-1]
        if config.data.max_tokens < rows * longest:
            raise ConfigError(
                f"config.data.max_tokens={config.data.max_tokens} must hold "
                f"config.sharding.batch_multiple={rows} rows of the longest bucket "
                f"({longest} tokens, config.data.bucket_boundaries): make it >= {rows * longest}"
            )
    fields = ("sharding.batch_multiple" if token_budget else "train.batch_size", "eval.batch_size")
    for field in fields:
        if _lookup(config, field) % (devices // model):
            raise ConfigError(
                f"config.{field}={_lookup(config, field)} must be divisible by the "
                f"{devices // model} devices the batch is sharded over (the 'data' mesh axis: "
                f"config.devices={config.devices}, config.sharding.model={model})"
            )


def _check_search(eval_config: ml_collections.ConfigDict) -> None:
    """Beam width and n-best belong to beam search; n-best is at most the beam width."""
    for field in ("beam_size", "n_best"):
        if eval_config[field] > 1 and eval_config.decode != "beam":
            raise ConfigError(
                f"config.eval.{field}={eval_config[field]} needs config.eval.decode='beam' "
                f"(it is {eval_config.decode!r})"
            )
    if eval_config.n_best > eval_config.beam_size:
        raise ConfigError(
            f"config.eval.n_best={eval_config.n_best} is larger than "
            f"config.eval.beam_size={eval_config.beam_size}: beam search keeps only that many"
        )


def check_backend(
    model: ml_collections.ConfigDict, platform: str, block: str = "config.model"
) -> None:
    """The 'cudnn' backend runs only the float32 LSTM, and only on a CUDA GPU.

    `model` has backend, cell and dtype fields; `block` names it in the error
    (a benchmark checks each grid point as 'config.grid').
    """
    if model.backend != "cudnn":
        return
    if model.cell != "lstm" or model.dtype != "float32":
        raise ConfigError(
            f"{block}.backend='cudnn' runs only cell='lstm' with dtype='float32' "
            f"(got cell={model.cell!r}, dtype={model.dtype!r}); use backend='fused'"
        )
    if platform != "gpu":
        raise ConfigError(
            f"{block}.backend='cudnn' needs a CUDA GPU, but this run's devices are "
            f"{platform!r}; use backend='fused' (or 'scan') here"
        )


def with_overrides(
    config: ml_collections.ConfigDict, overrides: dict[str, Any]
) -> ml_collections.ConfigDict:
    """`config` (one saved in a workdir) with `overrides` set ({'eval.beam_size': 4}, the
    --config.* flags); a field it does not have, or a value of another type, is a
    ConfigError naming the flag."""

    def has(section: Any, key: str) -> bool:
        return isinstance(section, ml_collections.ConfigDict) and key in section

    for dotted, value in overrides.items():
        *path, key = dotted.split(".")
        section = config
        for part in path:
            section = section[part] if has(section, part) else None
        if not has(section, key):
            raise ConfigError(f"--config.{dotted}: the saved config has no such field")
        if isinstance(value, tuple) and isinstance(section[key], list):
            value = list(value)  # A tuple saved as a JSON array.
        try:
            section[key] = value
        except TypeError as e:
            raise ConfigError(f"--config.{dotted}={value!r}: {' '.join(str(e).split())}") from e
        logging.info("Saved config: %s set to %r (--config.%s)", dotted, value, dotted)
    return config


def saved_config(workdir: str) -> ml_collections.ConfigDict:
    """The config a training run saved in workdir/config.json.

    A ConfigError names the path when the workdir or its config.json is missing, or the
    file is not a JSON object (unreadable, malformed, or e.g. a list).
    """
    path = os.path.join(workdir, "config.json")
    fix = "train there first (--mode=train), or pass --config"
    if not os.path.isdir(workdir):
        raise ConfigError(f"workdir {workdir} does not exist: {fix}")
    if not os.path.exists(path):
        raise ConfigError(f"{path} is missing: the workdir holds no saved config; {fix}")
    try:
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
    except OSError as e:  # A folder of that name, no permission.
        raise ConfigError(f"{path} cannot be read ({e.strerror}); {fix}") from e
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError.
        raise ConfigError(f"{path} is not valid JSON ({' '.join(str(e).split())}); {fix}") from e
    if not isinstance(saved, dict):
        kinds = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
        kind = kinds.get(type(saved), "null")
        raise ConfigError(f"{path} holds a JSON {kind}, not an object of config fields; {fix}")
    logging.info("Using the config saved in %s", path)
    return ml_collections.ConfigDict(saved)
