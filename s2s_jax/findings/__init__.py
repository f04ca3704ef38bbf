"""The field's findings, reproduced: figures and tables drawn from a sweep's trial folders alone.

- spec.py:    `Figure`, what a findings config's `get_figure(arg)` returns; `load`.
- trials.py:  the trials of W/sweep.json, grouped into conditions (every swept field but
              the seed); their final_eval.json, metrics.jsonl and length_buckets.json.
- table.py:   mean ± std over seeds per condition, as Markdown (W/finding.md).
- figures.py: the plot (W/finding.png) and `write`.

The configs are in experiments/findings/, the command in scripts/finding_figure.py.
Importing this package starts no JAX backend.
"""

from s2s_jax.findings.spec import Figure

__all__ = ["Figure"]
