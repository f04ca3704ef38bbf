"""Tests for s2s_jax.tokenizer: special ids, exact round trips, UNK, determinism, reuse."""

import itertools
import os
import re
import unicodedata

import pytest
import sentencepiece
from hypothesis import example, given, settings
from hypothesis import strategies as st

from s2s_jax.data.tokenizer import SubwordTokenizer, load_or_train, train_tokenizer
from s2s_jax.errors import ConfigError, UserError
from s2s_jax.vocab import BOS_ID, EOS_ID, PAD_ID, SPECIALS, UNK_ID

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TATOEBA = os.path.join(ROOT, "..", "shared", "data", "en_ko", "tatoeba", "kor.txt")

_KO_SUBJECTS = [
    "저는",
    "그는",
    "우리 엄마는",
    "제 친구가",
    "선생님은",
    "아이들이",
    "그녀는",
    "형은",
]
_KO_TIMES = ["어제", "오늘 아침에", "주말마다", "가끔", "지난주에"]
_KO_OBJECTS = ["사과를", "책을", "영화를", "커피를", "편지를", "새 차를", "음악을", "한국어를"]
_KO_VERBS = ["좋아해요.", "샀어요.", "봤습니까?", "읽고 있어요.", "기다렸다.", "배웠어요!"]
_EN_SUBJECTS = ["I", "He", "My mother", "Our teacher", "The children", "She", "Tom", "We all"]
_EN_TIMES = ["yesterday", "every weekend", "sometimes", "last week", "this morning"]
_EN_VERBS = ["liked", "bought", "watched", "was reading", "waited for", "didn't see"]
_EN_OBJECTS = ["apples.", "a book.", "the movie!", "coffee?", "a letter.", "music, too."]
# Text that NFKC (sentencepiece's default normalization) would change: compatibility jamo,
# an ellipsis, full-width and curly punctuation, a wave dash.
_KO_EXTRAS = [
    "ㅋㅋ 정말요…",
    "진짜\N{FULLWIDTH QUESTION MARK} 대박\N{FULLWIDTH EXCLAMATION MARK}",
    "“안녕”이라고 했어요.",
    "괜찮아요\N{FULLWIDTH TILDE}",
    "ㅎㅎ 고마워요.",
]


def _corpus() -> list[str]:
    """About 200 templated Korean and English sentences, plus the NFKC-sensitive extras."""
    korean = itertools.product(_KO_SUBJECTS, _KO_TIMES, _KO_OBJECTS, _KO_VERBS)
    english = itertools.product(_EN_SUBJECTS, _EN_VERBS, _EN_OBJECTS, _EN_TIMES)
    sentences = [" ".join(w) for w in itertools.islice(korean, 0, None, 19)]
    sentences += [
        f"{s} {v} {o[:-1]} {t}{o[-1]}" for s, v, o, t in itertools.islice(english, 0, None, 17)
    ]
    return sentences + _KO_EXTRAS * 3


@pytest.fixture(scope="module", params=["unigram", "bpe"])
def trained(tmp_path_factory, request) -> SubwordTokenizer:
    """A tokenizer of each model type trained on the corpus (all its characters kept)."""
    prefix = str(tmp_path_factory.mktemp("spm") / "enko")
    return train_tokenizer(_corpus(), prefix, 140, character_coverage=1.0, model_type=request.param)


def test_special_ids_are_fixed(trained):
    """PAD/BOS/EOS/UNK have the project's ids and piece names."""
    for i, piece in enumerate(SPECIALS):
        assert trained.id_to_piece(i) == piece
        assert trained.piece_to_id(piece) == i
    assert (PAD_ID, BOS_ID, EOS_ID, UNK_ID) == (0, 1, 2, 3)
    assert trained.size == 140
    assert trained.path.endswith("enko.model") and os.path.isfile(trained.path)
    assert os.path.isfile(trained.path[: -len(".model")] + ".vocab")


def test_round_trip_is_exact_on_nfc_korean_and_english(trained):
    """decode(encode(x)) == x, NFKC-sensitive characters included; no BOS/EOS is added."""
    for text in _corpus():
        ids = trained.encode(text)
        assert UNK_ID not in ids, text
        assert BOS_ID not in ids and EOS_ID not in ids
        assert trained.decode(ids) == text
    assert unicodedata.normalize("NFKC", "ㅋㅋ 정말요…") != "ㅋㅋ 정말요…"  # The check has teeth.


def test_decomposed_hangul_is_composed(trained):
    """NFD input (e.g. from macOS) encodes like its NFC form instead of becoming UNK."""
    text = "저는 사과를 좋아해요."
    nfd = unicodedata.normalize("NFD", text)
    assert nfd != text
    assert trained.encode(nfd) == trained.encode(text)


