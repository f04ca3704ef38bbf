"""Draws a finding's figure and table from its sweep's trial folders alone.

    python scripts/finding_figure.py --workdir=workdirs/findings/reversal_generated

writes W/finding.png and W/finding.md (and prints the table). What is drawn comes
from the findings config's `get_figure(arg)` (experiments/findings/*.py): by default
the config that W/sweep.json names ('reversal.py:generated' ->
experiments/findings/reversal.py:generated); --config names another. A trial of
W/sweep.json without final_eval.json stops it with an error naming the trial.
"""

import os
import sys

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # The experiments package, imported by the findings configs.

from s2s_jax.errors import UserError  # noqa: E402
from s2s_jax.findings import figures, spec  # noqa: E402
from s2s_jax.sweeps import files  # noqa: E402

_WORKDIR = flags.DEFINE_string("workdir", None, "The finding's sweep workdir W.", required=True)
_CONFIG = flags.DEFINE_string(
    "config",
    None,
    "The findings config and variant, e.g. experiments/findings/length.py:en_ko; "
    "default: the one W/sweep.json names, under experiments/findings/.",
)


def config_spec(workdir: str, given: str | None) -> str:
    """--config, checked against W/sweep.json's experiment; or the one it names."""
    sweep_path = os.path.join(workdir, files.SWEEP)
    sweep = files.read_json(sweep_path)
    if sweep is None:
        raise UserError(f"{sweep_path} is missing: run the finding's sweep first (--sweep)")
    experiment = sweep["experiment"]  # 'reversal.py:generated'
    if given is None:
        name, colon, arg = experiment.partition(":")
        return os.path.join(ROOT, "experiments", "findings", name) + colon + arg
    path, colon, arg = given.partition(":")
    if os.path.basename(path) + colon + arg != experiment:
        raise UserError(f"--config={given} is not the sweep of {workdir}, which ran {experiment!r}")
    return given


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        figure = spec.load(config_spec(_WORKDIR.value, _CONFIG.value))
        print(figures.write(_WORKDIR.value, figure), end="")
    except UserError as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    app.run(main)
