"""Hyperparameter sweeps: declared beside the experiment config, run as one process per trial.

- spec.py:    what `get_sweep(arg)` returns (`Sweep`) and the helpers that build
              trials (`product`, `zipped`, `random_search`); trial names.
- plan.py:    the trials checked against the config and against the workdir.
- runner.py:  trials as `launch.py` processes; `run_sweep` and `write_report`.
- executors.py: where they run: subprocesses of this host, or SLURM jobs (submitit).
- devices.py: the accelerators each running trial may use.
- files.py:   the workdir's files; report.py: results table and plot.
- keep.py:    the records of a sweep without its checkpoints, to commit or resume from.

Importing this package starts no JAX backend.
"""

from s2s_jax.sweeps.runner import run_sweep, write_report
from s2s_jax.sweeps.spec import (
    Choice,
    LogUniform,
    Sweep,
    Uniform,
    choice,
    log_uniform,
    product,
    random_search,
    uniform,
    zipped,
)

__all__ = [
    "Choice",
    "LogUniform",
    "Sweep",
    "Uniform",
    "choice",
    "log_uniform",
    "product",
    "random_search",
    "run_sweep",
    "uniform",
    "write_report",
    "zipped",
]
