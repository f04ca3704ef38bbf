"""The fastest a train step could be with this device's own kernels: its matmuls timed alone.

The measured peak (flops.py) is that of one large square matmul, and a step cannot reach it:
the recurrence runs T small [B, H] x [H, G] products one after another, and a batch of 16
cannot fill the device the way 2048 rows do. Here each matmul of the step runs alone at its
own shape, the best of several calls, and the loops as loops of dependent products (a tanh
between them, as the cell has one); the optimizer's update is timed alone too. The sum of
those times is the step's *kernel bound*: what it would take if nothing else cost anything and
no matmul were slowed by its neighbours. Its target tokens/s, over the one measured,
is how far the step's glue (gate math, the loss, copies, scheduling) is from free. And the
bound over the twin's measured rate is the most any change to the glue could show against it.
Overlapping kernels does not beat the sum on the 2-core CPU this was written on: a 16-step
LSTM loop (batch 32, hidden 512) and a [512, 512] x [512, 8000] matmul, independent in one
jitted call, took 42 ms together against 36-40 ms for the two one after the other.

`train_matmuls` lists the step's matmuls for the basic decoder (any cell, layers and a
bidirectional encoder); their FLOPs add up to flops.train_flops exactly (tested). The same
for greedy decoding, `decode_matmuls` (flops.forward_flops): the encoder, then per target
step the decoder's and the output layer's products, each timed as a loop of its own. Timed
apart, their weights do not evict each other from the cache as they do in the decode, so
that bound is, if anything, too fast.
"""

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from s2s_jax.benchmark.flops import best_time
from s2s_jax.model import ModelConfig
from s2s_jax.model.recurrent import CARRY_SIZE, NUM_GATES


@dataclasses.dataclass(frozen=True)
class Matmul:
    """`count` products [m, k] x [k, n]; `steps` > 1 chains that many per product, each
    reading the last one's result (a recurrence); `weight_gradient` takes the left operand
    as [k, m] and transposes it first, as linear.weight_gradient does."""

    name: str
    m: int
    k: int
    n: int
    count: int = 1
    steps: int = 1
    weight_gradient: bool = False

    @property
    def flops(self) -> int:
        return 2 * self.m * self.k * self.n * self.steps * self.count


def _projection(
    name: str, rows: int, in_size: int, out_size: int, count: int, train: bool
) -> list[Matmul]:
    """y = x·W over `rows` rows and, in training, its two gradients: dx = dy·Wᵀ and dW = xᵀ·dy."""
    forward = [Matmul(name, rows, in_size, out_size, count)]
    if not train:
        return forward
    return [
        *forward,
        Matmul(f"{name} dx", rows, out_size, in_size, count),
        Matmul(f"{name} dW", in_size, rows, out_size, count, weight_gradient=True),
    ]


def _layer(name: str, cfg: ModelConfig, batch: int, steps: int, in_size: int, count: int,
           train: bool) -> list[Matmul]:  # fmt: skip
    """A recurrent layer over time: the hoisted input projection and the loop and, in
    training, the backward loop and the recurrent weight gradient after it (recurrent.py)."""
    H, G = cfg.hidden_size, NUM_GATES[cfg.cell] * cfg.hidden_size
    matmuls = [
        *_projection(f"{name} input", batch * steps, in_size, G, count, train),
        Matmul(f"{name} loop", batch, H, G, count, steps),
    ]
    if train:
        matmuls += [
            Matmul(f"{name} loop dh", batch, G, H, count, steps),
            Matmul(f"{name} recurrent dW", H, batch * steps, G, count, weight_gradient=True),
        ]
    return matmuls


def _encoder(cfg: ModelConfig, batch: int, src_len: int, train: bool) -> list[Matmul]:
    """The encoder's layers, and the bridge of a bidirectional one (Dense(2H → H) per carry
    component and layer); the basic decoder only (the other decoders are refused)."""
    if cfg.decoder != "basic":
        raise ValueError(f"the bound covers model.decoder='basic', not {cfg.decoder!r}")
    H, directions = cfg.hidden_size, 2 if cfg.bidirectional else 1
    matmuls, size = [], cfg.embed_size
    for layer in range(cfg.num_layers):
        matmuls += _layer(f"encoder {layer}", cfg, batch, src_len, size, directions, train)
        size = directions * H
    if cfg.bidirectional:
        count = cfg.num_layers * CARRY_SIZE[cfg.cell]
        matmuls += _projection("bridge", batch, 2 * H, H, count, train)
    return matmuls


