"""s2s_jax: recurrent sequence-to-sequence models in JAX and Flax.

Rooms: `model` (the network), `decoding` (greedy and beam search), `data` (datasets),
`sweeps` and `benchmark`; around a core of `experiment` (the one place that jits),
`steps`, `train`, `evaluate` and `checkpointing`. `launch.py` is the only file with flags.
"""
