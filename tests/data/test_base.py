"""Tests of the helpers every dataset shares (data/base.py): decode_utf8, decode_lines and
exact_match."""

import pytest

from s2s_jax.data.base import decode_lines, decode_utf8, exact_match
from s2s_jax.errors import UserError


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Go.\t가.\n",
        "첫 줄\r\n둘째 줄 — \N{LEFT SINGLE QUOTATION MARK}q\N{RIGHT SINGLE QUOTATION MARK} 🙂\n",
        "no newline at the end",
    ],
)
def test_decode_utf8_gives_valid_text_back(text):
    assert decode_utf8(text.encode("utf-8"), "corpus.txt") == text


@pytest.mark.parametrize(
    ("data", "line", "byte", "offset"),
    [
        (b"\xffHi.\n", 1, 0xFF, 0),  # The very first byte.
        (b"Go.\n\xc0\xafHi.\n", 2, 0xC0, 4),  # An overlong encoding of '/'.
        ("가\n나\n".encode() + b"Hi.\t\xea\xb0\n", 3, 0xEA, 12),  # A cut 3-byte sequence.
        ("한\n".encode() + b"\n\nx\x80", 4, 0x80, 7),  # A lone continuation.
    ],
)
def test_decode_utf8_names_where_the_line_and_the_byte(data, line, byte, offset):
    with pytest.raises(UserError) as info:
        decode_utf8(data, "/data/kor.txt")
    assert str(info.value) == (
        f"/data/kor.txt:{line}: not valid UTF-8 (byte {byte:#04x} at offset {offset}); "
        "convert it to UTF-8"
    )
    assert isinstance(info.value.__cause__, UnicodeDecodeError)


def test_decode_utf8_names_the_first_bad_byte_of_several():
    with pytest.raises(UserError, match=r"^stdin:2: not valid UTF-8 \(byte 0xfe at offset 3\)"):
        decode_utf8(b"ok\n\xfe\n\xff\n", "stdin")


@pytest.mark.parametrize(
    ("data", "lines"),
    [
        (b"", []),
        (b"\n", [""]),
        (b"no newline at the end", ["no newline at the end"]),
        (b"Go.\r\n\r\nHi.\r\n", ["Go.", "", "Hi."]),  # Windows line ends.
        # What str.splitlines would split into 6 lines: a form feed, a lone CR, U+001C, NEL,
        # U+2028 are characters of their line.
        (
            "a\x0cb\rc\x1cd\N{NEXT LINE}e\N{LINE SEPARATOR}f\n\n".encode(),
            ["a\x0cb\rc\x1cd\x85e\u2028f", ""],
        ),
    ],
)
def test_decode_lines_splits_at_newlines_only(data, lines):
    """As many lines as `wc -l` counts (plus an unterminated last one)."""
    assert decode_lines(data, "stdin") == lines
    assert len(lines) == data.count(b"\n") + (not data.endswith(b"\n") and data != b"")


def test_decode_lines_names_the_line_of_a_bad_byte_as_it_counts_lines():
    """Line 2 of what decode_lines returns, whatever splitlines would call it."""
    with pytest.raises(UserError, match=r"^stdin:2: not valid UTF-8 \(byte 0xff at offset 6\)"):
        decode_lines(b"a\x0cb\r\nc\xff", "stdin")


def test_exact_match_is_the_fraction_of_hypotheses_equal_to_their_target():
    pairs = [("a b", "x"), ("c", "y z"), ("d", ""), ("e", "w")]
    assert exact_match(["x", "y z", "", "w"], pairs) == 1.0
    assert exact_match(["x", "y", "", "W"], pairs) == 0.5
    assert exact_match(["a b", "c", "d", "e"], pairs) == 0.0  # The source is no match.
    assert exact_match(["x ", "y z", "x", "w"], pairs) == 0.5  # Exact: a space counts.
    assert type(exact_match(["x"], pairs[:1])) is float
    with pytest.raises(ValueError):  # One hypothesis per pair, no fewer.
        exact_match(["x"], pairs)