def test_decode_stops_at_eos_and_skips_pad_bos(trained):
    """Same contract as CharVocab.decode."""
    ids = trained.encode("I like apples.")
    assert trained.decode([BOS_ID, *ids, EOS_ID, *trained.encode("Tom")]) == "I like apples."
    assert trained.decode([PAD_ID, *ids, PAD_ID, PAD_ID]) == "I like apples."
    assert trained.decode([EOS_ID, *ids]) == ""


def test_unseen_characters_become_unk(trained):
    """Characters absent from training map to UNK (no byte fallback), and decode to U+FFFD."""
    ids = trained.encode("I like 猫.")
    assert UNK_ID in ids
    assert all(i < trained.size for i in ids)
    assert trained.decode(ids) == "I like \N{REPLACEMENT CHARACTER}."


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_training_is_deterministic(tmp_path, model_type):
    """The same texts give byte-identical .model files, whatever the output path."""
    options = {"character_coverage": 1.0, "model_type": model_type}
    a = train_tokenizer(_corpus(), str(tmp_path / "a"), 140, **options)
    b = train_tokenizer(_corpus(), str(tmp_path / "sub" / "b"), 140, **options)
    with open(a.path, "rb") as fa, open(b.path, "rb") as fb:
        assert fa.read() == fb.read()


def test_vocab_size_too_large_is_a_config_error(tmp_path):
    """A vocab_size the text cannot fill names vocab_size, its value and the limit."""
    with pytest.raises(ConfigError, match=r"vocab_size=5000 is too large.*at most \d+ pieces"):
        train_tokenizer(_corpus(), str(tmp_path / "big"), 5000, character_coverage=1.0)
    assert not os.path.exists(tmp_path / "big.model")


def test_vocab_size_too_small_for_the_characters_is_a_config_error(tmp_path):
    """Too few pieces for the characters kept names vocab_size and character_coverage.

    The options' types and ranges (vocab_size > 4, character_coverage in (0, 1], model_type
    'unigram' or 'bpe') are config_checks' rules, tested in tests/test_config_checks.py.
    """
    with pytest.raises(ConfigError, match=r"vocab_size=20 is too small.*character_coverage=1\.0"):
        train_tokenizer(_corpus(), str(tmp_path / "t"), 20, character_coverage=1.0)
    assert not os.path.exists(tmp_path / "t.model")


def test_foreign_special_ids_are_refused(tmp_path):
    """A sentencepiece model with its default ids (UNK 0, no PAD) is refused by name."""
    path = str(tmp_path / "foreign")
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(_corpus()), model_prefix=path, vocab_size=140, minloglevel=2
    )
    with pytest.raises(UserError, match=r"foreign\.model has special ids .* = \(-1, 1, 2, 0\)"):
        SubwordTokenizer(path + ".model")
    with pytest.raises(UserError, match="no tokenizer model at"):
        SubwordTokenizer(str(tmp_path / "missing.model"))


def test_empty_training_text_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="empty"):
        train_tokenizer([], str(tmp_path / "t"), 100)


def test_load_or_train_reuses_the_saved_model(tmp_path):
    """The second call loads the file without calling texts_fn and without rewriting it."""
    calls = []

    def texts_fn():
        calls.append(1)
        return _corpus()

    first = load_or_train(str(tmp_path), "ko", texts_fn, 140, character_coverage=1.0)
    assert calls == [1]
    path = tmp_path / "ko.model"
    assert first.path == str(path)
    os.utime(path, (1_000_000, 1_000_000))  # An old mtime: a rewrite would change it.
    again = load_or_train(str(tmp_path), "ko", texts_fn, 140, character_coverage=1.0)
    assert calls == [1]
    assert os.stat(path).st_mtime == 1_000_000
    text = "제 친구가 책을 샀어요."
    assert again.encode(text) == first.encode(text)


def test_load_or_train_refuses_a_mismatch(tmp_path):
    """A saved model of another size or type is an error naming the file and both values."""
    load_or_train(str(tmp_path), "en", _corpus, 140, character_coverage=1.0)
    with pytest.raises(ConfigError, match=r"en\.model has 140 pieces but vocab_size=150"):
        load_or_train(str(tmp_path), "en", _corpus, 150, character_coverage=1.0)
    with pytest.raises(ConfigError, match=r"en\.model is a 'unigram' model.*model_type='bpe'"):
        load_or_train(str(tmp_path), "en", _corpus, 140, model_type="bpe")


@pytest.mark.skipif(
    not os.path.isfile(TATOEBA), reason=f"the Tatoeba English-Korean file is absent: {TATOEBA}"
)
def test_round_trip_on_tatoeba(tmp_path):
    """Every English and Korean sentence of the real Tatoeba file round-trips exactly."""
    with open(TATOEBA, encoding="utf-8") as f:
        texts = [side for line in f for side in line.split("\t")[:2]]
    texts = [" ".join(t.split()) for t in texts]  # Single spaces, as the cleaning step gives.
    assert len(texts) > 10_000
    tokenizer = train_tokenizer(texts, str(tmp_path / "tatoeba"), 4000, character_coverage=1.0)
    mismatches = [t for t in texts if tokenizer.decode(tokenizer.encode(t)) != t]
    assert not mismatches, mismatches[:5]


