"""ModelConfig built from a config's model block, and param_count against hand counts."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from s2s_jax.model import ModelConfig, Seq2Seq, param_count


def test_from_config_takes_every_field_from_the_model_block(make_config):
    """Every field but the vocabulary sizes (arguments, from the data) comes from config.model;
    the result is frozen."""
    config = make_config(model__cell="gru", model__num_layers=2, model__decoder="context")
    cfg = ModelConfig.from_config(config.model, src_vocab_size=13, tgt_vocab_size=17)
    expected = {**config.model.to_dict(), "src_vocab_size": 13, "tgt_vocab_size": 17}
    assert dataclasses.asdict(cfg) == expected
    assert (cfg.cell, cfg.num_layers, cfg.decoder, cfg.hidden_size) == ("gru", 2, "context", 32)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.cell = "lstm"  # type: ignore[misc]


def test_from_config_refuses_an_unknown_field(make_config):
    config = make_config()
    config.model.colour = "blue"
    with pytest.raises(TypeError, match="colour"):
        ModelConfig.from_config(config.model, src_vocab_size=13, tgt_vocab_size=17)


def test_param_count_adds_the_sizes_of_all_leaves():
    tree = {"a": np.zeros((2, 3)), "b": [np.zeros(4), {"c": np.zeros(())}]}
    assert param_count(tree) == 2 * 3 + 4 + 1
    assert param_count({}) == 0


def _params(cfg: ModelConfig) -> dict:
    """The shapes of the model's params (`size` is all param_count reads)."""
    src = jnp.ones((2, 3), jnp.int32)
    return jax.eval_shape(Seq2Seq(cfg).init, jax.random.key(0), src, src)["params"]


def test_param_count_of_a_basic_lstm_matches_a_hand_count():
    """Source vocabulary 5, target 6, embeddings 3, H = 4, one LSTM layer (gates 4H = 16)."""
    cfg = ModelConfig(src_vocab_size=5, tgt_vocab_size=6, cell="lstm", embed_size=3, hidden_size=4)
    expected = (
        5 * 3  # Source embedding.
        + (3 * 16 + 16) + 4 * 16  # Encoder layer: input kernel and bias, recurrent kernel.
        + 6 * 3  # Target embedding.
        + (3 * 16 + 16) + 4 * 16  # Decoder layer.
        + (4 * 6 + 6)  # Output layer.
    )  # fmt: skip
    assert expected == 319
    assert param_count(_params(cfg)) == expected


def test_param_count_of_a_bidirectional_context_gru_matches_a_hand_count():
    """Two GRU layers (gates 3H = 12, H = 4, a recurrent bias of 12), bidirectional with a
    learned h0, and the context decoder; vocabularies 5 and 6, embeddings 3."""
    cfg = ModelConfig(
        src_vocab_size=5, tgt_vocab_size=6, cell="gru", embed_size=3, hidden_size=4,
        num_layers=2, bidirectional=True, init_state="learned", decoder="context",
    )  # fmt: skip
    gru_recurrent = 4 * 12 + 12
    encoder = (
        5 * 3  # Source embedding.
        + 2 * ((3 * 12 + 12) + gru_recurrent)  # Layer 0, both directions: input size 3.
        + 2 * ((8 * 12 + 12) + gru_recurrent)  # Layer 1, both directions: input [fwd; bwd], 8.
        + 2 * (8 * 4 + 4)  # One bridge per layer (the GRU's carry is h alone): 2H -> H.
        + 2 * 2 * 4  # Learned h0 per layer and direction.
    )
    decoder = (
        6 * 3  # Target embedding.
        + (((3 + 4) * 12 + 12) + gru_recurrent)  # Layer 0 reads [y; c].
        + ((4 * 12 + 12) + gru_recurrent)  # Layer 1.
        + ((4 + 4) * 6 + 6)  # Output layer reads [h; c].
    )
    assert (encoder, decoder) == (655, 348)
    assert param_count(_params(cfg)) == encoder + decoder
