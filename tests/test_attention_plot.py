"""Tests for s2s_jax.attention_plot: the weights are those of step-by-step decoding, the
pieces are the tokenizer's, PNGs and images are written, and Korean finds a font (or one
line says how to get one)."""

import sys
import warnings

import matplotlib.image
import numpy as np
import pytest
from helpers import step_by_step_attention, tiny_config
from matplotlib import font_manager

from s2s_jax import attention_plot, evaluate, experiment
from s2s_jax.errors import ConfigError
from s2s_jax.vocab import EOS_ID, SPECIALS

KOREAN = attention_plot.AttentionMap(
    ["▁I", "'m", "▁hungry", "."], ["▁배", "고", "파요", "</s>"], np.full((4, 4), 0.25)
)


@pytest.fixture(
    scope="module",
    params=[False, pytest.param(True, marks=pytest.mark.slow)],  # Both in the full suite.
    ids=["forward", "reverse_source"],
)
def luong(request, tmp_path_factory):
    """A tiny untrained Luong-attention experiment and its initial params; with and without
    source reversal (the encoder's memory is then in reverse order)."""
    config = tiny_config(
        model__decoder="luong",
        model__hidden_size=16,
        model__embed_size=8,
        model__reverse_source=request.param,
        task__max_len=8,
    )
    exp = experiment.build(config, str(tmp_path_factory.mktemp("luong")))
    return exp, exp.initial_state().params


def test_maps_hold_the_weights_of_step_by_step_decoding(luong):
    exp, params = luong
    texts = ["abc", "fedcbaab", "a"]
    src_BxS = exp.data.encode_sources(texts, [1, 2, 3])
    tokens_BxL = evaluate.decode_tokens(exp, params, src_BxS)
    maps = attention_plot.attention_maps(exp, params, src_BxS, tokens_BxL)
    reference_BxLxS = step_by_step_attention(exp, params, src_BxS, tokens_BxL)
    assert len(maps) == 3
    for text, tokens, reference_LxS, amap in zip(
        texts, tokens_BxL, reference_BxLxS, maps, strict=True
    ):
        assert amap.src_pieces == list(text)  # Characters, as the generated tasks split them.
        T = list(tokens).index(EOS_ID) + 1 if EOS_ID in tokens else len(tokens)
        chars = exp.data.task.vocab.chars
        assert amap.tgt_pieces == [SPECIALS[i] if i < 4 else chars[i - 4] for i in tokens[:T]]
        memory_TxS = reference_LxS[:T, : len(text)]  # In the encoder's order of the source.
        if exp.model_cfg.reverse_source:
            memory_TxS = memory_TxS[:, ::-1]
        np.testing.assert_allclose(amap.weights, memory_TxS, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(amap.weights.sum(-1), 1.0, rtol=1e-5)  # No weight on PAD.


def test_decoders_without_attention_are_refused(tmp_path):
    exp = experiment.build(
        tiny_config(model__decoder="context", model__hidden_size=8), str(tmp_path)
    )
    assert exp.attention is None
    with pytest.raises(ConfigError, match=r"config\.model\.decoder is 'context'"):
        attention_plot.attention_maps(
            exp, None, np.ones((1, 2), np.int32), np.ones((1, 2), np.int32)
        )


def test_pngs_are_written_one_per_line_and_match_the_image(tmp_path):
    fonts = [attention_plot.DEFAULT_FONT]
    latin = attention_plot.AttentionMap(list("abc"), ["c", "b", "a", "</s>"], np.eye(4, 3))
    paths = attention_plot.write_plots(str(tmp_path), {1: latin, 3: latin})
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "attention_0001.png",
        "attention_0003.png",
    ]
    assert [str(tmp_path / "attention_0001.png"), str(tmp_path / "attention_0003.png")] == paths
    with open(paths[0], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    png = matplotlib.image.imread(paths[0])
    image = attention_plot.image(latin, fonts, "line 1")
    assert image.dtype == np.uint8 and image.shape == (*png.shape[:2], 3)
    np.testing.assert_array_equal(np.round(png[..., :3] * 255).astype(np.uint8), image)


def test_a_mismatched_map_is_refused():
    with pytest.raises(ValueError, match="weights of shape"):
        attention_plot.figure(attention_plot.AttentionMap(["a"], ["b"], np.ones((2, 1))))


def test_latin_text_needs_no_other_font():
    assert attention_plot.choose_fonts(["▁abc </s>", "xyz"]) == [attention_plot.DEFAULT_FONT]


def test_korean_gets_a_font_that_covers_hangul(tmp_path):
    fonts = attention_plot.choose_fonts(["▁배고파요", "</s>"])
    if len(fonts) == 1:
        pytest.skip(f"no font with Hangul here ({attention_plot.INSTALL_HINT})")
    assert fonts[0] == attention_plot.DEFAULT_FONT
    path = font_manager.findfont(font_manager.FontProperties(family=fonts[1]))
    charmap = font_manager.get_font(path).get_charmap()
    assert all(ord(c) in charmap for c in "배고파요")
    with warnings.catch_warnings(record=True) as caught:  # No glyph is missing.
        warnings.simplefilter("always")
        attention_plot.write_png(str(tmp_path / "ko.png"), KOREAN, fonts)
    assert not [w for w in caught if "missing from" in str(w.message)]


def test_without_a_korean_font_one_line_says_how_to_install_one(tmp_path, monkeypatch):
    monkeypatch.setattr(attention_plot, "font_candidates", lambda: [])
    lines = []
    monkeypatch.setattr(attention_plot.logging, "warning", lambda *a: lines.append(a[0] % a[1:]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        paths = attention_plot.write_plots(str(tmp_path), {1: KOREAN, 2: KOREAN})
    assert len(lines) == 1, lines
    assert "fonts-noto-cjk" in lines[0] and "s2s_jax[plots]" in lines[0] and "배" in lines[0]
    assert not [w for w in caught if "missing from" in str(w.message)]  # Said once, not per glyph.
    assert len(paths) == 2 and all(matplotlib.image.imread(p).ndim == 3 for p in paths)


def test_the_packaged_font_is_found_without_importing_its_package():
    """The plots extra's NanumGothic, when installed; importing koreanize_matplotlib would
    change matplotlib's global settings."""
    files = attention_plot._packaged_font_files()
    if not files:
        pytest.skip("the plots extra (koreanize-matplotlib) is not installed")
    assert any(f.endswith("NanumGothic.ttf") for f in files)
    assert "koreanize_matplotlib" not in sys.modules
    names = {name for name, _ in attention_plot.font_candidates()}
    assert "NanumGothic" in names
    assert "koreanize_matplotlib" not in sys.modules
