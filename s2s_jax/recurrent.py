"""Recurrent cells and the `nn.scan` layer that runs them over time.

A cell is split in two, as cuDNN does: the input-to-hidden projection of every
time step is one matmul outside the scan (`RecurrentLayer`), and only the
hidden-to-hidden matmul runs inside it (`RecurrentCell`). The decoder's
teacher-forced training path and its one-token decoding step both go through
`RecurrentLayer`, so they run the same cell code.

Gate layouts (G = gates x H columns):

- lstm: [i, f, g, o];  c' = σ(f)·c + σ(i)·tanh(g),  h' = σ(o)·tanh(c').  Carry (c, h).
- gru:  [r, z, n];     n = tanh(x_n + r·(W_hn h + b_hn)),  h' = (1 − z)·n + z·h.  Carry (h,).
- rnn:  [h];           h' = tanh(x_h + W_hh h).  Carry (h,).

Here x_* is the input projection W_i* x + b_i*.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

Carry = tuple[jax.Array, ...]  # Each of shape [B, H]; the last one is h.

CELLS = ("lstm", "gru", "rnn")
NUM_GATES = {"lstm": 4, "gru": 3, "rnn": 1}
CARRY_SIZE = {"lstm": 2, "gru": 1, "rnn": 1}


def cell_update(cell: str, carry: Carry, xproj_BxG: jax.Array, hproj_BxG: jax.Array) -> Carry:
    """The cell equations, given both projections of the current step."""
    if cell == "lstm":
        c, _ = carry
        i, f, g, o = jnp.split(xproj_BxG + hproj_BxG, 4, axis=-1)
        c = nn.sigmoid(f) * c + nn.sigmoid(i) * jnp.tanh(g)
        return c, nn.sigmoid(o) * jnp.tanh(c)
    if cell == "gru":
        (h,) = carry
        xr, xz, xn = jnp.split(xproj_BxG, 3, axis=-1)
        hr, hz, hn = jnp.split(hproj_BxG, 3, axis=-1)
        r, z = nn.sigmoid(xr + hr), nn.sigmoid(xz + hz)
        n = jnp.tanh(xn + r * hn)
        return ((1.0 - z) * n + z * h,)
    if cell == "rnn":
        return (jnp.tanh(xproj_BxG + hproj_BxG),)
    raise ValueError(f"unknown cell {cell!r}; expected one of {CELLS}")


class RecurrentCell(nn.Module):
    """One time step: carry_{t-1}, projected input x_t -> carry_t."""

    cell: str
    hidden_size: int
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, carry: Carry, xproj_BxG: jax.Array) -> Carry:
        hproj_BxG = nn.Dense(
            NUM_GATES[self.cell] * self.hidden_size,
            use_bias=self.cell == "gru",  # GRU's b_hn sits inside r·(...); others need no 2nd bias.
            kernel_init=nn.initializers.orthogonal(),
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            name="recurrent",
        )(carry[-1])
        return cell_update(self.cell, carry, xproj_BxG, hproj_BxG)


class _MaskedStep(nn.Module):
    """Scan body: a cell step that holds its carry where mask is False.

    Emits the new h through dropout. Dropout here is per time step, so the
    scan must split the 'dropout' RNG (a frozen mask would be a bug).
    """

    cell: str
    hidden_size: int
    dropout_rate: float
    deterministic: bool
    dtype: Any
    param_dtype: Any

    @nn.compact
    def __call__(self, carry: Carry, inputs: tuple[jax.Array, jax.Array]):
        xproj_BxG, mask_B = inputs
        new = RecurrentCell(self.cell, self.hidden_size, self.dtype, self.param_dtype, name="cell")(
            carry, xproj_BxG
        )
        carry = tuple(jnp.where(mask_B[:, None], n, o) for n, o in zip(new, carry, strict=True))
        y_BxH = nn.Dropout(self.dropout_rate)(carry[-1], deterministic=self.deterministic)
        return carry, y_BxH


class RecurrentLayer(nn.Module):
    """One recurrent layer over a whole sequence.

    Attributes:
      cell: 'lstm', 'gru' or 'rnn'.
      hidden_size: H.
      dropout_rate: dropout on the layer's outputs (not on the recurrence).
      deterministic: disables dropout.
      unroll: time steps per scan iteration.
      remat: recompute each step's activations in the backward pass instead of
        storing them (`nn.remat` on the scan body): less memory, more compute.
    """

    cell: str
    hidden_size: int
    dropout_rate: float = 0.0
    deterministic: bool = True
    unroll: int = 1
    remat: bool = False
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(
        self, carry: Carry, x_BxTxD: jax.Array, mask_BxT: jax.Array
    ) -> tuple[Carry, jax.Array]:
        """Returns the carry after the last True mask position, and y_BxTxH."""
        xproj_BxTxG = nn.Dense(
            NUM_GATES[self.cell] * self.hidden_size,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            name="input",
        )(x_BxTxD)
        scan = nn.scan(
            nn.remat(_MaskedStep) if self.remat else _MaskedStep,
            variable_broadcast="params",
            split_rngs={"params": False, "dropout": True},
            in_axes=1,
            out_axes=1,
            unroll=self.unroll,
        )
        step = scan(
            self.cell,
            self.hidden_size,
            self.dropout_rate,
            self.deterministic,
            self.dtype,
            self.param_dtype,
            name="scan",
        )
        carry = tuple(c.astype(self.dtype) for c in carry)
        return step(carry, (xproj_BxTxG, mask_BxT))
