"""Copies a sweep's records, without checkpoints or logs, into a folder to commit or share.

    python scripts/keep_sweep.py --workdir=workdirs/findings/length_en_ko \
        --out=experiments/findings/runs/length_en_ko

keeps W/sweep.json, W/results.csv and .md, and each finished trial's .json and .jsonl
files (s2s_jax/sweeps/keep.py). The figure command reads OUT as it reads W; a sweep run
on a copy of OUT (cp -r OUT W) trains only the trials that were not kept.
"""

import sys

from absl import app, flags

from s2s_jax.errors import UserError
from s2s_jax.sweeps import keep

_WORKDIR = flags.DEFINE_string("workdir", None, "The sweep's workdir W.", required=True)
_OUT = flags.DEFINE_string("out", None, "The folder the records go to.", required=True)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        kept = keep.keep(_WORKDIR.value, _OUT.value)
    except UserError as e:
        sys.exit(f"error: {e}")
    print(f"kept {len(kept)} finished trials of {_WORKDIR.value} in {_OUT.value}")


if __name__ == "__main__":
    app.run(main)
