"""Tests for s2s_jax.vocab: the special ids, content_ids, and the character vocabulary."""

import pytest

from s2s_jax.vocab import BOS_ID, EOS_ID, PAD_ID, SPECIALS, UNK_ID, CharVocab, content_ids


def test_special_ids_are_fixed():
    assert (PAD_ID, BOS_ID, EOS_ID, UNK_ID) == (0, 1, 2, 3) and len(SPECIALS) == 4


def test_content_ids_stop_at_eos_and_skip_pad_and_bos():
    assert content_ids([BOS_ID, 5, PAD_ID, 6, UNK_ID, EOS_ID, 7]) == [5, 6, UNK_ID]
    assert content_ids([]) == [] and content_ids([EOS_ID, 5]) == []


def test_char_vocab_round_trip_and_unk():
    """encode/decode round-trips known characters; unknown characters become UNK."""
    vocab = CharVocab("abca")  # The repeated 'a' is dropped.
    assert vocab.chars == "abc"
    assert vocab.size == 4 + 3
    ids = vocab.encode("cab")
    assert all(i >= 4 for i in ids)
    assert vocab.decode(ids) == "cab"
    assert vocab.encode("azb") == [vocab.encode("a")[0], UNK_ID, vocab.encode("b")[0]]
    assert vocab.decode([BOS_ID, *ids, EOS_ID, *ids]) == "cab"
    assert vocab.decode([PAD_ID, *vocab.encode("a"), PAD_ID]) == "a"
    with pytest.raises(ValueError, match="single characters"):
        CharVocab(["ab"])
