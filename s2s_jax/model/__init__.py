"""The network: recurrent cells and their backends, encoder, decoders, and `Seq2Seq`."""

from s2s_jax.model.config import EXECUTION_FIELDS, ModelConfig, param_count
from s2s_jax.model.decoders import DECODERS, DecoderState
from s2s_jax.model.seq2seq import Seq2Seq

__all__ = ["DECODERS", "EXECUTION_FIELDS", "DecoderState", "ModelConfig", "Seq2Seq", "param_count"]
