"""The field's findings, reproduced: one config per finding, with `get_config`, `get_sweep`
and `get_figure` (see README.md here)."""
