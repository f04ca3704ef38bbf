"""What the train loop does about a NaN or an Inf in the loss or the gradients.

The jitted step flags such a step in its metric sums ('nonfinite_steps', steps.py) and,
with config.train.nonfinite='skip', has already dropped its update. The loop reads the
flag when it fetches the step's metrics (one step late, and always before it saves or
evaluates), and `Guard.check` acts on it:

- 'stop': a `NonFiniteError` naming the step; nothing after the last good checkpoint is
  saved, so the next start resumes from it (lower the learning rate or clip first).
- 'skip': a warning per skipped step, and a `NonFiniteError` once
  train.max_nonfinite_in_a_row steps in a row were skipped.
"""

from collections.abc import Callable
from typing import Any

import ml_collections
from absl import logging

from s2s_jax.errors import UserError


class NonFiniteError(UserError):
    """The loss or the gradients were not finite (NaN or Inf)."""


class Guard:
    def __init__(self, train: ml_collections.ConfigDict, last_good: Callable[[], str]):
        """`train` is config.train; `last_good()` says where the last good checkpoint is."""
        self.mode, self.limit = train.nonfinite, train.max_nonfinite_in_a_row
        self.last_good = last_good
        self.in_a_row = 0

    def check(self, step_sums: dict[str, Any], step: int) -> None:
        """Acts on one step's fetched metric sums (see the module doc)."""
        if not int(step_sums["nonfinite_steps"]):
            self.in_a_row = 0
            return
        self.in_a_row += 1
        if self.mode == "stop":
            raise NonFiniteError(
                f"the loss or the gradients of step {step} are not finite (NaN or Inf); "
                f"stopped without saving: the last good checkpoint is {self.last_good()}. "
                "Lower optim.learning_rate or set optim.grad_clip_norm, or set "
                "train.nonfinite='skip' to drop such updates"
            )
        logging.warning(
            "Step %d: the loss or the gradients are not finite; its update was dropped "
            "(%d in a row)", step, self.in_a_row,
        )  # fmt: skip
        if self.in_a_row >= self.limit:
            raise NonFiniteError(
                f"{self.in_a_row} updates in a row were not finite (the last at step {step}; "
                f"train.max_nonfinite_in_a_row={self.limit}); the last checkpoint is "
                f"{self.last_good()}"
            )
