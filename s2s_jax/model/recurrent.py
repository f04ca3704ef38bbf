"""Recurrent cells, and the layer that runs them over time on one of three backends.

A cell is split in two, as cuDNN does: the input-to-hidden projection of every
time step is one matmul outside the time loop, and only the hidden-to-hidden
matmul runs inside it. The layer owns both weights (`input`, `recurrent`), so
every backend reads the same parameters and checkpoints move between them:

- 'scan': `nn.scan` over a masked cell step, differentiated by JAX. The
  reference path; `remat` wraps the step in `nn.remat`.
- 'fused': the same forward loop, its inputs prefetched (prefetch_scan.py), under
  a custom VJP (`fused_recurrence`). Its
  backward scan carries only the state gradients; the recurrent weight
  gradient is one [H, T·B] × [T·B, G] matmul after the loop, instead of T
  small ones inside it. With `remat`, the hidden projections are recomputed
  as one matmul before the backward loop instead of being stored. The input
  projection is `linear.linear`, whose weight gradient is a plain-layout matmul.
- 'cudnn': cuDNN's fused LSTM through `jax.experimental.rnn` (LSTM on CUDA
  GPUs only).

Gate layouts (G = gates x H columns):

- lstm: [i, f, g, o];  c' = σ(f)·c + σ(i)·tanh(g),  h' = σ(o)·tanh(c').  Carry (c, h).
- gru:  [r, z, n];     n = tanh(x_n + r·(W_hn h + b_hn)),  h' = (1 − z)·n + z·h.  Carry (h,).
- rnn:  [h];           h' = tanh(x_h + W_hh h).  Carry (h,).

Here x_* is the input projection W_i* x + b_i*.
"""

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from s2s_jax.model.cudnn_lstm import cudnn_lstm_layer
from s2s_jax.model.linear import dense_params, linear, weight_gradient
from s2s_jax.model.prefetch_scan import prefetch_scan

Carry = tuple[jax.Array, ...]  # Each of shape [B, H]; the last one is h.
Weights = tuple[jax.Array, jax.Array | None]  # Recurrent kernel_HxG, and bias_G (GRU only).

CELLS = ("lstm", "gru", "rnn")
BACKENDS = ("scan", "fused", "cudnn")
NUM_GATES = {"lstm": 4, "gru": 3, "rnn": 1}
CARRY_SIZE = {"lstm": 2, "gru": 1, "rnn": 1}
_SUMMED = ("lstm", "rnn")  # Cells whose gates see xproj + hproj, so d xproj = d hproj.


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


def hidden_projection(weights: Weights, h_xH: jax.Array) -> jax.Array:
    """W_hh·h (+ b_hn for the GRU), for h of any leading shape."""
    kernel_HxG, bias_G = weights
    hproj = h_xH @ kernel_HxG.astype(h_xH.dtype)
    return hproj if bias_G is None else hproj + bias_G.astype(h_xH.dtype)


def masked_step(
    cell: str, weights: Weights, carry: Carry, xproj_BxG: jax.Array, mask_B: jax.Array
) -> tuple[Carry, jax.Array]:
    """One time step that holds the carry where mask_B is False; returns (carry, hproj_BxG)."""
    hproj_BxG = hidden_projection(weights, carry[-1])
    return hold(mask_B, cell_update(cell, carry, xproj_BxG, hproj_BxG), carry), hproj_BxG


def hold(mask_B: jax.Array, new: Carry, old: Carry) -> Carry:
    """The new carry where mask_B is True, the old one where it is False."""
    return tuple(jnp.where(mask_B[:, None], n, o) for n, o in zip(new, old, strict=True))


def _forward_scan(cell, weights, carry0, xproj_TxBxG, mask_TxB, unroll, keep_hproj):
    def step(carry, inputs):
        carry, hproj_BxG = masked_step(cell, weights, carry, *inputs)
        return carry, (carry, hproj_BxG if keep_hproj else None)

    return prefetch_scan(step, carry0, (xproj_TxBxG, mask_TxB), unroll=unroll)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2))