# Property tests (hypothesis). The coverage text's characters, after NFC, are the tokenizer's
# character coverage: tabs, U+00A0 and U+3000 (spaces to str.split(), not to sentencepiece),
# a character outside the BMP, and characters that NFKC (not NFC) would change.
_COVERAGE_TEXT = [
    "저는 어제 사과를 좋아해요.",
    "ㅋㅋ 정말요… 진짜\N{FULLWIDTH QUESTION MARK} 대박\N{FULLWIDTH EXCLAMATION MARK}",
    "“Café” au lait, s'il vous plaît?",
    "Ångström Ω ö 5+3=8 \N{GRINNING FACE}",
    "tab\there nbsp\N{NO-BREAK SPACE}x ideo\N{IDEOGRAPHIC SPACE}space",
]
_COVERAGE = sorted(set(unicodedata.normalize("NFC", "".join(_COVERAGE_TEXT))) - {" "})
# Other spellings of covered characters, which NFC turns into them: decomposed (e + U+0301,
# Hangul syllables as conjoining jamo) and singletons (ANGSTROM SIGN, OHM SIGN).
_VARIANTS = [unicodedata.normalize("NFD", c) for c in _COVERAGE]
_VARIANTS = [v for v in _VARIANTS if len(v) > 1] + ["\N{ANGSTROM SIGN}", "\N{OHM SIGN}"]


def _as_tokenized(text: str) -> str:
    """What the tokenizer makes of text in its coverage: NFC, then only U+0020 spaces
    collapsed (runs to one, none at either end); tabs, U+00A0 and U+3000 are kept."""
    return " ".join(word for word in unicodedata.normalize("NFC", text).split(" ") if word)


@pytest.fixture(scope="module", params=["unigram", "bpe"])
def tiny(tmp_path_factory, request) -> SubwordTokenizer:
    """A tokenizer of each model type trained on _COVERAGE_TEXT: the 4 specials, '▁', a piece
    per character (character_coverage=1.0) and 2 longer pieces."""
    prefix = str(tmp_path_factory.mktemp("spm_tiny") / "tiny")
    size = len(_COVERAGE) + 7
    tokenizer = train_tokenizer(
        _COVERAGE_TEXT, prefix, size, character_coverage=1.0, model_type=request.param
    )
    assert [c for c in _COVERAGE if tokenizer.piece_to_id(c) == UNK_ID] == []
    return tokenizer


_PROPERTY = settings(max_examples=100, deadline=None)


@_PROPERTY
@given(units=st.lists(st.sampled_from([*_COVERAGE, " ", *_VARIANTS]), max_size=30))
def test_round_trip_of_any_text_in_the_coverage(tiny, units):
    """decode(encode(x)) == x as the tokenizer normalizes it: NFC, then U+0020 runs collapsed
    to one space and dropped at both ends; nothing else (a tab or U+3000 stays), no UNK."""
    text = "".join(units)
    expected = _as_tokenized(text)
    assert set(expected) <= {*_COVERAGE, " "}  # The generator stays inside the coverage.
    ids = tiny.encode(text)
    assert UNK_ID not in ids and BOS_ID not in ids and EOS_ID not in ids
    assert tiny.decode(ids) == expected


@_PROPERTY
@given(
    chars=st.lists(
        st.one_of(
            st.sampled_from([*_COVERAGE, " ", "\N{LOWER ONE EIGHTH BLOCK}"]),
            st.characters(exclude_categories=["Cs"]),  # Any code point but lone surrogates.
        ),
        max_size=30,
    )
)
@example(chars=["a", "\N{LOWER ONE EIGHTH BLOCK}", "b", " ", "\N{CAT FACE}", "\N{CAT FACE}"])
def test_characters_outside_the_coverage_are_one_unk_per_run(tiny, chars):
    """Text with characters outside the coverage (after NFC) decodes as it normalizes, with
    each run of them inside a word as one UNK, i.e. one U+FFFD. U+2581 ('▁'), which
    sentencepiece itself reads as a space, is such a character too."""
    text = "".join(chars)
    covered = re.escape("".join(_COVERAGE))
    expected = re.sub(f"[^{covered} ]+", "\N{REPLACEMENT CHARACTER}", _as_tokenized(text))
    ids = tiny.encode(text)
    assert ids.count(UNK_ID) == expected.count("\N{REPLACEMENT CHARACTER}")
    assert tiny.decode(ids) == expected
