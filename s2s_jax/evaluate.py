"""Evaluation, decoding and translation from a checkpoint.

Each held-out set gets teacher-forced metrics (loss, perplexity, token
accuracy) and the data's scores of decodes, greedy, beam search or sampling per
`config.eval.decode` (exact match; BLEU and chrF for translation).
Hypotheses are written next to the metrics. With several processes, each puts its own
rows of every batch on its devices, the decodes are gathered back to all of them (so all
compute the same scores), and process 0 alone writes files.
"""

import dataclasses
import os
import time
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging

from s2s_jax import (
    atomic_write,
    attention_plot,
    checkpointing,
    distributed,
    experiment,
    length_buckets,
)
from s2s_jax.data import Pair, translation_metrics
from s2s_jax.decoding.sampling import batch_key
from s2s_jax.length_buckets import Row
from s2s_jax.losses import summarize
from s2s_jax.metric_log import MetricLog
from s2s_jax.steps import tree_add


def _decode_args(exp: experiment.Experiment, src_BxS: np.ndarray) -> tuple[jax.Array, jax.Array]:
    """The batch padded to fit the mesh, on the devices, and its sampling key (eval.seed)."""
    pad = -src_BxS.shape[0] % exp.mesh.size
    src_BxS = np.concatenate([src_BxS, np.zeros((pad, src_BxS.shape[1]), src_BxS.dtype)])
    return exp.put_whole_batch(src_BxS), batch_key(exp.config.eval.seed, src_BxS)


def decode_texts(exp: experiment.Experiment, params: Any, src_BxS: np.ndarray) -> list[str]:
    """Decodes of a host batch, as strings; pads the batch to fit the mesh.

    Sampling draws with a key of eval.seed and the batch: the same batch, the same samples.
    """
    return [exp.data.detokenize(row) for row in decode_tokens(exp, params, src_BxS)]


def decode_tokens(exp: experiment.Experiment, params: Any, src_BxS: np.ndarray) -> np.ndarray:
    """tokens_BxL decoded from a host batch (EOS kept, PAD after it), as `decode_texts`."""
    tokens_BxL, _ = distributed.to_host(exp.decode(params, *_decode_args(exp, src_BxS)))
    return np.asarray(tokens_BxL[: src_BxS.shape[0]])


def n_best_texts(
    exp: experiment.Experiment, params: Any, src_BxS: np.ndarray
) -> list[list[tuple[float, str]]]:
    """Beam search's eval.n_best (score, hypothesis) per row of a host batch, best first."""
    tokens_BxNxL, _, scores_BxN = distributed.to_host(
        exp.decode_n_best(params, *_decode_args(exp, src_BxS))
    )
    n = src_BxS.shape[0]
    return [
        [(float(score), exp.data.detokenize(row)) for score, row in zip(scores, rows, strict=True)]
        for scores, rows in zip(scores_BxN[:n], tokens_BxNxL[:n], strict=True)
    ]


def _n_best_lines(texts: list[str], ranked: list[list[tuple[float, str]]], n: int) -> list[str]:
    """source<TAB>rank<TAB>score<TAB>hypothesis, n lines per source (empty ones for blanks)."""
    lines = []
    for text, best in zip(texts, ranked, strict=True):
        for rank in range(n):
            score, hyp = (f"{best[rank][0]:.6f}", best[rank][1]) if best else ("", "")
            lines.append(f"{text}\t{rank + 1}\t{score}\t{hyp}\n")
    return lines


def evaluate(
    exp: experiment.Experiment, params: Any, pairs: list[Pair]
) -> tuple[dict[str, float], list[str]]:
    """Teacher-forced metrics and decode scores on `pairs`; returns (metrics, hypotheses)."""
    sums, batches = None, exp.data.eval_batches(pairs)
    for batch in batches:
        sums = tree_add(sums, jax.device_get(exp.eval_step(params, exp.put_whole_batch(batch))))
    hyps = _decoded(exp, params, batches, len(pairs))
    return {**summarize(sums), **exp.data.score(hyps, pairs)}, hyps


def _decoded(exp: experiment.Experiment, params: Any, batches: list, n: int) -> list[str]:
    """The decodes of eval batches' sources, as strings, the first `n` (the real pairs)."""
    return [h for batch in batches for h in decode_texts(exp, params, batch["src_BxS"])][:n]


def beam_grid_searches(exp: experiment.Experiment) -> list[experiment.Experiment]:
    """`exp` with beam search at each eval.beam_grid (beam_size, length_penalty), each
    jitted once for all the sets it scores."""
    return [
        exp.with_search(decode="beam", beam_size=beam_size, length_penalty=alpha, n_best=1)
        for beam_size, alpha in exp.config.eval.beam_grid
    ]


