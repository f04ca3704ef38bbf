"""Tests for s2s_jax.translation_metrics: the scores equal sacrebleu's command line."""

import importlib.util
import json
import logging
import subprocess
import sys

import pytest

from s2s_jax.data import translation_metrics
from s2s_jax.data.translation_metrics import (
    corpus_scores,
    ko_bleu_tokenizer,
    read_hypotheses,
    write_hypotheses,
)

SOURCES = ["I went to school yesterday.", "The cat is on the mat.", "나는 커피를 좋아한다."]
HYPS = [
    "나는 어제 학교에 갔습니다.",
    "고양이가 매트 위에 있어요.",
    "The cat sat on the mat.",
    "I like coffee very much.",
    "오늘은 날씨가 정말 좋네요!",
]
REFS = [
    "나는 어제 학교에 갔다.",
    "고양이는 매트 위에 있다.",
    "The cat is on the mat.",
    "I like coffee.",
    "오늘 날씨가 참 좋다!",
]


def _cli(ref_path, hyp_path, *args: str) -> list[float]:
    """Scores printed by `python -m sacrebleu` (6 decimals), in the order of `-m`."""
    command = [sys.executable, "-m", "sacrebleu", str(ref_path), "-i", str(hyp_path)]
    out = subprocess.run(
        [*command, "-b", "-w", "6", *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    scores = json.loads(out)
    return scores if isinstance(scores, list) else [scores]


@pytest.fixture
def files(tmp_path):
    ref_path, hyp_path = tmp_path / "ref.txt", tmp_path / "hyp.txt"
    ref_path.write_text("".join(f"{r}\n" for r in REFS), encoding="utf-8")
    hyp_path.write_text("".join(f"{h}\n" for h in HYPS), encoding="utf-8")
    return ref_path, hyp_path


def test_scores_match_the_sacrebleu_command_line(files):
    """bleu, chrf, bleu_char and bleu_ko agree with the CLI to its printed 6 decimals."""
    scores = corpus_scores(HYPS, REFS)
    assert set(scores) == {"bleu", "chrf", "bleu_ko", "bleu_ko_tokenizer", "bleu_char"}
    bleu, chrf = _cli(*files, "-m", "bleu", "chrf")
    (bleu_char,) = _cli(*files, "-m", "bleu", "--tokenize", "char")
    (bleu_ko,) = _cli(*files, "-m", "bleu", "--tokenize", scores["bleu_ko_tokenizer"])
    assert scores["bleu"] == pytest.approx(bleu, abs=1e-6)
    assert scores["chrf"] == pytest.approx(chrf, abs=1e-6)
    assert scores["bleu_char"] == pytest.approx(bleu_char, abs=1e-6)
    assert scores["bleu_ko"] == pytest.approx(bleu_ko, abs=1e-6)
    assert 0 < scores["bleu"] < 100 and len({bleu, bleu_char, bleu_ko}) == 3  # Not vacuous.


@pytest.mark.skipif(
    importlib.util.find_spec("mecab_ko") is None, reason="mecab-ko (sacrebleu[ko]) is absent"
)
def test_ko_mecab_works_where_installed():
    """With sacrebleu[ko] installed (a project dependency), Korean BLEU uses morphemes."""
    assert ko_bleu_tokenizer() == "ko-mecab"
    assert corpus_scores(HYPS, REFS)["bleu_ko_tokenizer"] == "ko-mecab"


def test_falls_back_to_char_with_a_warning(monkeypatch, caplog):
    """Without a working ko-mecab, bleu_ko is the char BLEU and a warning says so."""

    def no_mecab(tokenize: str = "13a", **kwargs):
        if tokenize == "ko-mecab":
            raise ImportError("no module named mecab_ko")
        return real_bleu(tokenize=tokenize, **kwargs)

    real_bleu = translation_metrics.BLEU
    monkeypatch.setattr(translation_metrics, "BLEU", no_mecab)
    ko_bleu_tokenizer.cache_clear()
    try:
        with caplog.at_level(logging.WARNING):
            scores = corpus_scores(HYPS, REFS)
        assert scores["bleu_ko_tokenizer"] == "char"
        assert scores["bleu_ko"] == scores["bleu_char"]
        assert "falls back to tokenize='char'" in caplog.text
    finally:
        ko_bleu_tokenizer.cache_clear()


def test_mismatched_lengths_and_empty_input_are_refused():
    with pytest.raises(ValueError, match=r"do not pair up: \{'hyps': 5, 'refs': 4\}"):
        corpus_scores(HYPS, REFS[:-1])
    with pytest.raises(ValueError, match="no hypotheses"):
        corpus_scores([], [])
    with pytest.raises(ValueError, match=r"'sources': 3, 'hyps': 5"):
        write_hypotheses("unused.tsv", SOURCES, HYPS, REFS)


def test_hypothesis_file_columns_are_sacrebleu_inputs(tmp_path):
    """The TSV reads back; its hypothesis and reference columns score like the CLI files."""
    path = tmp_path / "hyps.tsv"
    sources = [*SOURCES, "two\tfields", "a line\nbreak"]
    write_hypotheses(str(path), sources, HYPS, REFS)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 5 and all(line.count("\t") == 2 for line in lines)
    got_sources, got_hyps, got_refs = read_hypotheses(str(path))
    assert got_sources == [*SOURCES, "two fields", "a line break"]
    assert (got_hyps, got_refs) == (HYPS, REFS)
    assert corpus_scores(got_hyps, got_refs) == corpus_scores(HYPS, REFS)
