"""`ModelConfig`: every hyperparameter of the model, frozen, built from the config in one place."""

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from s2s_jax.model.recurrent import RecurrentLayer

# Fields that choose how the same parameters are computed, not what they are or mean: a
# checkpoint trained with one value restores, resumes and evaluates with another.
EXECUTION_FIELDS = ("backend", "scan_unroll", "remat", "dtype")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Every hyperparameter of the model; built from the experiment config by `from_config`."""

    src_vocab_size: int
    tgt_vocab_size: int
    cell: str = "lstm"
    embed_size: int = 32
    hidden_size: int = 32
    num_layers: int = 1
    bidirectional: bool = False
    dropout_rate: float = 0.0
    init_state: str = "zeros"  # 'zeros' or 'learned'.
    reverse_source: bool = False
    scan_unroll: int = 1
    remat: bool = False  # Recompute scan-step activations in the backward pass.
    backend: str = "scan"  # How layers run over time: 'scan', 'fused' or 'cudnn' (recurrent.py).
    decoder: str = "basic"  # 'basic', 'context' (decoders.py), 'bahdanau', 'luong' (attention.py).
    attention_score: str = "general"  # 'luong': 'dot', 'general' or 'concat'.
    input_feeding: bool = True  # 'luong': the attentional vector is also the next input.
    dtype: str = "float32"  # Compute dtype.
    param_dtype: str = "float32"

    @classmethod
    def from_config(
        cls, config: ml_collections.ConfigDict, src_vocab_size: int, tgt_vocab_size: int
    ) -> "ModelConfig":
        """The one place where a `config.model` block becomes a ModelConfig."""
        return cls(src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size, **config)

    def layer(self, deterministic: bool, name: str) -> RecurrentLayer:
        return RecurrentLayer(
            cell=self.cell,
            hidden_size=self.hidden_size,
            dropout_rate=self.dropout_rate,
            deterministic=deterministic,
            unroll=self.scan_unroll,
            remat=self.remat,
            backend=self.backend,
            dtype=jnp.dtype(self.dtype),
            param_dtype=jnp.dtype(self.param_dtype),
            name=name,
        )


def param_count(params: Any) -> int:
    return sum(x.size for x in jax.tree.leaves(params))
