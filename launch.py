"""Launches an s2s_jax experiment: the only file that defines flags.

    python launch.py                                   # addition, into workdirs/generated_addition
    python launch.py --config=experiments/generated.py:reverse --workdir=/tmp/rev \
        --config.model.cell=gru --config.train.num_steps=500
    python launch.py --mode=eval --workdir=/tmp/rev --config=experiments/generated.py:reverse
    python launch.py --mode=decode --workdir=/tmp/rev --config=experiments/generated.py:reverse \
        --text=abcde --text=hello
    python launch.py --config=experiments/generated.py:reverse --sweep --workdir=/tmp/sweep
    python launch.py --mode=sweep_report --config=experiments/generated.py:reverse \
        --workdir=/tmp/sweep
"""

import json
import logging as py_logging
import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

_HERE = os.path.dirname(os.path.abspath(__file__))
_DEFAULT_CONFIG = os.path.join(_HERE, "experiments", "generated.py")

_CONFIG = config_flags.DEFINE_config_file(
    "config", _DEFAULT_CONFIG, "Experiment config file, optionally with ':arg'.", lock_config=True
)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Where checkpoints, metrics and logs go. Default: workdirs/<config>_<arg>."
)
_MODE = flags.DEFINE_enum(
    "mode",
    "train",
    ["train", "eval", "decode", "translate", "benchmark", "sweep_report"],
    "train (resuming if possible); eval, decode or translate from the best/latest checkpoint; "
    "benchmark: time the grid of a benchmark config; "
    "sweep_report: rebuild a sweep's results table and plot from its trial folders.",
)
_PLATFORM = flags.DEFINE_enum(
    "platform", None, ["cpu", "gpu", "tpu"], "JAX platform; default: the best one available."
)
_SWEEP = flags.DEFINE_bool(
    "sweep",
    False,
    "Train every trial of the config file's get_sweep(arg), each in --workdir/<trial-name>; "
    "rerunning skips finished trials and resumes interrupted ones.",
)
_SWEEP_PARALLEL = flags.DEFINE_integer(
    "sweep_parallel",
    None,
    "--sweep: how many trials run at a time. Default: 1 on CPU, one per GPU/TPU (each trial "
    "gets its own accelerators).",
)
_TEXT = flags.DEFINE_multi_string(
    "text",
    None,
    "decode/translate: a source sentence (repeatable). Default: decode reads the first eval "
    "set; translate reads stdin, one sentence per line.",
)


def _default_workdir() -> str:
    path, _, arg = flags.FLAGS["config"].config_filename.partition(":")
    name = os.path.splitext(os.path.basename(path))[0] + (f"_{arg}" if arg else "")
    sweep = _SWEEP.value or _MODE.value == "sweep_report"
    return os.path.join("workdirs", name + ("_sweep" if sweep else ""))


class _QuietLibraries(py_logging.Filter):
    """Keeps orbax's INFO chatter (several lines per save) out of the logs."""

    def filter(self, record: py_logging.LogRecord) -> bool:
        return record.levelno >= py_logging.WARNING or "/orbax/" not in record.pathname


def _config_load_error(e: OSError) -> str:
    """One line for a config file that did not load (config_flags defers the error)."""
    lines = [line.strip() for line in str(e.__cause__ or e).splitlines() if line.strip()]
    return f"error: --config: cannot load the config file: {lines[-1]}"


def _parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing, but a bad config file or --config.* flag is one line, no traceback."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        message = str(e)
        if "Traceback" in message:  # The config file's get_config() raised: keep its last line.
            lines = [line.strip() for line in message.splitlines() if line.strip()]
            message = f"{lines[0]} {lines[-1]}"
        sys.stderr.write(f"FATAL Flags parsing error: {message}\n")
        sys.exit("Pass --helpshort or --helpfull to see help on flags.")
    except (AttributeError, KeyError) as e:  # config_dict: KeyError wrapped in AttributeError.
        while e.args and isinstance(e.args[0], BaseException):
            e = e.args[0]
        message = e.args[0] if e.args else str(e)
        message = " ".join(str(message).split())
        sys.exit(f"error: a --config.* flag names no config field: {message}")
    except OSError as e:  # An override of a config file that did not load.
        sys.exit(_config_load_error(e))


def _config_for(mode: str, workdir: str):
    """--config when given; otherwise, outside training, the config saved in the workdir."""
    import ml_collections

    from s2s_jax.errors import ConfigError

    saved = os.path.join(workdir, "config.json")
    if mode == "train" or flags.FLAGS["config"].present or not os.path.exists(saved):
        return _CONFIG.value
    logging.info("Using the config saved in %s", saved)
    with open(saved, encoding="utf-8") as f:
        try:
            return ml_collections.ConfigDict(json.load(f))
        except json.JSONDecodeError as e:
            raise ConfigError(f"{saved} is not valid JSON ({e}); pass --config") from e


