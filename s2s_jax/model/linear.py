"""y = x·W + b with a backward pass whose matmuls have plain operand layouts.

Differentiated by JAX, the weight gradient xᵀ·g is a dot contracting the
leading (token) axis of both operands, and XLA is free to pick their layouts.
On CPU it transposes g (for the output layer, a [V, N] copy of the whole
[N, V] logits gradient) and runs the dot at about half the machine's matmul
rate. Here the backward pass transposes the small side, x, into a row-major
[D, N] array, so that dW is a plain [D, N] × [N, F] matmul; dx = g·Wᵀ as
before. The values are those of plain differentiation (tests/test_linear.py).

Used by the output layer and by the 'fused' backend's input projection. The
'fused' backends' recurrent and per-step kernels take their gradients the same
way after their loops (`weight_gradient`): for the [512, 512]·[512, 2048]
recurrent kernel gradient alone, 7.8 ms against 11.1 ms as a dot contracting the
leading axes (2 CPU cores).
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


@jax.custom_vjp
def linear(x_xD: jax.Array, kernel_DxF: jax.Array, bias_F: jax.Array) -> jax.Array:
    """x·W + b over the last axis of x (any leading shape)."""
    return x_xD @ kernel_DxF + bias_F


def _linear_fwd(x_xD, kernel_DxF, bias_F):
    return linear(x_xD, kernel_DxF, bias_F), (x_xD, kernel_DxF)


def _linear_bwd(residuals, g_xF):
    x_xD, kernel_DxF = residuals
    dx_xD = g_xF @ kernel_DxF.T
    dbias_F = g_xF.reshape(-1, kernel_DxF.shape[1]).sum(0)
    return dx_xD, weight_gradient(x_xD, g_xF, kernel_DxF.dtype), dbias_F


def weight_gradient(x_xD: jax.Array, g_xF: jax.Array, dtype: jnp.dtype) -> jax.Array:
    """xᵀ·g summed over all leading axes, [D, F] in `dtype`: the gradient of W in x·W, as a
    plain [D, N]·[N, F] matmul (the module doc). Also the 'fused' backends' weight gradients."""
    # The barrier keeps XLA from folding the transpose back into the dot.
    xT_DxN = jax.lax.optimization_barrier(x_xD.reshape(-1, x_xD.shape[-1]).T)
    return jax.lax.dot(xT_DxN, g_xF.reshape(-1, g_xF.shape[-1]), preferred_element_type=dtype)


linear.defvjp(_linear_fwd, _linear_bwd)


class Dense(nn.Module):
    """nn.Dense's parameters (`kernel` [D, F], `bias` [F]) and math, computed by `linear`."""

    features: int
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x_xD: jax.Array) -> jax.Array:
        shape = (x_xD.shape[-1], self.features)
        params = dense_params(self, shape, True, nn.initializers.lecun_normal(), self.param_dtype)
        kernel, bias = (p.astype(self.dtype) for p in params)
        return linear(x_xD.astype(self.dtype), kernel, bias)


def dense_params(
    module: nn.Module,
    shape: tuple[int, int],
    use_bias: bool,
    kernel_init: Any,
    param_dtype: Any,
) -> tuple[jax.Array, jax.Array | None]:
    """`kernel` [D, F] and, with use_bias, `bias` [F] (zeros at init) of `module`, named and
    laid out as nn.Dense's, so checkpoints read the same. Call from a compact method."""
    kernel = module.param("kernel", kernel_init, shape, param_dtype)
    if not use_bias:
        return kernel, None
    return kernel, module.param("bias", nn.initializers.zeros_init(), shape[1:], param_dtype)
