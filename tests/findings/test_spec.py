"""Tests for s2s_jax.findings.spec: a Figure declaration is checked, and loaded from its config."""

from pathlib import Path

import pytest

from s2s_jax.errors import ConfigError
from s2s_jax.findings import Figure, spec


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "pie", "metrics": ("a.b",)}, r"Figure\.kind='pie'"),
        ({"kind": "bars", "metrics": ()}, r"Figure\.metrics=\(\)"),
        ({"kind": "bars", "metrics": ("chrf",)}, r"Figure\.metrics='chrf': expected '<section>"),
        ({"kind": "curves", "metrics": ("a.b",)}, r"Figure\.curve='': needs 'curves'"),
        ({"kind": "bars", "metrics": ("a.b",), "curve": "dev.chrf"}, r"only for kind 'curves'"),
        ({"kind": "length", "metrics": ("a.b",), "buckets": ("x",)}, r"Figure\.buckets='x'"),
        ({"kind": "length", "metrics": ("a.b",), "buckets": "a.b"}, r"give a tuple of paths"),
        ({"kind": "length", "metrics": ("a.b",)}, r"Figure\.buckets=\(\): needs 'length'"),
        (
            {"kind": "length", "metrics": ("a.b",), "buckets": ("a.b",), "minima": ("dev.loss",)},
            r"Figure\.minima=\('dev\.loss',\): is only for kinds 'curves' and 'bars'",
        ),
        (
            {"kind": "curves", "metrics": ("a.b",), "curve": "a.b", "minima": ("loss",)},
            r"Figure\.minima='loss': expected '<section>",
        ),
        (
            {"kind": "beam", "metrics": ("a.b",), "grid": "a.b", "at_steps": ("dev.chrf@400",)},
            r"Figure\.at_steps=\('dev\.chrf@400',\): is only for kinds 'curves' and 'bars'",
        ),
        (
            {"kind": "bars", "metrics": ("a.b",), "at_steps": ("dev.chrf",)},
            r"Figure\.at_steps='dev\.chrf': expected '<split>\.<key>@<step>'",
        ),
        (
            {"kind": "bars", "metrics": ("a.b",), "at_steps": ("dev.chrf@0",)},
            r"Figure\.at_steps='dev\.chrf@0': expected '<split>\.<key>@<step>'",
        ),
        (
            {"kind": "bars", "metrics": ("a.b",), "at_steps": ("chrf@400",)},
            r"Figure\.at_steps='chrf': expected '<section>\.<key>'",
        ),
    ],
)
def test_bad_declarations_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Figure(title="t", **kwargs)


def test_splits_at_the_last_dot() -> None:
    figure = Figure("t", "length", ("a.b",), buckets=("best_test_tatoeba_test.chrf", "x.y.z"))
    assert figure.buckets_splits == (("best_test_tatoeba_test", "chrf"), ("x.y", "z"))
    figure = Figure("t", "bars", ("a.b",), at_steps=("train.loss@800", "x.y.z@12"))
    assert figure.at_steps_splits == (("train", "loss", 800), ("x.y", "z", 12))


def test_load_calls_get_figure_with_the_argument(tmp_path: Path) -> None:
    path = tmp_path / "finding.py"
    path.write_text(
        "from s2s_jax.findings import Figure\n\n\n"
        "def get_figure(arg=None):\n"
        "    if arg == 'bad':\n"
        "        raise ValueError('no such variant')\n"
        "    return Figure(str(arg), 'bars', ('best_eval.exact_match',))\n"
    )
    assert spec.load(f"{path}:x").title == "x"
    assert spec.load(str(path)).title == "None"
    with pytest.raises(ConfigError, match=r"finding\.py: get_figure\('bad'\) failed: no such"):
        spec.load(f"{path}:bad")
    (tmp_path / "plain.py").write_text("X = 1\n")
    with pytest.raises(ConfigError, match=r"declares no get_figure"):
        spec.load(str(tmp_path / "plain.py"))
    with pytest.raises(ConfigError, match=r"no such config file"):
        spec.load(str(tmp_path / "absent.py"))
