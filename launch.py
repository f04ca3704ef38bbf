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

_PLOT_ATTENTION = flags.DEFINE_string(
    "plot_attention",
    None,
    "translate/decode: also write one PNG per sentence into this folder, the attention "
    "weights of its decode (target pieces x source pieces). Needs an attention decoder "
    "(config.model.decoder=bahdanau or luong).",
)


def _default_workdir() -> str:
    path, _, arg = flags.FLAGS["config"].config_filename.partition(":")
    name = os.path.splitext(os.path.basename(path))[0] + (f"_{arg}" if arg else "")
    sweep = _SWEEP.value or _MODE.value == "sweep_report"
    return os.path.join("workdirs", name + ("_sweep" if sweep else ""))


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
    from s2s_jax.config_checks import saved_config

    saved = None if mode == "train" or flags.FLAGS["config"].present else saved_config(workdir)
    return _CONFIG.value if saved is None else saved


def _sweep(workdir: str) -> None:
    """--sweep or --mode=sweep_report; never starts JAX in this process."""
    from s2s_jax import sweeps

    config_spec = flags.FLAGS["config"].config_filename
    if _MODE.value == "sweep_report":
        print(sweeps.write_report(config_spec, workdir), end="")
    elif _MODE.value != "train":
        sys.exit(f"error: --sweep trains its trials; drop --mode={_MODE.value}")
    else:
        launcher = [sys.executable, os.path.abspath(__file__)]
        launcher += [f"--platform={_PLATFORM.value}"] if _PLATFORM.value else []
        overrides = config_flags.get_override_values(flags.FLAGS["config"])
        sweeps.run_sweep(config_spec, _CONFIG.value, overrides, workdir, launcher,
                         _PLATFORM.value, _SWEEP_PARALLEL.value)  # fmt: skip


def _run(workdir: str) -> None:
    """Starts JAX on the chosen platform and runs --mode."""
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
    from s2s_jax import evaluate, text_log, train
    from s2s_jax.data.base import decode_utf8

    config = _config_for(_MODE.value, workdir)
    plot_dir = _PLOT_ATTENTION.value
    if plot_dir is not None:
        from s2s_jax.model.attention import ATTENTION_DECODERS

        if _MODE.value not in ("translate", "decode"):
            sys.exit(f"error: --plot_attention needs --mode=translate or decode, not {_MODE.value}")
        if config.model.decoder not in ATTENTION_DECODERS:
            sys.exit(
                f"error: --plot_attention needs an attention decoder, but config.model.decoder is "
                f"{config.model.decoder!r} (no attention); use 'bahdanau' or 'luong'"
            )
    if _MODE.value == "train":
        text_log.log_to_file(os.path.join(workdir, "train.log"))
        train.train_and_evaluate(config, workdir)
    elif _MODE.value == "eval":
        evaluate.run_eval(config, workdir)
    elif _MODE.value == "decode":
        for src, hyp in evaluate.translate(config, workdir, _TEXT.value, plot_dir):
            print(f"{src}\t{hyp}")
    elif _MODE.value == "benchmark":
        from s2s_jax.benchmark.run import run_benchmark

        run_benchmark(config, workdir)
    elif _MODE.value == "translate":
        if _TEXT.value is None:  # One sentence per line of stdin.
            texts = decode_utf8(sys.stdin.buffer.read(), "stdin").splitlines()
        else:
            texts = _TEXT.value
        for _, hyp in evaluate.translate(config, workdir, texts, plot_dir):
            print(hyp)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        _ = "seed" in _CONFIG.value  # A config file that did not load raises on first use.
    except OSError as e:
        sys.exit(_config_load_error(e))
    from s2s_jax import text_log
    from s2s_jax.errors import UserError

    text_log.quiet_libraries()
    workdir = _WORKDIR.value or _default_workdir()
    if _SWEEP_PARALLEL.value is not None and not _SWEEP.value:
        sys.exit("error: --sweep_parallel needs --sweep")
    try:
        if _SWEEP.value or _MODE.value == "sweep_report":
            _sweep(workdir)
        else:
            _run(workdir)
    except UserError as e:
        sys.exit(f"error: {e}")
    except KeyboardInterrupt as e:
        print(f"stopped: {e}", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    app.run(main, flags_parser=_parse_flags)
