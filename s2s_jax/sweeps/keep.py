"""A sweep's records without its checkpoints: what to commit, share, or resume from elsewhere.

`keep(W, OUT)` copies W/sweep.json, W/results.csv and W/results.md, and from each finished
trial (an 'ok' status.json and final_eval.json) every .json and .jsonl file at the top of
its folder: overrides, status, config, final_eval, metrics, length_buckets, beam_grid.
Checkpoints, TensorBoard events, hypotheses and logs stay behind; a trial is a few kilobytes.

OUT is itself a sweep workdir. The findings' figure command reads it as it reads W, and a
sweep run on a copy of it trains only the trials that were not kept.
"""

import os

from s2s_jax import atomic_write
from s2s_jax.errors import UserError
from s2s_jax.sweeps import files, runner

_SWEEP_RECORDS = (files.SWEEP, "results.csv", "results.md")
_TRIAL_RECORDS = (".json", ".jsonl")  # How the names of a trial's record files end.


def _copy(source: str, target: str) -> None:
    with open(source, "rb") as f:
        atomic_write.write_bytes(target, f.read())


def keep(workdir: str, out: str) -> list[str]:
    """Copies the records of `workdir`'s sweep and finished trials into `out`.

    Returns the names of the trials kept. Raises UserError if `workdir` holds no
    sweep, if `out` is `workdir`, or if `out` already holds another sweep's records.
    """
    sweep_path = os.path.join(workdir, files.SWEEP)
    sweep = files.read_json(sweep_path)
    if sweep is None:
        raise UserError(f"{sweep_path} is missing: {workdir} holds no sweep to keep")
    if os.path.abspath(out) == os.path.abspath(workdir):
        raise UserError(f"{out} is the sweep's own workdir: keep into another folder")
    kept_sweep = files.read_json(os.path.join(out, files.SWEEP))
    if kept_sweep is not None and kept_sweep != sweep:
        raise UserError(
            f"{os.path.join(out, files.SWEEP)} records another sweep than {sweep_path}; "
            "keep into another folder"
        )
    os.makedirs(out, exist_ok=True)
    for name in _SWEEP_RECORDS:
        if os.path.isfile(path := os.path.join(workdir, name)):
            _copy(path, os.path.join(out, name))
    kept = []
    for name in sweep["trials"]:
        trial_dir = os.path.join(workdir, name)
        if not runner.is_finished(trial_dir):
            continue
        os.makedirs(os.path.join(out, name), exist_ok=True)
        for entry in sorted(os.listdir(trial_dir)):
            path = os.path.join(trial_dir, entry)
            if entry.endswith(_TRIAL_RECORDS) and os.path.isfile(path):
                _copy(path, os.path.join(out, name, entry))
        kept.append(name)
    return kept
