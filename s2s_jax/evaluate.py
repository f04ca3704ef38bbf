"""Evaluation (loss, perplexity, accuracy, exact match) and decoding from a checkpoint."""

import json
import os
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging

from s2s_jax import checkpointing, experiment
from s2s_jax.losses import summarize
from s2s_jax.steps import tree_add
from s2s_jax.tasks import encode_sources, eval_batches, eval_pairs


def eval_split(exp: experiment.Experiment) -> list[tuple[str, str]]:
    return eval_pairs(exp.task, exp.config.seed, exp.config.task.num_eval)


def decode_texts(exp: experiment.Experiment, params: Any, src_BxS: np.ndarray) -> list[str]:
    """Greedy decodes of a host batch, as strings; pads the batch to fit the mesh."""
    n = src_BxS.shape[0]
    pad = -n % exp.mesh.size
    src_BxS = np.concatenate([src_BxS, np.zeros((pad, src_BxS.shape[1]), src_BxS.dtype)])
    tokens_BxL, _ = jax.device_get(exp.decode(params, exp.put_batch(src_BxS)))
    return [exp.task.vocab.decode(row) for row in tokens_BxL[:n]]


def evaluate(
    exp: experiment.Experiment, params: Any, pairs: list[tuple[str, str]]
) -> tuple[dict[str, float], list[str]]:
    """Teacher-forced metrics and greedy exact match on `pairs`; returns (metrics, hypotheses)."""
    sums, hyps = None, []
    for batch in eval_batches(exp.task, pairs, exp.config.eval.batch_size):
        sums = tree_add(sums, jax.device_get(exp.eval_step(params, exp.put_batch(batch))))
        hyps += decode_texts(exp, params, batch["src_BxS"])
    hyps = hyps[: len(pairs)]
    exact = np.mean([h == tgt for h, (_, tgt) in zip(hyps, pairs, strict=True)])
    return {**summarize(sums), "exact_match": float(exact)}, hyps


def format_examples(pairs: list[tuple[str, str]], hyps: list[str], n: int) -> str:
    lines = []
    for (src, tgt), hyp in zip(pairs[:n], hyps[:n], strict=True):
        mark = "ok " if hyp == tgt else "ERR"
        lines.append(f"  [{mark}] {src!r} -> {hyp!r} (reference {tgt!r})")
    return "\n".join(lines)


def load_params(exp: experiment.Experiment, workdir: str) -> tuple[Any, int]:
    """The latest checkpoint's params and step; a clear error if there is none."""
    if not os.path.isdir(os.path.join(workdir, "checkpoints")):
        raise checkpointing.CheckpointError(
            f"no checkpoints in {os.path.abspath(workdir)}; train first with --mode=train"
        )
    manager = checkpointing.make_manager(workdir, max_to_keep=1, read_only=True)
    state, _ = exp.restore(manager)
    manager.close()
    return state.params, int(state.step)


def run_eval(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Evaluates the latest checkpoint in `workdir` on the held-out split."""
    exp = experiment.build(config)
    params, step = load_params(exp, workdir)
    pairs = eval_split(exp)
    metrics, hyps = evaluate(exp, params, pairs)
    logging.info("Eval at step %d: %s", step, metrics)
    logging.info("Examples:\n%s", format_examples(pairs, hyps, config.eval.num_examples_to_log))
    with open(os.path.join(workdir, f"eval_step{step}.json"), "w", encoding="utf-8") as f:
        json.dump({"step": step, **metrics}, f, indent=1)
    return metrics


def run_decode(
    config: ml_collections.ConfigDict, workdir: str, texts: list[str] | None = None
) -> list[tuple[str, str]]:
    """Greedy decodes of `texts`, or of the held-out split when None.

    Writes workdir/decode_step{k}.tsv (source, hypothesis) and returns the pairs.
    """
    exp = experiment.build(config)
    params, step = load_params(exp, workdir)
    sources = texts if texts is not None else [src for src, _ in eval_split(exp)]
    hyps = []
    batch_size = config.eval.batch_size
    for start in range(0, len(sources), batch_size):
        src_BxS = encode_sources(exp.task, sources[start : start + batch_size])
        hyps += decode_texts(exp, params, src_BxS)
    path = os.path.join(workdir, f"decode_step{step}.tsv")
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(f"{s}\t{h}\n" for s, h in zip(sources, hyps, strict=True))
    logging.info("Wrote %d decodes to %s", len(hyps), path)
    return list(zip(sources, hyps, strict=True))
