"""What a finding's figure shows, declared beside its sweep: `get_figure(arg)` returns a `Figure`.

A findings config (experiments/findings/*.py) declares `get_config(arg)`, `get_sweep(arg)`
and `get_figure(arg)`; scripts/finding_figure.py reads the figure's declaration from it
and everything else from the sweep's trial folders.

This module imports neither JAX nor matplotlib.
"""

import dataclasses
from typing import Literal

from s2s_jax.sweeps.spec import call_config_function

KINDS = ("curves", "length", "bars", "beam")


def _split(path: str, what: str) -> tuple[str, str]:
    """'<section>.<key>' split at the last dot; both parts must be non-empty."""
    section, _, key = path.rpartition(".")
    if not section or not key:
        raise ValueError(f"Figure.{what}={path!r}: expected '<section>.<key>', e.g. 'dev.chrf'")
    return section, key


def _split_at(path: str) -> tuple[str, str, int]:
    """'<split>.<key>@<step>' as (split, key, step); the step a positive integer."""
    curve, at, step = path.rpartition("@")
    if not at or not step.isdigit() or int(step) < 1:
        raise ValueError(
            f"Figure.at_steps={path!r}: expected '<split>.<key>@<step>', e.g. 'dev.chrf@1200'"
        )
    return (*_split(curve, "at_steps"), int(step))


@dataclasses.dataclass(frozen=True)
class Figure:
    """How a finding is drawn and tabulated from its trial folders.

    title: the figure's and the table's title.
    kind: 'curves' (the dev metric against steps, from each trial's metrics.jsonl),
        'length' (a score per source-length bucket, from length_buckets.json) or
        'bars' (the final metrics, one bar per condition) or 'beam' (a score per beam size
        and length penalty, from beam_grid.json).
    metrics: the final_eval.json values tabulated (mean ± std over seeds per condition),
        each '<section>.<key>', e.g. 'best_dev.chrf'; 'bars' draws one panel per metric.
    curve: 'curves' only: '<split>.<key>' of the metrics.jsonl lines, e.g. 'dev.chrf'.
    minima: 'curves' and 'bars': more '<split>.<key>' curves of metrics.jsonl, each
        tabulated by its lowest value over training, e.g. 'dev.perplexity'; 'curves' also
        draws each in a panel of its own.
    at_steps: 'curves' and 'bars': values of metrics.jsonl curves at one step, each
        '<split>.<key>@<step>', e.g. 'train.loss@800': tabulated to compare conditions at
        equal steps (trials that trained at different speeds in one time budget).
    buckets: 'length' only: one or more '<section>.<key>' of length_buckets.json, each drawn
        in a panel of its own and tabulated by bucket, e.g. ('best_test_tatoeba_test.chrf',).
    grid: 'beam' only: '<section>.<key>' of beam_grid.json (config.eval.beam_grid), e.g.
        'best_test_tatoeba_test.chrf'.
    """

    title: str
    kind: Literal["curves", "length", "bars", "beam"]
    metrics: tuple[str, ...]
    curve: str = ""
    buckets: tuple[str, ...] = ()
    grid: str = ""
    minima: tuple[str, ...] = ()
    at_steps: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Figure.kind={self.kind!r}: expected one of {KINDS}")
        if not isinstance(self.metrics, tuple) or not self.metrics:
            raise ValueError(f"Figure.metrics={self.metrics!r}: give a non-empty tuple of paths")
        for path in self.metrics:
            _split(path, "metrics")
        if not isinstance(self.buckets, tuple):
            raise ValueError(f"Figure.buckets={self.buckets!r}: give a tuple of paths")
        for field, kind in (("curve", "curves"), ("buckets", "length"), ("grid", "beam")):
            value = getattr(self, field)
            if (self.kind == kind) != bool(value):
                need = "needs" if self.kind == kind else "is only for kind"
                raise ValueError(f"Figure.{field}={value!r}: {need} {kind!r} (kind {self.kind!r})")
            # buckets is a tuple of paths; curve and grid one path, or '' when not set.
            paths = value if isinstance(value, tuple) else (value,) if value else ()
            for path in paths:
                _split(path, field)
        for field in ("minima", "at_steps"):
            value = getattr(self, field)
            if value and self.kind not in ("curves", "bars"):
                raise ValueError(
                    f"Figure.{field}={value!r}: is only for kinds 'curves' and 'bars' "
                    f"(kind {self.kind!r})"
                )
        for path in self.minima:
            _split(path, "minima")
        for path in self.at_steps:
            _split_at(path)

    @property
    def curve_split(self) -> tuple[str, str]:
        """('dev', 'chrf') for curve 'dev.chrf'."""
        return _split(self.curve, "curve")

    @property
    def buckets_splits(self) -> tuple[tuple[str, str], ...]:
        """(('best_eval', 'exact_match'),) for buckets ('best_eval.exact_match',)."""
        return tuple(_split(path, "buckets") for path in self.buckets)

    @property
    def minima_splits(self) -> tuple[tuple[str, str], ...]:
        """(('dev', 'perplexity'),) for minima ('dev.perplexity',)."""
        return tuple(_split(path, "minima") for path in self.minima)

    @property
    def at_steps_splits(self) -> tuple[tuple[str, str, int], ...]:
        """(('train', 'loss', 800),) for at_steps ('train.loss@800',)."""
        return tuple(_split_at(path) for path in self.at_steps)

    @property
    def grid_split(self) -> tuple[str, str]:
        """('best_test_tatoeba_test', 'chrf') for grid 'best_test_tatoeba_test.chrf'."""
        return _split(self.grid, "grid")


def load(config_spec: str) -> Figure:
    """Calls `get_figure(arg)` of the findings config `config_spec` ('path.py[:arg]')."""
    hint = "a findings config returns an s2s_jax.findings.Figure from it"
    return call_config_function(config_spec, "get_figure", Figure, hint)
