"""Seq2Seq as a whole: the encoder and decoder together, through __call__."""

import numpy as np
from model.seq2seq_helpers import ROWS, TGT_IN, model_and_params, pad, teacher_forced


def test_padding_does_not_change_logits():
    """Seq2Seq.__call__ gives the same logits for a source with and without extra PAD."""
    model, params = model_and_params(
        cell="lstm", num_layers=2, bidirectional=True, reverse_source=True, init_state="learned"
    )
    logits = teacher_forced(model, {"params": params}, pad(ROWS, 5), TGT_IN)
    logits_padded = teacher_forced(model, {"params": params}, pad(ROWS, 9), TGT_IN)
    np.testing.assert_allclose(logits, logits_padded, atol=1e-6, rtol=0)
    assert not np.allclose(logits[0], logits[1], atol=1e-3)
