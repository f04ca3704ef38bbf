"""Special token ids and a character vocabulary for the generated tasks.

Every tokenizer in s2s_jax shares the four special ids below, so a model never
needs to know which tokenizer produced its inputs.
"""

from collections.abc import Iterable, Sequence

PAD_ID = 0
BOS_ID = 1
EOS_ID = 2
UNK_ID = 3
SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")


def content_ids(ids: Iterable[int]) -> list[int]:
    """The ids before the first EOS, without PAD and BOS: what a decoder turns into text."""
    kept = []
    for i in map(int, ids):
        if i == EOS_ID:
            break
        if i not in (PAD_ID, BOS_ID):
            kept.append(i)
    return kept


class CharVocab:
    """Maps characters to ids; ids below len(SPECIALS) are the special tokens."""

    def __init__(self, chars: Iterable[str]):
        chars = list(dict.fromkeys(chars))  # Keep order, drop repeats.
        if any(len(c) != 1 for c in chars):
            raise ValueError(f"CharVocab takes single characters, got {chars!r}")
        self.chars = "".join(chars)
        self._id_of = {c: i + len(SPECIALS) for i, c in enumerate(chars)}

    @property
    def size(self) -> int:
        return len(SPECIALS) + len(self.chars)

    def encode(self, text: str) -> list[int]:
        """Characters to ids; a character outside the vocabulary becomes UNK."""
        return [self._id_of.get(c, UNK_ID) for c in text]

    def piece(self, i: int) -> str:
        """The token of id `i`: its character, or a special token's name ('</s>')."""
        return SPECIALS[i] if i < len(SPECIALS) else self.chars[i - len(SPECIALS)]

    def decode(self, ids: Sequence[int]) -> str:
        """Ids to text, stopping at the first EOS and skipping PAD and BOS."""
        return "".join(
            "\N{REPLACEMENT CHARACTER}" if i == UNK_ID else self.chars[i - len(SPECIALS)]
            for i in content_ids(ids)
        )
