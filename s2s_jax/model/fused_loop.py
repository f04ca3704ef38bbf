"""A loop over time whose weight gradients come after it: the 'fused' treatment for any step.

A step function reads each large weight through a matmul *site*: `sites(name, x_BxI)`
is x·W_name (+ b_name). Three kinds of sites serve the same step function:

- `MatmulSites`: the matmul. Under `jax.lax.scan` and JAX's autodiff this is the
  reference path, whose backward loop does T small weight-gradient matmuls per weight.
- recording (the forward of `fused_loop`): the matmul, keeping x and y of every step;
- replay (the backward of `fused_loop`): y read back from the forward, so a step's
  elementwise glue (cell, softmax, tanh) is recomputed but none of its matmuls is; the
  site's VJP gives dx = dy·Wᵀ and hands dy out.

So the backward loop carries only the state's gradient (and that of the small
constants), and after it each site's weight gradient is one matmul over all T·B rows,
dW = Σ_t x_tᵀ·dy_t, as the fused recurrent layer does (recurrent.py).

A site's kernel may also be one per example, [B, I, O] (the attention memory, read by
every step: scores q·K_b, context a·V_b). Its gradient is then one batched matmul after
the loop, dK_b = Σ_t x_tbᵀ·dy_tb, and the backward loop neither recomputes its products
nor adds a [B, I, O] gradient at every step.

A step is `step(sites, consts, aux, state, x, t) -> (state, out)`: `consts` (float
arrays, e.g. a small weight or additive attention's keys) are differentiated, `aux` (e.g. a
mask or an RNG key) is not, `x` is the step's slice of `xs` and `t` its index.
"""

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from s2s_jax.model.linear import weight_gradient

# name: (kernel, bias_O): kernel_IxO shared by the batch, or kernel_BxIxO one per example.
SiteWeights = dict[str, tuple[jax.Array, jax.Array | None]]
Step = Callable[..., tuple[Any, Any]]


class MatmulSites:
    """Sites that multiply: x·W + b."""

    def __init__(self, weights: SiteWeights):
        self.weights = weights

    def __call__(self, name: str, x_BxI: jax.Array) -> jax.Array:
        kernel, bias = self.weights[name]
        y_BxO = _matmul(x_BxI, kernel.astype(x_BxI.dtype))
        return y_BxO if bias is None else y_BxO + bias.astype(x_BxI.dtype)


def _matmul(x_BxI: jax.Array, kernel: jax.Array) -> jax.Array:
    """x·W, with kernel_IxO or one kernel_BxIxO per example."""
    return x_BxI @ kernel if kernel.ndim == 2 else jnp.einsum("bi,bio->bo", x_BxI, kernel)


class _RecordingSites(MatmulSites):
    """Multiply, and keep each site's input and output."""

    def __init__(self, weights: SiteWeights):
        super().__init__(weights)
        self.inputs: dict[str, jax.Array] = {}
        self.outputs: dict[str, jax.Array] = {}

    def __call__(self, name: str, x_BxI: jax.Array) -> jax.Array:
        self.inputs[name] = x_BxI
        self.outputs[name] = y_BxO = super().__call__(name, x_BxI)
        return y_BxO


@jax.custom_vjp
def _replayed(x_BxI: jax.Array, kernel: jax.Array, y_BxO: jax.Array) -> jax.Array:
    """y, computed before; differentiates as x·W (+ b) would, but to x and to y itself."""
    del x_BxI, kernel
    return y_BxO


def _replayed_fwd(x_BxI, kernel, y_BxO):
    return y_BxO, kernel


def _replayed_bwd(residuals, dy_BxO):
    kernel = residuals.astype(dy_BxO.dtype)  # y = x·W in x's dtype, so dy is in x's too.
    if kernel.ndim == 2:
        return dy_BxO @ kernel.T, None, dy_BxO
    return jnp.einsum("bo,bio->bi", dy_BxO, kernel), None, dy_BxO


_replayed.defvjp(_replayed_fwd, _replayed_bwd)


class _ReplaySites:
    """The forward's outputs, read back; each site's dy comes out as the gradient of `ys`."""

    def __init__(self, weights: SiteWeights, ys: dict[str, jax.Array]):
        self.weights, self.ys = weights, ys

    def __call__(self, name: str, x_BxI: jax.Array) -> jax.Array:
        return _replayed(x_BxI, self.weights[name][0], self.ys[name])


def scan_loop(
    step: Step, unroll: int, weights: SiteWeights, consts: Any, aux: Any, state0: Any, xs: Any
) -> tuple[Any, Any]:
    """The reference: `lax.scan` of `step` with `MatmulSites`; returns (state, outs_T)."""

    def body(state, x_t):
        x, t = x_t
        return step(MatmulSites(weights), consts, aux, state, x, t)

    return jax.lax.scan(body, state0, (xs, _steps(xs)), unroll=unroll)


def _steps(xs: Any) -> jax.Array:
    return jnp.arange(jax.tree.leaves(xs)[0].shape[0])


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def fused_loop(
    step: Step, unroll: int, weights: SiteWeights, consts: Any, aux: Any, state0: Any, xs: Any
) -> tuple[Any, Any]:
    """Equals `scan_loop` in value and gradient; see the module doc for how it differs."""
    return scan_loop(step, unroll, weights, consts, aux, state0, xs)


def _fused_fwd(step, unroll, weights, consts, aux, state0, xs):
    def body(state, x_t):
        x, t = x_t
        sites = _RecordingSites(weights)
        new_state, out = step(sites, consts, aux, state, x, t)
        return new_state, (out, state, sites.inputs, sites.outputs)

    state, (outs, states, inputs, outputs) = jax.lax.scan(
        body, state0, (xs, _steps(xs)), unroll=unroll
    )
    return (state, outs), (weights, consts, aux, xs, states, inputs, outputs)


def _fused_bwd(step, unroll, residuals, cotangents):
    weights, consts, aux, xs, states, inputs, outputs = residuals
    dstate, douts = cotangents

    def body(carry, per_step):
        dstate, dconsts = carry
        state, x, ys, dout, t = per_step

        def replay(state, consts, x, ys):
            return step(_ReplaySites(weights, ys), consts, aux, state, x, t)

        _, vjp = jax.vjp(replay, state, consts, x, ys)
        dstate, dconsts_t, dx, dys = vjp((dstate, dout))
        return (dstate, jax.tree.map(jnp.add, dconsts, dconsts_t)), (dx, dys)

    zeros = jax.tree.map(jnp.zeros_like, consts)
    (dstate0, dconsts), (dxs, dys) = jax.lax.scan(
        body, (dstate, zeros), (states, xs, outputs, douts, _steps(xs)), reverse=True,
        unroll=unroll,
    )  # fmt: skip
    dweights = {}
    for name, (kernel, bias) in weights.items():
        if kernel.ndim == 3:  # One kernel per example: Σ_t x_tbᵀ·dy_tb, batched over b.
            dkernel = jnp.einsum("tbi,tbo->bio", inputs[name], dys[name],
                                 preferred_element_type=kernel.dtype)  # fmt: skip
            dweights[name] = (dkernel, None)
            continue
        dy_NxO = dys[name].reshape(-1, kernel.shape[1])
        dkernel = weight_gradient(inputs[name], dy_NxO, kernel.dtype)
        dbias = None if bias is None else dy_NxO.sum(0).astype(bias.dtype)
        dweights[name] = (dkernel, dbias)
    return dweights, dconsts, None, dstate0, dxs


fused_loop.defvjp(_fused_fwd, _fused_bwd)
