"""Search over the decoder's outputs: greedy decoding, beam search (n-best) and sampling."""

# The values of config.eval.decode: greedy.py, beam_search.py, sampling.py.
SEARCHES = ("greedy", "beam", "sample")
