"""Launches an s2s_jax experiment: the only file that defines flags.

    python launch.py                                   # addition, into workdirs/generated_addition
    python launch.py --config=experiments/generated.py:reverse --workdir=/tmp/rev \
        --config.model.cell=gru --config.train.num_steps=500
    python launch.py --mode=eval --workdir=/tmp/rev --config=experiments/generated.py:reverse
    python launch.py --mode=decode --workdir=/tmp/rev --config=experiments/generated.py:reverse \
        --text=abcde --text=hello
    python launch.py --config=experiments/generated.py:reverse --sweep --workdir=/tmp/sweep
    python launch.py --config=experiments/generated.py:reverse --sweep --workdir=/shared/sweep \
        --sweep_executor=slurm --slurm_partition=gpu --slurm_gpus_per_trial=1
    python launch.py --mode=sweep_report --config=experiments/generated.py:reverse \
        --workdir=/tmp/sweep
"""

import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

_HERE = os.path.dirname(os.path.abspath(__file__))
_DEFAULT_CONFIG = os.path.join(_HERE, "experiments", "generated.py")


def _unknown_field(e: AttributeError | KeyError) -> str:
    """One line for a --config.* flag that names no field (config_dict wraps the KeyError)."""
    while e.args and isinstance(e.args[0], BaseException):
        e = e.args[0]
    message = " ".join(str(e.args[0] if e.args else e).split())
    return f"error: a --config.* flag names no config field: {message}"


try:  # config_flags reads the --config.* flags here already when --config is not given.
    _CONFIG = config_flags.DEFINE_config_file(
        "config", _DEFAULT_CONFIG, "Experiment config file, optionally with ':arg'.",
        lock_config=True,
    )  # fmt: skip
