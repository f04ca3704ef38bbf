"""Tests for the cleaning rules of parallel sentence pairs, one rule at a time."""

import pytest

from s2s_jax.data.text_cleaning import COUNT_KEYS, clean_pairs, fix_mojibake, normalize_spaces
from s2s_jax.errors import ConfigError


def clean(pairs, max_words=50, max_ratio=9.0):
    return clean_pairs(pairs, max_words=max_words, max_ratio=max_ratio)


def only(counts: dict[str, int], **expected: int) -> None:
    """Asserts that `counts` is zero everywhere except `expected` (and 'kept')."""
    nonzero = {k: v for k, v in counts.items() if v and k != "kept"}
    assert nonzero == expected


def test_counts_have_stable_keys_and_kept_is_the_output_size():
    kept, counts = clean([("Hi.", "안녕."), ("Go.", "가.")])
    assert tuple(counts) == COUNT_KEYS
    assert kept == [("Hi.", "안녕."), ("Go.", "가.")]
    assert counts["kept"] == 2
    only(counts)


def test_nfc_composes_decomposed_hangul():
    decomposed = "\u1100\u1161."  # ᄀ + ᅡ + '.' -> '가.'
    kept, counts = clean([("Go.", decomposed), ("Hi.", "안녕.")])
    assert kept == [("Go.", "가."), ("Hi.", "안녕.")]
    only(counts, nfc_changed=1)


def test_carriage_returns_are_removed_and_counted_once_per_pair():
    kept, counts = clean([("Hi.\r", "안녕.\r"), ("a\rb", "가\r나")])
    assert kept == [("Hi.", "안녕."), ("a b", "가 나")]
    only(counts, crlf_fixed=2)


def test_html_entities_are_unescaped():
    pairs = [("Yes &#8212; jalape&ntilde;o &amp; salt", "네 — 할라피뇨와 소금"), ("Fine.", "좋아.")]
    kept, counts = clean(pairs)
    assert kept == [("Yes — jalapeño & salt", "네 — 할라피뇨와 소금"), ("Fine.", "좋아.")]
    only(counts, html_unescaped=1)


def test_euc_kr_punctuation_read_as_latin1_is_repaired():
    assert (
        fix_mojibake("¡°Hi,¡± the world¡¯s ¡¦ ¢æ114")
        == "\u201cHi,\u201d the world\u2019s \u2026 \u20ac114"
    )
    # Real Latin-1 text, and a lone '¡', are left alone.
    assert fix_mojibake("¡Hola, señor! 30°C ± 1 ¡ °") == "¡Hola, señor! 30°C ± 1 ¡ °"
    kept, counts = clean([("¡°Hi¡±", "“안녕”"), ("Hi", "안녕")])
    assert kept == [("“Hi”", "“안녕”"), ("Hi", "안녕")]
    only(counts, mojibake_fixed=1)


def test_odd_spaces_become_plain_and_runs_collapse():
    assert normalize_spaces(" a\u00a0b\u3000c\td  e\u200bf\u2009g ") == "a b c d ef g"
    kept, counts = clean([("one\u00a0two ", "하나\u00a0둘"), ("a  b", "가 나"), ("ok", "좋아")])
    assert kept == [("one two", "하나 둘"), ("a b", "가 나"), ("ok", "좋아")]
    only(counts, spaces_normalized=2)


def test_url_lines_are_dropped_on_either_side():
    pairs = [
        ("##http://article.joins.com/a.asp?x=1", "##http://article.joins.com/a.asp?x=1 기사"),
        ("Read this.", "BAGHDAD, Iraq (CNN) ##http://article.joins.com/a.asp"),
        ("https://example.com/page", "페이지"),
        ("HTTP://EXAMPLE.COM", "페이지"),
        ("See http://example.com for more.", "자세한 내용은 http://example.com 참조."),
    ]
    kept, counts = clean(pairs)
    assert kept == [pairs[4]]
    only(counts, dropped_url=4)


def test_pairs_with_an_empty_side_are_dropped():
    kept, counts = clean([("", "가."), ("Go.", "  \u00a0"), ("Go.", "가.")])
    assert kept == [("Go.", "가.")]
    only(counts, dropped_empty=2, spaces_normalized=1)


def test_untranslated_pairs_are_dropped():
    kept, counts = clean([("Il faut bien le faire.", "Il faut bien le faire."), ("Go.", "가.")])
    assert kept == [("Go.", "가.")]
    only(counts, dropped_untranslated=1)


def test_duplicate_pairs_are_dropped_after_repairs_but_other_translations_stay():
    pairs = [("Go.", "가."), ("Go.", "가라."), ("Go.", "가."), ("Go. ", "가.\r"), ("Hi.", "가.")]
    kept, counts = clean(pairs)
    assert kept == [("Go.", "가."), ("Go.", "가라."), ("Hi.", "가.")]
    only(counts, dropped_duplicate=2, crlf_fixed=1, spaces_normalized=1)


def test_length_filter_counts_words_on_either_side():
    three, four = "a b c", "a b c d"
    kept, counts = clean(
        [(three, "가 나 다"), (four, "가"), ("a", "가 나 다 라")], max_words=3, max_ratio=99
    )
    assert kept == [(three, "가 나 다")]
    only(counts, dropped_too_long=2)


def test_ratio_filter_is_symmetric_and_inclusive_at_the_limit():
    pairs = [("abcd", "가"), ("abcde", "가"), ("a", "가나다라"), ("a", "가나다라마")]
    kept, counts = clean(pairs, max_ratio=4.0)
    assert kept == [("abcd", "가"), ("a", "가나다라")]
    only(counts, dropped_ratio=2)


def test_each_dropped_pair_counts_under_the_first_rule_only():
    long_url = "http://x.com " + "w " * 100
    kept, counts = clean([(long_url, "가"), ("", "가 " * 100), ("Go.", "가.")], max_words=5)
    assert kept == [("Go.", "가.")]
    only(counts, dropped_url=1, dropped_empty=1, spaces_normalized=2)


def test_order_is_kept_and_any_iterable_works():
    pairs = ((f"sentence {i}", f"문장 {i}") for i in reversed(range(5)))
    kept, counts = clean(pairs)
    assert [en for en, _ in kept] == [f"sentence {i}" for i in (4, 3, 2, 1, 0)]
    assert counts["kept"] == 5


@pytest.mark.parametrize(("max_words", "max_ratio"), [(0, 3.0), (10, 0.5)])
def test_bad_filter_settings_are_config_errors(max_words, max_ratio):
    with pytest.raises(ConfigError, match="is invalid"):
        clean_pairs([("a", "b")], max_words=max_words, max_ratio=max_ratio)
