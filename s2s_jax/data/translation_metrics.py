"""Corpus-level translation scores with sacrebleu, and the hypothesis file of an eval.

The scores are what sacrebleu's command line prints for the same detokenized text, so a
number here can be checked, or compared with a published one, by running sacrebleu on the
columns of the file `write_hypotheses` writes:

    cut -f3 hyps.tsv > ref.txt; cut -f2 hyps.tsv > hyp.txt
    sacrebleu ref.txt -i hyp.txt -m bleu chrf [--tokenize char|ko-mecab]
"""

import functools
from collections.abc import Sequence

from absl import logging
from sacrebleu.metrics import BLEU, CHRF

from s2s_jax import atomic_write

_KO_PROBE = "나는 어제 학교에 갔다."


@functools.cache
def ko_bleu_tokenizer() -> str:
    """'ko-mecab' if sacrebleu's Korean tokenizer works here, else 'char' (with a warning).

    Decided once, on first use: ko-mecab needs the optional mecab-ko packages
    (`sacrebleu[ko]`), and importing them has no reason to happen before a score is wanted.
    """
    try:
        BLEU(tokenize="ko-mecab").corpus_score([_KO_PROBE], [[_KO_PROBE]])
    except Exception as error:  # Missing packages or dictionary: ImportError, RuntimeError...
        logging.warning(
            "sacrebleu's ko-mecab tokenizer does not work here (%s: %s); Korean BLEU "
            "(bleu_ko) falls back to tokenize='char'. Install sacrebleu[ko] for ko-mecab.",
            type(error).__name__,
            error,
        )
        return "char"
    return "ko-mecab"


def _check_lengths(**columns: Sequence[str]) -> int:
    lengths = {name: len(column) for name, column in columns.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"the lines do not pair up: {lengths}")
    return next(iter(lengths.values()))


def corpus_scores(hyps: list[str], refs: list[str]) -> dict[str, float | str]:
    """Corpus scores of detokenized hypotheses against one reference each.

    Returns:
      bleu:              BLEU with sacrebleu's default '13a' tokenizer.
      chrf:              chrF2 (sacrebleu's CHRF defaults: character 6-grams, beta 2).
      bleu_ko:           BLEU with tokenize='ko-mecab' (morphemes), or 'char' where
                         ko-mecab does not work; for Korean targets.
      bleu_ko_tokenizer: which of the two `bleu_ko` used.
      bleu_char:         BLEU with tokenize='char', always (reference numbers include it).
    """
    if not _check_lengths(hyps=hyps, refs=refs):
        raise ValueError("no hypotheses to score")
    hyps, refs_by_set = list(hyps), [list(refs)]
    ko_tokenizer = ko_bleu_tokenizer()
    bleu_char = BLEU(tokenize="char").corpus_score(hyps, refs_by_set).score
    bleu_ko = (
        BLEU(tokenize=ko_tokenizer).corpus_score(hyps, refs_by_set).score
        if ko_tokenizer != "char"
        else bleu_char
    )
    return {
        "bleu": float(BLEU().corpus_score(hyps, refs_by_set).score),
        "chrf": float(CHRF().corpus_score(hyps, refs_by_set).score),
        "bleu_ko": float(bleu_ko),
        "bleu_ko_tokenizer": ko_tokenizer,
        "bleu_char": float(bleu_char),
    }


def _one_line(text: str) -> str:
    return " ".join(text.replace("\t", " ").splitlines())


def write_hypotheses(
    path: str, sources: Sequence[str], hyps: Sequence[str], refs: Sequence[str]
) -> None:
    """Writes one 'source<TAB>hypothesis<TAB>reference' line per example, no header.

    TSV keeps each hypothesis next to what it translates, for reading, and its columns are
    sacrebleu's inputs as they are (`cut -f2`, `cut -f3`). A tab or line break inside a
    field (cleaned text has none) becomes a space, so the columns stay aligned.
    """
    _check_lengths(sources=sources, hyps=hyps, refs=refs)
    lines = (f"{_one_line(s)}\t{_one_line(h)}\t{_one_line(r)}\n"
             for s, h, r in zip(sources, hyps, refs, strict=True))  # fmt: skip
    atomic_write.write_text(path, "".join(lines))  # A full disk: a DiskFullError naming it.


def read_hypotheses(path: str) -> tuple[list[str], list[str], list[str]]:
    """(sources, hypotheses, references) from a file of `write_hypotheses`."""
    with open(path, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f]
    for number, row in enumerate(rows, start=1):
        if len(row) != 3:
            raise ValueError(f"{path}: line {number} does not have 3 tab-separated fields")
    sources = [row[0] for row in rows]
    hyps = [row[1] for row in rows]
    refs = [row[2] for row in rows]
    return sources, hyps, refs
