"""Pictures of attention: which source pieces each target piece was decoded from.

`attention_maps` takes a batch of sources and a decode of it (tokens, EOS kept) and
runs the teacher-forced model on (source, BOS + tokens) through `Experiment.attention`:
teacher forcing runs the decoding step's code, so these are exactly the weights the
decode used. Rows are the decoded pieces (EOS included), columns the source pieces, as
the data's tokenizer splits them (characters, or SentencePiece pieces with '▁').

Rendering is matplotlib's Agg canvas on a `Figure` of its own (no pyplot, nothing
global changed at import). Korean (or any script that matplotlib's DejaVu Sans lacks)
is drawn with a font that covers it, found through `matplotlib.font_manager`: the
preferred Korean fonts first (Noto Sans CJK KR, Noto Sans KR, Source Han Sans KR,
NanumGothic), then any CJK-looking font. Fonts installed after matplotlib built its
font cache (e.g. `apt-get install fonts-noto-cjk`) and the NanumGothic of the `plots`
extra (`pip install 's2s_jax[plots]'`, the koreanize-matplotlib package, never
imported: it changes matplotlib's settings when imported) are registered with
`fontManager.addfont` when first needed. Where no font covers the text, one warning
line says so and how to install one, and the plots are still written; matplotlib's
per-glyph warnings are silenced.
"""

import contextlib
import dataclasses
import importlib.util
import os
import re
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from absl import logging

from s2s_jax import distributed, experiment
from s2s_jax.errors import ConfigError
from s2s_jax.vocab import BOS_ID, EOS_ID, PAD_ID

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn, not with the package.
    from matplotlib.figure import Figure

DEFAULT_FONT = "DejaVu Sans"  # Ships with matplotlib: Latin, Greek, Cyrillic, '▁'; no Hangul.
PREFERRED_FONTS = ("Noto Sans CJK KR", "Noto Sans KR", "Source Han Sans KR", "NanumGothic")
# Names (family or file) that may cover Hangul or other CJK text; coverage is then checked.
_CJK_HINT = re.compile(
    r"cjk|nanum|han ?sans|han ?serif|kr\b|korean|hangul|malgun|gulim|dotum|batang|baekmuk|"
    r"gothic|myeongjo",
    re.IGNORECASE,
)
PACKAGED_FONTS = ("koreanize_matplotlib",)  # The `plots` extra: packages with fonts/*.ttf.
INSTALL_HINT = "apt-get install fonts-noto-cjk, or pip install 's2s_jax[plots]'"


@dataclasses.dataclass(frozen=True)
class AttentionMap:
    """One sentence's attention: weights[t, s] is target piece t's weight on source piece s."""

    src_pieces: list[str]
    tgt_pieces: list[str]
    weights: np.ndarray  # [T, S]: T target pieces (EOS included), S source pieces.


def require_attention(exp: experiment.Experiment) -> None:
    """A ConfigError unless the model has attention to show."""
    if exp.attention is None:
        raise ConfigError(
            f"attention plots need an attention decoder: config.model.decoder is "
            f"{exp.config.model.decoder!r}, which has no attention; use 'bahdanau' or 'luong'"
        )


def attention_maps(
    exp: experiment.Experiment, params: Any, src_BxS: np.ndarray, tokens_BxL: np.ndarray
) -> list[AttentionMap]:
    """The attention of decoding `tokens_BxL` (a decode of `src_BxS`: EOS kept, PAD after)
    from `src_BxS`, one map per row; host arrays, padded here to fit the mesh."""
    require_attention(exp)
    n = src_BxS.shape[0]
    pad = -n % exp.mesh.size
    src_BxS = np.concatenate([src_BxS, np.zeros((pad, src_BxS.shape[1]), src_BxS.dtype)])
    tokens_BxL = np.concatenate([tokens_BxL, np.zeros((pad, tokens_BxL.shape[1]), np.int32)])
    bos_Bx1 = np.full((n + pad, 1), BOS_ID, np.int32)
    tgt_in_BxL = np.concatenate([bos_Bx1, tokens_BxL[:, :-1]], axis=1).astype(np.int32)
    weights_BxLxS = np.asarray(
        distributed.to_host(
            exp.attention(params, exp.put_whole_batch(src_BxS), exp.put_whole_batch(tgt_in_BxL))
        )
    )
    maps = []
    for src, tokens, weights_LxS in zip(src_BxS[:n], tokens_BxL[:n], weights_BxLxS, strict=False):
        S = int(np.sum(src != PAD_ID))  # PAD only ever follows a source's last token.
        eos = np.flatnonzero(tokens == EOS_ID)
        T = int(eos[0]) + 1 if eos.size else len(tokens)
        maps.append(
            AttentionMap(
                exp.data.src_pieces(src[:S]), exp.data.tgt_pieces(tokens[:T]), weights_LxS[:T, :S]
            )
        )
    return maps


def _packaged_font_files() -> list[str]:
    """The .ttf/.otf files of the installed PACKAGED_FONTS, found without importing them."""
    files = []
    for package in PACKAGED_FONTS:
        spec = importlib.util.find_spec(package)
        for folder in (spec and spec.submodule_search_locations) or []:
            fonts = os.path.join(folder, "fonts")
            if os.path.isdir(fonts):
                names = [f for f in os.listdir(fonts) if f.endswith((".ttf", ".otf"))]
                files += sorted(os.path.join(fonts, f) for f in names)
    return files