def fused_recurrence(
    cell: str,
    unroll: int,
    remat: bool,
    weights: Weights,
    carry0: Carry,
    xproj_TxBxG: jax.Array,
    mask_TxB: jax.Array,
) -> tuple[Carry, jax.Array]:
    """Runs `masked_step` over time; returns (final carry, h_TxBxH). See the module doc."""
    carry, (carries, _) = _forward_scan(
        cell, weights, carry0, xproj_TxBxG, mask_TxB, unroll, keep_hproj=False
    )
    return carry, carries[-1]


def _fused_fwd(cell, unroll, remat, weights, carry0, xproj_TxBxG, mask_TxB):
    carry, (carries, hproj_TxBxG) = _forward_scan(
        cell, weights, carry0, xproj_TxBxG, mask_TxB, unroll, keep_hproj=not remat
    )
    return (carry, carries[-1]), (weights, carry0, carries, hproj_TxBxG, xproj_TxBxG, mask_TxB)


def _fused_bwd(cell, unroll, remat, residuals, cotangents):
    weights, carry0, carries, hproj_TxBxG, xproj_TxBxG, mask_TxB = residuals
    dcarry_T, dh_TxBxH = cotangents
    # carry_{t-1} for every t: the initial carry, then all but the last.
    prev = tuple(
        jnp.concatenate([c0[None], cs[:-1]]) for c0, cs in zip(carry0, carries, strict=True)
    )
    if hproj_TxBxG is None:  # remat: one large matmul instead of T stored projections.
        hproj_TxBxG = hidden_projection(weights, prev[-1])
    kernel_HxG = weights[0].astype(dh_TxBxH.dtype)

    def step(dcarry, inputs):
        prev_carry, xproj_BxG, hproj_BxG, mask_B, dh_BxH = inputs
        dcarry = (*dcarry[:-1], dcarry[-1] + dh_BxH)
        keep_Bx1 = mask_B[:, None]
        dnew = tuple(jnp.where(keep_Bx1, d, 0) for d in dcarry)
        _, vjp = jax.vjp(functools.partial(cell_update, cell), prev_carry, xproj_BxG, hproj_BxG)
        dprev, dxproj_BxG, dhproj_BxG = vjp(dnew)
        dprev = tuple(p + jnp.where(keep_Bx1, 0, d) for p, d in zip(dprev, dcarry, strict=True))
        dprev = (*dprev[:-1], dprev[-1] + dhproj_BxG @ kernel_HxG.T)
        # LSTM and RNN add both projections, so their gradients are one array.
        return dprev, (None if cell in _SUMMED else dxproj_BxG, dhproj_BxG)

    dcarry0, (dxproj_TxBxG, dhproj_TxBxG) = jax.lax.scan(
        step,
        dcarry_T,
        (prev, xproj_TxBxG, hproj_TxBxG, mask_TxB, dh_TxBxH),
        reverse=True,
        unroll=unroll,
    )
    kernel, bias = weights
    dkernel = weight_gradient(prev[-1], dhproj_TxBxG, kernel.dtype)
    dbias = None if bias is None else dhproj_TxBxG.sum((0, 1)).astype(bias.dtype)
    if cell in _SUMMED:
        dxproj_TxBxG = dhproj_TxBxG
    return (dkernel, dbias), dcarry0, dxproj_TxBxG, None


fused_recurrence.defvjp(_fused_fwd, _fused_bwd)


class LayerWeights(nn.Module):
    """A kernel (and optional bias) under this module's name, as nn.Dense would store them."""

    shape: tuple[int, int]
    use_bias: bool
    kernel_init: Any
    param_dtype: Any

    @nn.compact
    def __call__(self) -> Weights:
        return dense_params(self, self.shape, self.use_bias, self.kernel_init, self.param_dtype)


class _ScanStep(nn.Module):
    """Scan body of the 'scan' backend: a masked cell step, then output dropout.

    Dropout here is per time step, so the scan must split the 'dropout' RNG (a
    frozen mask would be a bug).
    """

    cell: str
    dropout_rate: float
    deterministic: bool

    @nn.compact
    def __call__(self, carry: Carry, inputs: tuple[jax.Array, jax.Array], weights: Weights):
        carry, _ = masked_step(self.cell, weights, carry, *inputs)
        y_BxH = nn.Dropout(self.dropout_rate)(carry[-1], deterministic=self.deterministic)
        return carry, y_BxH


