"""The 'cudnn' backend of `RecurrentLayer`: cuDNN's fused LSTM via `jax.experimental.rnn`.

cuDNN keeps one flat weight vector per layer: W_ih [4H, D], W_hh [4H, H],
b_ih [4H], b_hh [4H], gates in the order [i, f, g, o] (ours too). `pack_weights`
builds it from the layer's own parameters, so gradients flow back to them and a
checkpoint trained on any backend runs on this one. Only the LSTM, in float32,
on CUDA GPUs: `jax.experimental.rnn` lowers to cuDNN and to nothing else.
"""

import jax
import jax.numpy as jnp
from jax.experimental import rnn

# The layer's parameters, as recurrent.py passes them (kept here so this module imports none of
# ours): (kernel_xG, bias_G or None), and the carry (c_BxH, h_BxH).
Weights = tuple[jax.Array, jax.Array | None]
Carry = tuple[jax.Array, ...]


def pack_weights(input_weights: Weights, recurrent_weights: Weights) -> jax.Array:
    """Our (kernel_DxG, bias_G) and (kernel_HxG, None) as cuDNN's flat weight vector."""
    kernel_in_DxG, bias_G = input_weights
    kernel_rec_HxG, _ = recurrent_weights
    return jnp.concatenate(
        [kernel_in_DxG.T.ravel(), kernel_rec_HxG.T.ravel(), bias_G, jnp.zeros_like(bias_G)]
    )


def cudnn_lstm_layer(
    input_weights: Weights,
    recurrent_weights: Weights,
    carry: Carry,
    x_BxTxD: jax.Array,
    mask_BxT: jax.Array,
) -> tuple[Carry, jax.Array]:
    """One LSTM layer over right-padded sequences; returns ((c, h) at each length, y_BxTxH).

    mask_BxT must be True on a prefix of each row (right padding). Outputs past
    a row's length are zeros (the scan backends hold the carry there instead).
    """
    c0_BxH, h0_BxH = carry
    lengths_B = jnp.maximum(mask_BxT.sum(axis=1), 1).astype(jnp.int32)  # cuDNN needs >= 1.
    y_BxTxH, h_n, c_n = rnn.lstm(
        x_BxTxD.astype(jnp.float32),
        h0_BxH[None],
        c0_BxH[None],
        pack_weights(input_weights, recurrent_weights),
        lengths_B,
        input_size=x_BxTxD.shape[-1],
        hidden_size=h0_BxH.shape[-1],
        num_layers=1,
        dropout=0.0,
        bidirectional=False,
    )
    return (c_n[0], h_n[0]), y_BxTxH
