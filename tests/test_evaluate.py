"""Tests for s2s_jax.evaluate: decodes as text, metrics of a set, the files, translate's lines."""

import dataclasses
import json
import os

import jax
import matplotlib.image
import numpy as np
import pytest
from helpers import step_by_step_attention, tiny_config
from hypothesis import example, given, settings
from hypothesis import strategies as st

from s2s_jax import attention_plot, checkpointing, evaluate, experiment
from s2s_jax.data.base import decode_lines
from s2s_jax.decoding.beam_search import beam_search_n_best
from s2s_jax.decoding.greedy import greedy_decode
from s2s_jax.errors import ConfigError, UserError
from s2s_jax.vocab import PAD_ID


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """An untrained tiny experiment with its initial state saved as step 0."""
    return _save_initial_state(tmp_path_factory.mktemp("eval"), tiny_config())


def _save_initial_state(workdir, config):
    """Builds `config`'s experiment in `workdir` and saves its initial state as step 0."""
    exp = experiment.build(config, str(workdir))
    state = exp.initial_state()
    manager = checkpointing.make_manager(workdir, max_to_keep=1)
    checkpointing.save(manager, 0, state, exp.data.train_batches().state(), exp.model_cfg)
    manager.wait_until_finished()
    manager.close()
    return config, str(workdir), exp, state.params


def test_decode_texts_pads_to_the_mesh_and_keeps_the_rows(saved):
    """Three rows on eight devices decode as the unsharded greedy search decodes them."""
    _, _, exp, params = saved
    src_BxS = exp.data.encode_sources(["abc", "fed", "a"], [1, 2, 3])
    tokens, _ = greedy_decode(exp.model, params, src_BxS, max_len=exp.data.max_decode_len)
    expected = [exp.data.detokenize(row) for row in jax.device_get(tokens)]
    assert evaluate.decode_texts(exp, params, src_BxS) == expected


def test_evaluate_scores_every_pair(saved):
    _, _, exp, params = saved
    pairs = exp.data.eval_sets()["eval"][:40]  # Not a multiple of the eval batch (32).
    metrics, hyps = evaluate.evaluate(exp, params, pairs)
    assert len(hyps) == 40
    right = sum(h == t for h, (_, t) in zip(hyps, pairs, strict=True))
    assert metrics["exact_match"] == right / 40
    assert {"loss", "perplexity", "token_accuracy"} <= set(metrics)


def test_format_examples_and_hypothesis_file(tmp_path):
    pairs, hyps = [("ab", "ba"), ("c", "c")], ["ba", "x"]
    assert evaluate.format_examples(pairs, hyps, 5).splitlines() == [
        "  [ok ] 'ab' -> 'ba' (reference 'ba')",
        "  [ERR] 'c' -> 'x' (reference 'c')",
    ]
    evaluate.write_hypotheses(str(tmp_path / "h.tsv"), pairs, hyps)
    assert (tmp_path / "h.tsv").read_text().splitlines() == ["ab\tba\tba", "c\tx\tc"]


def test_translate_keeps_blank_lines_blank_and_writes_the_decodes(saved):
    config, workdir, exp, params = saved
    texts = ["abc", "", "   ", "fed"]
    out = evaluate.translate(config, workdir, texts)
    src_BxS = exp.data.encode_sources(["abc", "fed"], [1, 4])
    first, last = evaluate.decode_texts(exp, params, src_BxS)
    assert out == [("abc", first), ("", ""), ("   ", ""), ("fed", last)]
    with open(f"{workdir}/decode_step0.tsv", encoding="utf-8") as f:
        assert f.read().splitlines() == [f"abc\t{first}", "\t", "   \t", f"fed\t{last}"]


def test_run_eval_writes_every_set(saved):
    config, workdir, _, _ = saved
    results = evaluate.run_eval(config, workdir)
    with open(f"{workdir}/eval_step0.json", encoding="utf-8") as f:
        assert json.load(f) == {"step": 0, **results}
    assert list(results) == ["eval"]