def beam_grid_rows(
    searches: list[experiment.Experiment], params: Any, pairs: list[Pair]
) -> list[Row]:
    """The scores of `pairs` decoded by each of `beam_grid_searches`: one row per setting,
    {"beam_size", "length_penalty", **data.score}."""
    rows = []
    for search in searches:
        hyps = _decoded(search, params, search.data.eval_batches(pairs), len(pairs))
        scores = search.data.score(hyps, pairs)
        beam = {k: search.config.eval[k] for k in ("beam_size", "length_penalty")}
        rows.append({**beam, **scores})
    return rows


def write_tables(workdir: str, tables: dict[str, dict[str, list[Row]]], suffix: str = "") -> None:
    """Writes workdir/<kind><suffix>.json for each kind of `evaluate_sets` table it holds
    (process 0 only)."""
    if not distributed.is_writer():
        return
    for kind, by_set in tables.items():
        if by_set:
            length_buckets.write_tables(os.path.join(workdir, f"{kind}{suffix}.json"), by_set)


def format_examples(pairs: list[Pair], hyps: list[str], n: int) -> str:
    lines = []
    for (src, tgt), hyp in zip(pairs[:n], hyps[:n], strict=True):
        mark = "ok " if hyp == tgt else "ERR"
        lines.append(f"  [{mark}] {src!r} -> {hyp!r} (reference {tgt!r})")
    return "\n".join(lines)


def write_hypotheses(path: str, pairs: list[Pair], hyps: list[str]) -> None:
    """source<TAB>hypothesis<TAB>reference, one line per example."""
    translation_metrics.write_hypotheses(path, [s for s, _ in pairs], hyps, [t for _, t in pairs])


def load_params(exp: experiment.Experiment, workdir: str, best: bool = False) -> tuple[Any, int]:
    """The params and step of the latest (or best) checkpoint; a clear error if there is none."""
    directory = os.path.join(workdir, "best" if best else "checkpoints")
    if not os.path.isdir(directory):
        raise checkpointing.CheckpointError(
            f"no checkpoints in {os.path.abspath(workdir)}; train first with --mode=train"
        )
    manager = checkpointing.make_manager(workdir, max_to_keep=1, read_only=True, best=best)
    state, _ = exp.restore(manager)
    manager.close()
    return state.params, int(state.step)


def best_or_latest_params(exp: experiment.Experiment, workdir: str) -> tuple[Any, int]:
    """The best checkpoint when training kept one, else the latest."""
    return load_params(exp, workdir, best=os.path.isdir(os.path.join(workdir, "best")))


def evaluate_sets(
    exp: experiment.Experiment,
    params: Any,
    step: int,
    names: list[str],
    workdir: str,
    log: MetricLog | None = None,
    prefix: str = "",
    tables: dict[str, dict[str, list[Row]]] | None = None,
) -> dict[str, dict[str, float]]:
    """Evaluates the held-out sets `names`; keys results, logs and hypothesis files by
    prefix + name. Metrics also go to `log` when given; hypotheses go to
    workdir/hypotheses/<prefix><name>_step<step>.tsv.

    With `tables` given, each set's further tables are logged and put in it, keyed like the
    results: tables["length_buckets"] (config.eval.length_buckets: scores by source length,
    from the same hypotheses) and tables["beam_grid"] (config.eval.beam_grid: scores of
    beam search at each setting); `write_tables` writes them.
    """
    results = {}
    searches = beam_grid_searches(exp) if tables is not None else []
    for name in names:
        pairs = exp.data.eval_sets()[name]
        start = time.perf_counter()
        metrics, hyps = evaluate(exp, params, pairs)
        metrics["eval_seconds"] = time.perf_counter() - start
        name = prefix + name
        examples = format_examples(pairs, hyps, exp.config.eval.num_examples_to_log)
        if log is not None:
            log.write(step, name, metrics)
            log.write_text(step, f"{name}/examples", examples)
        hyps_dir = os.path.join(workdir, "hypotheses")
        if distributed.is_writer():
            os.makedirs(hyps_dir, exist_ok=True)
            write_hypotheses(os.path.join(hyps_dir, f"{name}_step{step}.tsv"), pairs, hyps)
        scores = " | ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k != "eval_seconds")
        logging.info("%-6s step %d | %s\n%s", name, step, scores, examples)
        results[name] = metrics
        if tables is None:
            continue
        edges = tuple(exp.config.eval.length_buckets)
        if edges:
            rows = length_buckets.bucket_table(exp.data, hyps, pairs, edges)
            tables.setdefault("length_buckets", {})[name] = rows
            table = length_buckets.format_table(rows)
            logging.info("%s step %d by source length:\n%s", name, step, table)
        if searches:
            rows = beam_grid_rows(searches, params, pairs)
            tables.setdefault("beam_grid", {})[name] = rows
            table = length_buckets.format_table(rows)
            logging.info("%s step %d by beam size and length penalty:\n%s", name, step, table)
    return results


