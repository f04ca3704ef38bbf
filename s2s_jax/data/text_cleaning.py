"""Cleaning of parallel sentence pairs: pure functions, no I/O.

`clean_pairs` repairs each side of each pair, then drops pairs, in this order:

1. Unicode NFC normalization.                               count: 'nfc_changed'
2. Carriage returns removed (a CRLF line end, or a stray
   '\\r' inside a line, which becomes a space).             count: 'crlf_fixed'
3. HTML entities unescaped (`&#8212;` -> '—').              count: 'html_unescaped'
4. EUC-KR punctuation read as Latin-1 repaired (see below).  count: 'mojibake_fixed'
5. Odd spaces (no-break, ideographic, thin, tab, zero-width
   …) made plain, runs of spaces collapsed, ends stripped.   count: 'spaces_normalized'
6. Pairs with a URL line on either side dropped.             count: 'dropped_url'
7. Pairs with an empty side dropped.                         count: 'dropped_empty'
8. Pairs whose two sides are identical dropped (the source
   was copied, not translated).                              count: 'dropped_untranslated'
9. Repeats of an earlier (cleaned) pair dropped.             count: 'dropped_duplicate'
10. Pairs with more than `max_words` words on a side dropped. count: 'dropped_too_long'
11. Pairs whose character lengths differ by more than a factor
    `max_ratio` dropped (likely misaligned).                 count: 'dropped_ratio'

Every count is a number of pairs (a pair counts once even if both sides changed),
and 'kept' is the number of pairs returned. Repairs are counted over all input
pairs, including those that a later rule drops.

The mojibake repair (rule 4): some news text was stored as EUC-KR and decoded as
Latin-1, so the KS X 1001 punctuation in rows 1 and 2 became two Latin-1 characters:
'¡°' for '“', '¡±' for '”', '¡¯' for '’', '¡¦' for '…', '¢æ' for '€'. Each pair
of characters whose first is '¡' or '¢' (bytes 0xA1, 0xA2) and whose second is in
0xA1–0xFE is decoded back as CP949; a pair that does not decode is left alone.
Other Latin-1 text is never touched, because those lead characters almost never
precede another such character in real text.
"""

import html
import re
import unicodedata
from collections.abc import Callable, Iterable

from s2s_jax.errors import ConfigError

COUNT_KEYS = (
    "nfc_changed",
    "crlf_fixed",
    "html_unescaped",
    "mojibake_fixed",
    "spaces_normalized",
    "dropped_url",
    "dropped_empty",
    "dropped_untranslated",
    "dropped_duplicate",
    "dropped_too_long",
    "dropped_ratio",
    "kept",
)

_MOJIBAKE = re.compile("[\xa1\xa2][\xa1-\xfe]")
# Every Unicode space separator (Zs: no-break, en/em, thin, ideographic, …) and the
# ASCII whitespace controls become a plain space; zero-width characters vanish.
_ODD_SPACE = re.compile(r"[\s\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_ZERO_WIDTH = re.compile("[\u200b\u2060\ufeff]")
_URL_LINE = re.compile(r"(##)?https?://", re.IGNORECASE)


def nfc(text: str) -> str:
    """Unicode canonical composition (NFC), e.g. decomposed Hangul jamo -> syllables."""
    return unicodedata.normalize("NFC", text)


def remove_carriage_returns(text: str) -> str:
    """Drops a trailing '\\r' (CRLF line ends) and turns any other '\\r' into a space."""
    return text.rstrip("\r").replace("\r", " ")


def fix_mojibake(text: str) -> str:
    """Repairs EUC-KR punctuation that was decoded as Latin-1 ('¡°' -> '“')."""

    def decode(match: re.Match[str]) -> str:
        try:
            return match.group().encode("latin-1").decode("cp949")
        except UnicodeDecodeError:
            return match.group()

    return _MOJIBAKE.sub(decode, text)


def normalize_spaces(text: str) -> str:
    """Makes odd spaces plain, collapses runs of whitespace, and strips both ends."""
    return _ODD_SPACE.sub(" ", _ZERO_WIDTH.sub("", text)).strip()


def is_url_line(text: str) -> bool:
    """Whether a line is a leftover link ('##http://…', 'http://…', or '… ##http…')."""
    return _URL_LINE.match(text) is not None or "##http" in text.lower()


def num_words(text: str) -> int:
    """Whitespace-separated words (for Korean: eojeol, the spaced units)."""
    return len(text.split())


def length_ratio(a: str, b: str) -> float:
    """The longer side's character count over the shorter one's (both non-empty)."""
    la, lb = len(a), len(b)
    return max(la, lb) / min(la, lb)


_REPAIRS: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("nfc_changed", nfc),
    ("crlf_fixed", remove_carriage_returns),
    ("html_unescaped", html.unescape),
    ("mojibake_fixed", fix_mojibake),
    ("spaces_normalized", normalize_spaces),
)


def clean_pairs(
    pairs: Iterable[tuple[str, str]], *, max_words: int, max_ratio: float
) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """Repairs and filters (source, target) pairs; see the module docstring for the rules.

    Args:
      pairs: (source, target) strings, e.g. (English, Korean), in corpus order.
      max_words: pairs with more words than this on either side are dropped.
      max_ratio: pairs whose longer side has more than `max_ratio` times the
        characters of the shorter side are dropped.

    Returns:
      The kept pairs in input order, and a count per rule keyed by `COUNT_KEYS`.
    """
    if max_words < 1:
        raise ConfigError(f"max_words={max_words} is invalid: it must be at least 1")
    if max_ratio < 1.0:
        raise ConfigError(f"max_ratio={max_ratio} is invalid: it must be at least 1.0")
    counts = dict.fromkeys(COUNT_KEYS, 0)
    seen: set[tuple[str, str]] = set()
    kept: list[tuple[str, str]] = []
    for src, tgt in pairs:
        for key, repair in _REPAIRS:
            new_src, new_tgt = repair(src), repair(tgt)
            if (new_src, new_tgt) != (src, tgt):
                counts[key] += 1
            src, tgt = new_src, new_tgt
        if is_url_line(src) or is_url_line(tgt):
            counts["dropped_url"] += 1
        elif not src or not tgt:
            counts["dropped_empty"] += 1
        elif src == tgt:
            counts["dropped_untranslated"] += 1
        elif (src, tgt) in seen:
            counts["dropped_duplicate"] += 1
        elif num_words(src) > max_words or num_words(tgt) > max_words:
            counts["dropped_too_long"] += 1
        elif length_ratio(src, tgt) > max_ratio:
            counts["dropped_ratio"] += 1
        else:
            kept.append((src, tgt))
        seen.add((src, tgt))
    counts["kept"] = len(kept)
    return kept, counts