def font_candidates() -> list[tuple[str, str]]:
    """(family, file) of the fonts that may cover CJK text, PREFERRED_FONTS first.

    Registers with matplotlib the packaged fonts and the system's CJK-looking ones that
    its font cache does not list yet.
    """
    from matplotlib import font_manager

    manager = font_manager.fontManager
    known = {entry.fname for entry in manager.ttflist}
    system = [p for p in font_manager.findSystemFonts() if _CJK_HINT.search(os.path.basename(p))]
    for path in _packaged_font_files() + system:
        if path not in known:
            with contextlib.suppress(Exception):  # An unreadable font file: not a candidate.
                manager.addfont(path)
                known.add(path)
    found = {(e.name, e.fname) for e in manager.ttflist if _CJK_HINT.search(e.name)}
    rank = {name: i for i, name in enumerate(PREFERRED_FONTS)}
    return sorted(found, key=lambda entry: (rank.get(entry[0], len(rank)), entry))


def _charmap(path: str) -> set[int]:
    from matplotlib import font_manager

    return set(font_manager.get_font(path).get_charmap())


def choose_fonts(texts: Iterable[str]) -> list[str]:
    """The font families to draw `texts` with: DEFAULT_FONT, then (if it lacks some of
    their characters) the first candidate font that covers them all.

    Where none does, logs one warning line naming the characters and how to install a
    font, and returns DEFAULT_FONT and the candidate that covers the most of them, if any.
    """
    from matplotlib import font_manager

    default = _charmap(font_manager.findfont(DEFAULT_FONT))
    chars = {c for text in texts for c in text if not c.isspace()}
    missing = sorted((c for c in chars if ord(c) not in default), key=ord)
    if not missing:
        return [DEFAULT_FONT]
    best, best_count, coverage = None, 0, {}
    for name, path in font_candidates():
        if path not in coverage:
            coverage[path] = sum(ord(c) in _charmap(path) for c in missing)
        if coverage[path] == len(missing):
            return [DEFAULT_FONT, name]
        if coverage[path] > best_count:
            best, best_count = name, coverage[path]
    logging.warning(
        "Attention plots: no installed font covers %r (%d characters); they are drawn as boxes. "
        "Install one: %s",
        "".join(missing[:10]),
        len(missing),
        INSTALL_HINT,
    )
    return [DEFAULT_FONT] + ([best] if best else [])


@contextlib.contextmanager
def _quiet_glyphs() -> Iterator[None]:
    """matplotlib's "Glyph … missing from font(s)" warnings off: choose_fonts said it once."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph .* missing from", category=UserWarning)
        yield


def figure(amap: AttentionMap, fonts: Sequence[str] = (DEFAULT_FONT,), title: str = "") -> "Figure":
    """A heat map of `amap` (source pieces across, target pieces down) on an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    T, S = amap.weights.shape
    if (len(amap.tgt_pieces), len(amap.src_pieces)) != (T, S):
        raise ValueError(
            f"weights of shape {(T, S)} for {len(amap.tgt_pieces)} target and "
            f"{len(amap.src_pieces)} source pieces"
        )
    size = (min(2.5 + 0.3 * S, 40), min(2.0 + 0.3 * T, 40))
    fig = Figure(figsize=size, dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(
        amap.weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest"
    )
    text = {"fontproperties": FontProperties(family=list(fonts), size=9), "parse_math": False}
    ax.set_xticks(range(S), amap.src_pieces, rotation=90, **text)
    ax.set_yticks(range(T), amap.tgt_pieces, **text)
    ax.set_xlabel("source")
    ax.set_ylabel("target")
    if title:
        ax.set_title(title, **text)
    fig.colorbar(image, ax=ax, fraction=0.05)
    return fig


def write_png(path: str, amap: AttentionMap, fonts: Sequence[str], title: str = "") -> None:
    with _quiet_glyphs():
        figure(amap, fonts, title).savefig(path)


def image(amap: AttentionMap, fonts: Sequence[str], title: str = "") -> np.ndarray:
    """The rendered figure as an HxWx3 uint8 array (e.g. for TensorBoard)."""
    fig = figure(amap, fonts, title)
    with _quiet_glyphs():
        fig.canvas.draw()
    return np.array(fig.canvas.buffer_rgba())[..., :3]


def write_plots(plot_dir: str, maps: dict[int, AttentionMap]) -> list[str]:
    """plot_dir/attention_<n>.png for each line number n (1-based) of `maps`; the paths."""
    os.makedirs(plot_dir, exist_ok=True)
    fonts = choose_fonts(p for amap in maps.values() for p in amap.src_pieces + amap.tgt_pieces)
    paths = []
    for n, amap in sorted(maps.items()):
        paths.append(os.path.join(plot_dir, f"attention_{n:04d}.png"))
        write_png(paths[-1], amap, fonts, f"line {n}")
    logging.info("Wrote %d attention plots to %s", len(paths), plot_dir)
    return paths