def run_eval(config: ml_collections.ConfigDict, workdir: str) -> dict[str, dict[str, float]]:
    """Evaluates the best (else latest) checkpoint in `workdir` on every held-out set."""
    exp = experiment.build(config, workdir)
    params, step = best_or_latest_params(exp, workdir)
    tables: dict[str, dict[str, list[Row]]] = {}
    names = list(exp.data.eval_sets())
    results = evaluate_sets(exp, params, step, names, workdir, tables=tables)
    write_tables(workdir, tables, f"_step{step}")
    if distributed.is_writer():
        path = os.path.join(workdir, f"eval_step{step}.json")
        atomic_write.write_json(path, {"step": step, **results})
    return results


@dataclasses.dataclass(frozen=True)
class Translations:
    """What `translate_texts` gives for its texts, one entry per text."""

    hyps: list[str]  # The (best) hypothesis of each text; "" for a blank one.
    # eval.n_best > 1 (beam search): each text's n best (score, hypothesis), best first; []
    # for a blank one. Otherwise every entry is [].
    ranked: list[list[tuple[float, str]]]
    # attention=True only: text number (1-based) -> the attention of its (best) decode.
    maps: dict[int, attention_plot.AttentionMap]


def translate_texts(
    exp: experiment.Experiment, params: Any, texts: list[str], attention: bool = False
) -> Translations:
    """Decodes `texts` (one sentence each) in batches of eval.batch_size; blank (empty or
    all-space) texts are not decoded and get "". The data names text n (1-based) in its
    warnings (e.g. a line cut to the largest bucket). With `attention` (attention decoders
    only), also the attention map of each non-blank text's (best) decode."""
    todo = [i for i, t in enumerate(texts) if t.strip()]
    hyps = [""] * len(texts)
    n_best = exp.config.eval.n_best
    ranked: list[list[tuple[float, str]]] = [[] for _ in texts]  # eval.n_best > 1 only.
    maps: dict[int, attention_plot.AttentionMap] = {}
    batch_size = exp.config.eval.batch_size
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        src_BxS = exp.data.encode_sources([texts[i] for i in chunk], [i + 1 for i in chunk])
        tokens_BxL = None
        if n_best > 1:
            for i, best in zip(chunk, n_best_texts(exp, params, src_BxS), strict=True):
                ranked[i], hyps[i] = best, best[0][1]
        else:
            tokens_BxL = decode_tokens(exp, params, src_BxS)
            for i, row in zip(chunk, tokens_BxL, strict=True):
                hyps[i] = exp.data.detokenize(row)
        if attention:
            if tokens_BxL is None:  # n-best: plot beam search's best, which decodes the same.
                tokens_BxL = decode_tokens(exp, params, src_BxS)
            found = attention_plot.attention_maps(exp, params, src_BxS, tokens_BxL)
            maps.update(zip([i + 1 for i in chunk], found, strict=True))
    return Translations(hyps, ranked, maps)


def translate(
    config: ml_collections.ConfigDict,
    workdir: str,
    texts: list[str] | None = None,
    plot_dir: str | None = None,
) -> list[tuple[str, str]]:
    """Translations of `texts`, or of the first held-out set when None.

    Empty (or all-space) lines translate to empty lines. Writes
    workdir/decode_step{k}.tsv (source, hypothesis) and returns the pairs. With
    eval.n_best = n > 1 (beam search), the file has n lines per source, best first:
    source, rank (1..n), score (log-probability over the GNMT length penalty, 6
    decimals; empty for an empty source), hypothesis; they are logged too, and the
    pairs hold the best hypothesis.

    With `plot_dir` (attention decoders only), also writes plot_dir/attention_<n>.png, the
    attention of the (best) decode of each non-empty line n (1-based); see attention_plot.
    """
    exp = experiment.build(config, workdir)
    if plot_dir is not None:
        attention_plot.require_attention(exp)
    params, step = best_or_latest_params(exp, workdir)
    if texts is None:
        texts = [src for src, _ in next(iter(exp.data.eval_sets().values()))]
    done = translate_texts(exp, params, texts, attention=plot_dir is not None)
    hyps, ranked, maps, n_best = done.hyps, done.ranked, done.maps, config.eval.n_best
    path = os.path.join(workdir, f"decode_step{step}.tsv")
    if not distributed.is_writer():  # Several processes: process 0 writes the outputs.
        return list(zip(texts, hyps, strict=True))
    if n_best > 1:
        lines = _n_best_lines(texts, ranked, n_best)
        logging.info("%d best (source, rank, score, hypothesis):\n%s", n_best, "".join(lines))
    else:
        lines = [f"{s}\t{h}\n" for s, h in zip(texts, hyps, strict=True)]
    atomic_write.write_text(path, "".join(lines))
    logging.info("Wrote %d decodes to %s", len(hyps), path)
    if plot_dir is not None:
        attention_plot.write_plots(plot_dir, maps)
    return list(zip(texts, hyps, strict=True))