def test_run_eval_writes_scores_by_source_length(saved):
    """With eval.length_buckets, length_buckets_step0.json holds the eval set's rows: counts
    summing to the set, each row's exact match that of its hypotheses in the .tsv file."""
    config, workdir, _, _ = saved
    config = config.copy_and_resolve_references()
    config.eval.length_buckets = (2, 4)
    results = evaluate.run_eval(config, workdir)
    with open(f"{workdir}/length_buckets_step0.json", encoding="utf-8") as f:
        tables = json.load(f)
    assert list(tables) == list(results) == ["eval"]
    rows = tables["eval"]
    assert [(r["bucket"], r["min"], r["max"]) for r in rows] == [
        ("1-2", 1, 2), ("3-4", 3, 4), ("5+", 5, None)
    ]  # fmt: skip
    assert sum(r["count"] for r in rows) == config.task.num_eval
    with open(f"{workdir}/hypotheses/eval_step0.tsv", encoding="utf-8") as f:
        lines = [line.rstrip("\n").split("\t") for line in f]
    for row in rows:
        hi = row["max"] or 99
        mine = [h == r for s, h, r in lines if row["min"] <= len(s) <= hi]
        assert row["count"] == len(mine) > 0
        assert row["exact_match"] == pytest.approx(float(np.mean(mine)))


def test_run_eval_writes_the_beam_grid(saved):
    """eval.beam_grid: a row per (beam_size, length_penalty), scored as a run built with that
    search scores; beam 1 is greedy. with_search decodes as that build does, token for token."""
    config, workdir, _, params = saved
    config = config.copy_and_resolve_references()
    config.eval.beam_grid = ((1, 0.0), (2, 0.6))
    results = evaluate.run_eval(config, workdir)
    with open(f"{workdir}/beam_grid_step0.json", encoding="utf-8") as f:
        rows = json.load(f)["eval"]
    assert [(r["beam_size"], r["length_penalty"]) for r in rows] == [(1, 0.0), (2, 0.6)]
    assert rows[0]["exact_match"] == results["eval"]["exact_match"]  # Greedy's.
    beam = config.copy_and_resolve_references()
    beam.eval.decode, beam.eval.beam_size, beam.eval.beam_grid = "beam", 2, ()
    built = experiment.build(beam, workdir)
    pairs = built.data.eval_sets()["eval"]
    src_BxS = built.data.eval_batches(pairs)[0]["src_BxS"]
    switched = experiment.build(config, workdir).with_search(decode="beam", beam_size=2)
    np.testing.assert_array_equal(
        evaluate.decode_tokens(switched, params, src_BxS),
        evaluate.decode_tokens(built, params, src_BxS),
    )
    _, hyps = evaluate.evaluate(built, params, pairs)
    assert rows[1]["exact_match"] == built.data.score(hyps, pairs)["exact_match"]


def test_sampled_decodes_follow_eval_seed(saved):
    """decode='sample': the same batch and eval.seed give the same texts, another seed others."""
    config, workdir, _, params = saved

    def sampled(seed: int) -> list[str]:
        config_s = config.copy_and_resolve_references()
        config_s.eval.decode, config_s.eval.seed = "sample", seed
        exp = experiment.build(config_s, workdir)
        src_BxS = exp.data.eval_batches(exp.data.eval_sets()["eval"])[0]["src_BxS"]
        return evaluate.decode_texts(exp, params, src_BxS)

    first = sampled(0)
    assert sampled(0) == first
    assert sampled(1) != first