except (AttributeError, KeyError) as e:
    sys.exit(f"{_unknown_field(e)} (with no --config, --config.* flags are read against the "
             f"default config file {_DEFAULT_CONFIG}; pass --config=FILE)")  # fmt: skip
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
    "gets its own accelerators); with --sweep_executor=slurm, how many jobs are submitted at "
    "a time (default: all, and SLURM queues them).",
)
_SWEEP_EXECUTOR = flags.DEFINE_enum(
    "sweep_executor",
    "local",
    ["local", "slurm"],
    "--sweep: where trials run: 'local', subprocesses of this host; 'slurm', one SLURM job "
    "per trial (submitit), with the --slurm_* flags or the sweep's Sweep.slurm.",
)
_SLURM_PARTITION = flags.DEFINE_string(
    "slurm_partition", None, "--sweep_executor=slurm: the partition (default: the cluster's)."
)
_SLURM_GPUS = flags.DEFINE_integer(
    "slurm_gpus_per_trial", None, "--sweep_executor=slurm: GPUs per trial (default 1).", 0
)
_SLURM_TIME = flags.DEFINE_integer(
    "slurm_time_min",
    None,
    "--sweep_executor=slurm: each trial's time limit in minutes (default 60). Near it the "
    "trial saves a checkpoint and stops; rerun the sweep to resume it.",
    1,
)
_SLURM_EXTRA = flags.DEFINE_multi_string(
    "slurm_extra",
    [],
    "--sweep_executor=slurm: KEY=VALUE, another sbatch parameter as submitit names it "
    "(account, qos, constraint, cpus_per_task, mem_gb, ...); repeatable.",
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

# Several processes (s2s_jax/distributed.py): the three go together; without them JAX
# detects a SLURM step of several tasks or a Cloud TPU VM, and otherwise runs one process.
_COORDINATOR_ADDRESS = flags.DEFINE_string(
    "coordinator_address",
    None,
    "Several processes: HOST:PORT of process 0, where it serves JAX's distributed runtime "
    "(any free port, the same in every process).",
)
_NUM_PROCESSES = flags.DEFINE_integer(
    "num_processes", None, "Several processes: how many take part (1: one process, no runtime)."
)
_PROCESS_ID = flags.DEFINE_integer(
    "process_id", None, "Several processes: this one's index, 0 .. num_processes-1."
)
_HEARTBEAT_TIMEOUT = flags.DEFINE_integer(
    "heartbeat_timeout_seconds",
    100,
    "Several processes: a process silent this long counts as dead, and the runtime ends the "
    "others with an error (JAX's default, 100).",
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
    except (AttributeError, KeyError) as e:
        sys.exit(_unknown_field(e))
    except OSError as e:  # An override of a config file that did not load.
        sys.exit(_config_load_error(e))


def _config_for(mode: str, workdir: str):
    """--config when given, or when training or benchmarking; otherwise (eval, decode,
    translate) the config saved in the workdir, with the --config.* flags set in it; a clear
    error if it is missing or malformed, or lacks a flag's field."""
    from s2s_jax.config_checks import saved_config, with_overrides

    if mode in ("train", "benchmark") or flags.FLAGS["config"].present:
        return _CONFIG.value
    overrides = config_flags.get_override_values(flags.FLAGS["config"])
    return with_overrides(saved_config(workdir), overrides)


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
        from s2s_jax.sweeps.executors import parse_extra

        slurm = {"partition": _SLURM_PARTITION.value, "gpus_per_trial": _SLURM_GPUS.value,
                 "time_min": _SLURM_TIME.value, **parse_extra(_SLURM_EXTRA.value)}  # fmt: skip
        sweeps.run_sweep(config_spec, _CONFIG.value, overrides, workdir, launcher,
                         _PLATFORM.value, _SWEEP_PARALLEL.value, _SWEEP_EXECUTOR.value,
                         slurm)  # fmt: skip


def _run(workdir: str) -> None:
    """Starts JAX on the chosen platform and runs --mode."""
    from s2s_jax.host_memory import keep_freed_memory

    keep_freed_memory()  # Before JAX allocates anything: reuse step buffers (host_memory.py).
    import jax

    from s2s_jax import distributed

    if _PLATFORM.value:
        jax.config.update("jax_platforms", _PLATFORM.value)
        os.environ["JAX_PLATFORMS"] = _PLATFORM.value  # For processes this one starts.
    distributed.initialize(_COORDINATOR_ADDRESS.value, _NUM_PROCESSES.value, _PROCESS_ID.value,
                           _HEARTBEAT_TIMEOUT.value)  # fmt: skip
    try:
        logging.info("JAX devices: %s; %s", jax.devices(), distributed.describe())
    except RuntimeError as e:
        sys.exit(
            f"error: --platform={_PLATFORM.value}: no such device here ({str(e).splitlines()[0]})"
        )
    from s2s_jax import evaluate, text_log, train
    from s2s_jax.data.base import decode_lines

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
            if distributed.is_writer():  # One copy of the output: process 0's.
                print(f"{src}\t{hyp}")
    elif _MODE.value == "benchmark":
        from s2s_jax.benchmark.run import run_benchmark

        run_benchmark(config, workdir)
    elif _MODE.value == "translate":
        if _TEXT.value is None:  # One sentence per line of stdin.
            texts = decode_lines(sys.stdin.buffer.read(), "stdin")
        else:
            texts = _TEXT.value
        for _, hyp in evaluate.translate(config, workdir, texts, plot_dir):
            if distributed.is_writer():
                print(hyp)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        _ = "seed" in _CONFIG.value  # A config file that did not load raises on first use.
    except OSError as e:
        sys.exit(_config_load_error(e))
    from s2s_jax import atomic_write, text_log
    from s2s_jax.errors import UserError

    text_log.quiet_libraries()
    workdir = _WORKDIR.value or _default_workdir()
    if _SWEEP_PARALLEL.value is not None and not _SWEEP.value:
        sys.exit("error: --sweep_parallel needs --sweep")
    slurm_flags = [f"--{name}" for name in flags.FLAGS if name.startswith("slurm_")
                   and flags.FLAGS[name].present]  # fmt: skip
    if slurm_flags and not (_SWEEP.value and _SWEEP_EXECUTOR.value == "slurm"):
        sys.exit(f"error: {' '.join(slurm_flags)} needs --sweep --sweep_executor=slurm")
    if flags.FLAGS["sweep_executor"].present and not _SWEEP.value:
        sys.exit("error: --sweep_executor needs --sweep")
    process_flags = [f"--{name}" for name in ("coordinator_address", "num_processes", "process_id")
                     if flags.FLAGS[name].present]  # fmt: skip
    if process_flags and (_SWEEP.value or _MODE.value == "sweep_report"):
        sys.exit(f"error: {' '.join(process_flags)}: a sweep starts each trial as a run of its "
                 "own; drop the flags of several processes")  # fmt: skip
    try:
        if _SWEEP.value or _MODE.value == "sweep_report":
            _sweep(workdir)
        else:
            _run(workdir)
    except UserError as e:
        sys.exit(f"error: {e}")
    except OSError as e:  # A full disk where no writer named its file: one line all the same.
        code = atomic_write.disk_full_code(e)
        if code is None:
            raise
        sys.exit(f"error: {atomic_write.disk_full_error(e.filename or workdir, code)}")
    except KeyboardInterrupt as e:
        _stopped(e)


def _stopped(e: KeyboardInterrupt) -> None:
    print(f"stopped: {e}", file=sys.stderr)
    sys.exit(130)


if __name__ == "__main__":
    from s2s_jax import interrupts

    try:  # A SIGTERM during start-up unwinds like Ctrl-C: exit 130.
        with interrupts.as_keyboard_interrupt():
            app.run(main, flags_parser=_parse_flags)
    except KeyboardInterrupt as e:  # While the flags (and the config file) are read.
        _stopped(e)
