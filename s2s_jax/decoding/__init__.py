"""Search over the decoder's outputs: greedy decoding and beam search."""