def train_matmuls(cfg: ModelConfig, batch: int, src_len: int, tgt_len: int) -> list[Matmul]:
    """The matmuls of one train step of the basic decoder (see the module doc)."""
    matmuls, size = _encoder(cfg, batch, src_len, train=True), cfg.embed_size
    for layer in range(cfg.num_layers):
        matmuls += _layer(f"decoder {layer}", cfg, batch, tgt_len, size, 1, train=True)
        size = cfg.hidden_size
    output = _projection("output", batch * tgt_len, cfg.hidden_size, cfg.tgt_vocab_size, 1, True)
    return matmuls + output


def decode_matmuls(cfg: ModelConfig, batch: int, src_len: int, tgt_len: int) -> list[Matmul]:
    """The matmuls of greedy decoding of tgt_len tokens with the basic decoder: the encoder's
    forward, then per step and decoder layer one [B, D + H] x [D + H, G] product (the step's
    input and state together), and the output layer's [B, H] x [H, V]."""
    H, G = cfg.hidden_size, NUM_GATES[cfg.cell] * cfg.hidden_size
    matmuls, size = _encoder(cfg, batch, src_len, train=False), cfg.embed_size
    for layer in range(cfg.num_layers):
        matmuls.append(Matmul(f"decoder {layer} step", batch, size + H, G, 1, tgt_len))
        size = H
    return [*matmuls, Matmul("output", batch, H, cfg.tgt_vocab_size, 1, tgt_len)]


def _program(mm: Matmul) -> Callable[[jax.Array, jax.Array], jax.Array]:
    if mm.weight_gradient:
        return lambda x_KxM, w_KxN: jax.lax.optimization_barrier(x_KxM.T) @ w_KxN
    if mm.steps == 1:
        return lambda x_MxK, w_KxN: x_MxK @ w_KxN

    def fit(y_MxN: jax.Array) -> jax.Array:  # The next step's [m, k] input.
        return jnp.tile(y_MxN, (1, -(-mm.k // mm.n)))[:, : mm.k]

    return lambda x_MxK, w_KxN: jax.lax.fori_loop(
        0, mm.steps, lambda _, x: jnp.tanh(fit(x @ w_KxN)), x_MxK
    )


def matmuls_time(matmuls: list[Matmul], dtype: str, repeats: int) -> dict[str, float]:
    """Each matmul's best time alone (times its count), in seconds, by name; matmuls of the
    same shape are timed once."""
    rng = np.random.default_rng(0)
    best: dict[tuple, float] = {}
    times = {}
    for mm in matmuls:
        shape = (mm.m, mm.k, mm.n, mm.steps, mm.weight_gradient)
        if shape not in best:
            left = (mm.k, mm.m) if mm.weight_gradient else (mm.m, mm.k)
            x, w = (jnp.asarray(0.05 * rng.standard_normal(s), dtype) for s in (left, (mm.k, mm.n)))
            program = jax.jit(_program(mm))
            best[shape] = best_time(lambda p=program, x=x, w=w: p(x, w), repeats)
        times[mm.name] = mm.count * best[shape]
    return times


def update_time(state: Any, repeats: int) -> float:
    """Best time of the train step's update alone: the optimizer's (`state.apply_gradients`,
    state donated as the step donates it) and the gradient norm the step logs (steps.py)."""
    grads = jax.tree.map(lambda p: jnp.full_like(p, 1e-3), state.params)
    update = jax.jit(
        lambda s, g: (s.apply_gradients(grads=g), optax.tree.norm(g)), donate_argnums=0
    )
    holder = [jax.tree.map(jnp.copy, state)]

    def run() -> jax.Array:
        holder[0], norm = update(holder[0], grads)
        return norm

    return best_time(run, repeats)


def measure(
    cfg: ModelConfig,
    state: Any,
    shape: tuple[int, int, int],
    dtype: str,
    repeats: int,
    decode: bool,
) -> dict[str, Any]:
    """The kernel bound of a train step of `shape` (batch, src_len, tgt_len), as a benchmark
    row's fields: target tokens/s, and the seconds of the matmuls and of the update; with
    `decode`, also that of greedy decoding (`decode_matmuls`) in tokens/s."""
    batch, _, tgt_len = shape
    matmul_s = sum(matmuls_time(train_matmuls(cfg, *shape), dtype, repeats).values())
    update_s = update_time(state, repeats)
    fields = {
        "kernel_bound_tgt_tokens_per_s": batch * tgt_len / (matmul_s + update_s),
        "kernel_bound_matmul_s": matmul_s,
        "kernel_bound_update_s": update_s,
    }
    if decode:
        decode_s = sum(matmuls_time(decode_matmuls(cfg, *shape), dtype, repeats).values())
        fields["greedy_kernel_bound_tokens_per_s"] = batch * tgt_len / decode_s
    return fields