def test_translate_writes_the_n_best(saved):
    """eval.n_best=3: three lines per source (rank, score, hypothesis), best first, the scores and
    hypotheses of beam_search_n_best; blank sources get blank lines; the pairs hold the best."""
    config, workdir, _, params = saved
    config = config.copy_and_resolve_references()
    config.eval.decode, config.eval.beam_size, config.eval.n_best = "beam", 3, 3
    texts = ["abc", "", "fed"]
    out = evaluate.translate(config, workdir, texts)
    exp = experiment.build(config, workdir)
    src_BxS = exp.data.encode_sources(["abc", "fed"], [1, 3])
    tokens_BxNxL, _, scores_BxN = jax.device_get(
        jax.jit(beam_search_n_best, static_argnums=(0, 3, 4, 6))(
            exp.model, params, src_BxS, exp.data.max_decode_len, 3, 0.6, 3
        )
    )
    assert (scores_BxN[:, 0] > scores_BxN[:, 2]).all()
    with open(f"{workdir}/decode_step0.tsv", encoding="utf-8") as f:
        lines = [line.split("\t") for line in f.read().splitlines()]
    assert len(lines) == 9
    assert lines[3:6] == [["", str(rank), "", ""] for rank in (1, 2, 3)]
    for b, (text, rows) in enumerate([("abc", lines[:3]), ("fed", lines[6:])]):
        assert [row[:2] for row in rows] == [[text, "1"], [text, "2"], [text, "3"]]
        np.testing.assert_allclose([float(row[2]) for row in rows], scores_BxN[b], atol=1e-5)
        assert [row[3] for row in rows] == [exp.data.detokenize(t) for t in tokens_BxNxL[b]]
    assert out == [("abc", lines[0][3]), ("", ""), ("fed", lines[6][3])]
    assert evaluate.decode_texts(exp, params, src_BxS) == [lines[0][3], lines[6][3]]


@pytest.fixture(scope="module")
def saved_luong(tmp_path_factory):
    """As `saved`, with a Luong-attention decoder (hidden 16)."""
    config = tiny_config(model__decoder="luong", model__hidden_size=16, model__embed_size=8)
    return _save_initial_state(tmp_path_factory.mktemp("eval_luong"), config)