def _log_to_file(path: str) -> None:
    """Also writes the absl log to `path` (appending)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    handler = py_logging.FileHandler(path)
    handler.setFormatter(logging.PythonFormatter())
    handler.addFilter(_QuietLibraries())
    logging.get_absl_logger().addHandler(handler)


def _sweep(workdir: str) -> None:
    """--sweep or --mode=sweep_report; never starts JAX in this process."""
    from s2s_jax import sweep_devices, sweep_plan, sweep_report, sweep_runner, sweeps
    from s2s_jax.errors import UserError

    config_spec = flags.FLAGS["config"].config_filename
    try:
        sweep = sweeps.load(config_spec)
        if _MODE.value == "sweep_report":
            rows = sweep_report.write(workdir, sweep.metric, sweep.mode)
            print(sweep_report.markdown(rows, sweep.metric, sweep.mode), end="")
            logging.info("Wrote results.csv, results.md and results.png in %s", workdir)
            return
        if _MODE.value != "train":
            raise UserError(f"--sweep trains its trials; drop --mode={_MODE.value}")
        overrides = config_flags.get_override_values(flags.FLAGS["config"])
        plan = sweep_plan.make_plan(config_spec, _CONFIG.value, sweep, overrides)
        _, slot_envs = sweep_devices.slot_envs(_PLATFORM.value, _SWEEP_PARALLEL.value)
        sweep_plan.prepare(plan, workdir)
        _log_to_file(os.path.join(workdir, "sweep.log"))
        launcher = [sys.executable, os.path.abspath(__file__)]
        launcher += [f"--platform={_PLATFORM.value}"] if _PLATFORM.value else []
        sweep_runner.run(plan, workdir, launcher, slot_envs)
    except UserError as e:
        sys.exit(f"error: {e}")
    except KeyboardInterrupt as e:
        print(f"stopped: {e}", file=sys.stderr)
        sys.exit(130)


def _read_stdin_lines() -> list[str]:
    """Sentences from stdin, one per line; a clear error for bytes that are not UTF-8."""
    from s2s_jax.errors import UserError

    data = sys.stdin.buffer.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise UserError(
            f"stdin is not UTF-8: byte {data[e.start]:#04x} on line {line} "
            f"(offset {e.start}); convert the input to UTF-8"
        ) from e
    return text.splitlines()


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        _ = "seed" in _CONFIG.value  # A config file that did not load raises on first use.
    except OSError as e:
        sys.exit(_config_load_error(e))
    logging.get_absl_handler().python_handler.addFilter(_QuietLibraries())
    workdir = _WORKDIR.value or _default_workdir()
    if _SWEEP_PARALLEL.value is not None and not _SWEEP.value:
        sys.exit("error: --sweep_parallel needs --sweep")
    if _SWEEP.value or _MODE.value == "sweep_report":
        _sweep(workdir)
        return
    from s2s_jax.host_memory import keep_freed_memory

    keep_freed_memory()  # Before JAX allocates anything: reuse step buffers (host_memory.py).
    import jax

    if _PLATFORM.value:
        jax.config.update("jax_platforms", _PLATFORM.value)
        os.environ["JAX_PLATFORMS"] = _PLATFORM.value  # For processes this one starts.
    try:
        logging.info("JAX devices: %s", jax.devices())
    except RuntimeError as e:
        sys.exit(
            f"error: --platform={_PLATFORM.value}: no such device here ({str(e).splitlines()[0]})"
        )

    from s2s_jax import evaluate, train
    from s2s_jax.errors import UserError

    try:
        config = _config_for(_MODE.value, workdir)
        if _MODE.value == "train":
            _log_to_file(os.path.join(workdir, "train.log"))
            train.train_and_evaluate(config, workdir)
        elif _MODE.value == "eval":
            evaluate.run_eval(config, workdir)
        elif _MODE.value == "decode":
            for src, hyp in evaluate.translate(config, workdir, _TEXT.value):
                print(f"{src}\t{hyp}")
        elif _MODE.value == "benchmark":
            from s2s_jax import benchmark

            benchmark.run_benchmark(config, workdir)
        elif _MODE.value == "translate":
            texts = _TEXT.value if _TEXT.value is not None else _read_stdin_lines()
            for _, hyp in evaluate.translate(config, workdir, texts):
                print(hyp)
    except UserError as e:
        sys.exit(f"error: {e}")
    except KeyboardInterrupt as e:
        print(f"stopped: {e}", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    app.run(main, flags_parser=_parse_flags)