class RecurrentLayer(nn.Module):
    """One recurrent layer over a whole sequence.

    Attributes:
      cell: 'lstm', 'gru' or 'rnn'.
      hidden_size: H.
      dropout_rate: dropout on the layer's outputs (not on the recurrence).
      deterministic: disables dropout; a value passed to the call overrides it.
      unroll: time steps per loop iteration ('scan' and 'fused').
      remat: trade compute for memory in the backward pass (see the module doc).
      backend: 'scan', 'fused' or 'cudnn' (see the module doc).
    """

    cell: str
    hidden_size: int
    dropout_rate: float = 0.0
    deterministic: bool = True
    unroll: int = 1
    remat: bool = False
    backend: str = "scan"
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(
        self,
        carry: Carry,
        x_BxTxD: jax.Array,
        mask_BxT: jax.Array,
        deterministic: bool | None = None,
    ) -> tuple[Carry, jax.Array]:
        """Returns the carry after the last True mask position, and y_BxTxH."""
        if deterministic is None:
            deterministic = self.deterministic
        G, D = NUM_GATES[self.cell] * self.hidden_size, x_BxTxD.shape[-1]
        w_in = LayerWeights(
            (D, G), True, nn.initializers.lecun_normal(), self.param_dtype, name="input"
        )()
        weights = LayerWeights(
            (self.hidden_size, G),
            self.cell == "gru",  # GRU's b_hn sits inside r·(...); others need no 2nd bias.
            nn.initializers.orthogonal(),
            self.param_dtype,
            name="recurrent",
        )()
        carry = tuple(c.astype(self.dtype) for c in carry)
        if self.backend == "cudnn":
            carry, y_BxTxH = cudnn_lstm_layer(w_in, weights, carry, x_BxTxD, mask_BxT)
        else:
            kernel_DxG, bias_G = (w.astype(self.dtype) for w in w_in)
            x_BxTxD = x_BxTxD.astype(self.dtype)
            if self.backend == "scan":
                xproj_BxTxG = x_BxTxD @ kernel_DxG + bias_G
                return self._scan(weights, carry, xproj_BxTxG, mask_BxT, deterministic)
            if x_BxTxD.shape[1] == 1 and self.cell in _SUMMED:  # One step, as in decoding.
                return self._one_step(weights, (kernel_DxG, bias_G), carry, x_BxTxD, mask_BxT)
            xproj_TxBxG = linear(x_BxTxD.swapaxes(0, 1), kernel_DxG, bias_G)  # Small side moved.
            carry, y_TxBxH = fused_recurrence(
                self.cell, self.unroll, self.remat, weights, carry, xproj_TxBxG, mask_BxT.T
            )
            y_BxTxH = y_TxBxH.swapaxes(0, 1)
        y_BxTxH = nn.Dropout(self.dropout_rate)(y_BxTxH, deterministic=deterministic)
        return carry, y_BxTxH

    def _one_step(self, weights, input_weights, carry, x_Bx1xD, mask_Bx1):
        """A single time step with both projections as one matmul, [x; h]·[W_in; W_hh] + b:
        one larger matmul instead of two small ones (LSTM and RNN, whose gates add them)."""
        kernel_DxG, bias_G = input_weights
        kernel_KxG = jnp.concatenate([kernel_DxG, weights[0].astype(kernel_DxG.dtype)])
        gates_BxG = jnp.concatenate([x_Bx1xD[:, 0], carry[-1]], axis=-1) @ kernel_KxG + bias_G
        new = cell_update(self.cell, carry, gates_BxG, jnp.zeros((), gates_BxG.dtype))
        carry = hold(mask_Bx1[:, 0], new, carry)
        return carry, carry[-1][:, None]

    def _scan(self, weights, carry, xproj_BxTxG, mask_BxT, deterministic):
        scan = nn.scan(
            nn.remat(_ScanStep) if self.remat else _ScanStep,
            variable_broadcast="params",
            split_rngs={"params": False, "dropout": True},
            in_axes=(1, nn.broadcast),
            out_axes=1,
            unroll=self.unroll,
        )
        step = scan(self.cell, self.dropout_rate, deterministic, name="scan")
        return step(carry, (xproj_BxTxG, mask_BxT), weights)