def test_translate_plots_the_attention_of_each_sentence(saved_luong, tmp_path, monkeypatch):
    """One PNG per non-empty line, of the weights that step-by-step decoding attends with."""
    config, workdir, exp, params = saved_luong
    drawn = {}
    write_png = attention_plot.write_png
    monkeypatch.setattr(
        attention_plot,
        "write_png",
        lambda path, amap, *a: (drawn.setdefault(path, amap), write_png(path, amap, *a)),
    )
    out = evaluate.translate(config, workdir, ["abc", "", "fedcba"], plot_dir=str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["attention_0001.png", "attention_0003.png"]
    src_BxS = exp.data.encode_sources(["abc", "fedcba"], [1, 3])
    tokens_BxL = evaluate.decode_tokens(exp, params, src_BxS)
    reference_BxLxS = step_by_step_attention(exp, params, src_BxS, tokens_BxL)
    for name, text, hyp, reference_LxS in zip(
        ["attention_0001.png", "attention_0003.png"],
        ["abc", "fedcba"],
        [out[0][1], out[2][1]],
        reference_BxLxS,
        strict=True,
    ):
        amap = drawn[str(tmp_path / name)]
        assert amap.src_pieces == list(text)
        # The target pieces are the printed translation's: EOS ends them, UNK prints as U+FFFD.
        pieces = "".join(amap.tgt_pieces).removesuffix("</s>")
        assert pieces.replace("<unk>", "\N{REPLACEMENT CHARACTER}") == hyp
        T = len(amap.tgt_pieces)
        np.testing.assert_allclose(
            amap.weights, reference_LxS[:T, : len(text)], rtol=1e-5, atol=1e-6
        )
        assert matplotlib.image.imread(tmp_path / name).ndim == 3


def test_translate_refuses_plots_without_attention(saved, tmp_path):
    config, workdir, _, _ = saved
    assert config.model.decoder == "basic"
    with pytest.raises(ConfigError, match=r"config\.model\.decoder is 'basic'"):
        evaluate.translate(config, workdir, ["abc"], plot_dir=str(tmp_path / "plots"))
    assert not (tmp_path / "plots").exists()


_WIDTH = 40  # Source columns of every decode: no line of _STDIN (<= _WIDTH bytes) is wider.


class _FixedWidth:
    """A Data whose encode_sources pads to _WIDTH columns: PAD after the longest line, as
    encode_sources itself pads the shorter ones. The search then compiles once, not again
    for every new width. Everything else is the wrapped data's."""

    def __init__(self, data):
        self._data = data

    def __getattr__(self, name: str):
        return getattr(self._data, name)

    def encode_sources(self, texts: list[str], line_numbers: list[int]) -> np.ndarray:
        src_BxS = self._data.encode_sources(texts, line_numbers)
        return np.pad(src_BxS, ((0, 0), (0, _WIDTH - src_BxS.shape[1])), constant_values=PAD_ID)


@pytest.fixture(scope="module")
def one_shape(saved):
    """The untrained tiny experiment (reverse task: a generated one, as translation data
    needs the shared corpus) decoding 8 texts at a time (one per device) of _WIDTH columns."""
    _, _, exp, params = saved
    exp = exp.with_search(batch_size=8)
    return dataclasses.replace(exp, data=_FixedWidth(exp.data)), params


# Arbitrary bytes; or, for valid text of several lines, up to 10 pieces that are each a
# character's UTF-8 or a line end, space or word; or such text with arbitrary bytes inside
# (the error's line is then often not the first). At most _WIDTH (40) bytes each time.
_PIECES = st.lists(
    st.one_of(
        st.characters(exclude_categories=["Cs"]).map(str.encode),  # At most 4 bytes.
        st.sampled_from([b"\n", b"\r\n", b"\r", b" ", b"\t", b"\x0c", b"abc", "가".encode()]),
    ),
    max_size=5,
).map(b"".join)
_HIGH_BYTE = st.integers(0x80, 0xFF).map(lambda b: bytes([b]))  # A lead or continuation byte.
_STDIN = st.one_of(
    st.binary(max_size=_WIDTH),
    st.tuples(_PIECES, _PIECES).map(b"".join),
    st.tuples(_PIECES, st.binary(min_size=1, max_size=4) | _HIGH_BYTE, _PIECES).map(b"".join),
)


@settings(max_examples=100, deadline=None)
@given(data=_STDIN)
@example(data=b"cba\r\n\r\n \t\nab\x0cc\rd\x1ce\n\n")  # One line to wc -l, 3 to splitlines.
@example(data="가\x0c\r\n\N{LINE SEPARATOR}".encode() + b"\xff")  # Line 2, offset 9.
def test_translate_texts_of_any_bytes(one_shape, data):
    """stdin's bytes, as `decode_lines` reads them, then translate_texts: invalid UTF-8 is
    the UserError naming the line and the byte offset; anything else gets one hypothesis per
    line: "" for a blank one, else the decode of that line alone. Lines are counted on the
    bytes: those ending in '\\n' (a '\\r' before it dropped), then any unterminated rest."""
    exp, params = one_shape
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        where = f"stdin:{line}: not valid UTF-8 (byte {data[e.start]:#04x} at offset {e.start})"
        with pytest.raises(UserError) as info:
            evaluate.translate_texts(exp, params, decode_lines(data, "stdin"))
        assert str(info.value).startswith(where)
        return
    raw = data.split(b"\n")
    raw = raw[:-1] if data.endswith(b"\n") or not data else raw
    lines = [line.removesuffix(b"\r").decode("utf-8") for line in raw]
    hyps = evaluate.translate_texts(exp, params, decode_lines(data, "stdin")).hyps
    assert len(hyps) == len(lines)
    for i, (line, hyp) in enumerate(zip(lines, hyps, strict=True)):
        if line == "" or line.isspace():
            assert hyp == ""
        else:
            alone = exp.data.encode_sources([line], [i + 1])
            assert [hyp] == evaluate.decode_texts(exp, params, alone)
