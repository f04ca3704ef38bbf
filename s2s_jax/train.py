"""The training loop: `train_and_evaluate(config, workdir)`.

The loop dispatches step k before it fetches step k−1's metrics, so the host
never stalls the device. Train metrics go to workdir/metrics.jsonl and
TensorBoard every `train.log_every_steps`; eval metrics every
`train.eval_every_steps` and at the end. Checkpoints are saved every
`train.checkpoint_every_steps`, at the end, and on an interrupt; a run that
finds a checkpoint in its workdir resumes from it, data position included.

An interrupt (SIGINT or SIGTERM) is acted on between steps: the loop saves a
checkpoint and raises KeyboardInterrupt (exit 130); a second interrupt during that save
ends the process at once (exit 75, interrupts.SECOND_SIGNAL_EXIT).

With several processes (distributed.py) each trains on its own rows of every batch.
Before each step they combine their interrupt and time-budget flags (a small collective,
so the host waits for the previous step before it starts the next), so all stop at the
same step and all take part in the save. Process 0 alone writes files.
"""

import contextlib
import os
import time
from typing import Any

import jax
import ml_collections
import orbax.checkpoint as ocp
from absl import logging

from s2s_jax import (
    atomic_write,
    attention_plot,
    checkpointing,
    distributed,
    evaluate,
    experiment,
    interrupts,
    nonfinite,
)
from s2s_jax.data import Pair
from s2s_jax.losses import summarize
from s2s_jax.metric_log import MetricLog
from s2s_jax.model import param_count
from s2s_jax.progress import Progress
from s2s_jax.steps import tree_add


def _train_metrics(sums: dict[str, float], lr: float) -> dict[str, float]:
    steps = max(float(sums["steps"]), 1.0)
    metrics = {
        **summarize(sums),
        "objective": float(sums["objective_sum"]) / steps,
        "grad_norm": float(sums["grad_norm_sum"]) / steps,
        "learning_rate": lr,
    }
    if float(sums["nonfinite_steps"]):  # train.nonfinite='skip': updates dropped.
        metrics["nonfinite_steps"] = float(sums["nonfinite_steps"])
    if "sampling_probability_sum" in sums:  # Scheduled sampling: the mean over these steps.
        metrics["sampling_probability"] = float(sums["sampling_probability_sum"]) / steps
    return metrics


def train_and_evaluate(
    config: ml_collections.ConfigDict, workdir: str
) -> dict[str, dict[str, float]]:
    """Trains (or resumes) the experiment in `workdir`.

    Returns the metrics of the best checkpoint (by the first eval set's
    `data.best_metric`) on every eval set, keyed 'best_<set>'.
    """
    if distributed.is_writer():  # Before the data and model are built; the others write
        atomic_write.require_writable(workdir)  # nothing but their checkpoint shards.
    exp = experiment.build(config, workdir)
    logging.info("Devices: %s", exp.mesh.devices.tolist())
    stream = exp.data.train_batches(distributed.share())  # This process's rows of each batch.
    best_metric = exp.data.best_metric
    # Signals stay deferred until the saves in flight are finished (the cleanup below): a
    # second one meanwhile exits at once (interrupts.py).
    deferred = interrupts.deferred(exit_on_second=True)
    with deferred as received, contextlib.ExitStack() as cleanup:
        manager = checkpointing.make_manager(workdir, config.train.max_checkpoints_to_keep)
        cleanup.callback(manager.close)
        cleanup.callback(manager.wait_until_finished)  # Callbacks run last-in, first-out.
        best_manager = checkpointing.make_manager(workdir, 1, best=True)
        cleanup.callback(best_manager.close)
        cleanup.callback(best_manager.wait_until_finished)
        # What the checkpoint's JSON item holds besides the train state.
        # `stopped` says why a run ended before num_steps; a rerun then only evaluates.
        loop = {"data": None, "best": -float("inf"), "evals_since_best": 0, "stopped": ""}
        resumed = manager.latest_step() is not None
        if resumed:
            state, loop = checkpointing.restore_latest_good(
                manager, exp.abstract_state, exp.model_cfg
            )
            stream.restore(loop["data"])
            logging.info("Resuming from step %d %s", int(state.step), loop["stopped"])
        else:
            state = exp.initial_state()
        # Only now that any checkpoint here is known to match: a refused config must not replace it.
        if distributed.is_writer():
            atomic_write.write_text(os.path.join(workdir, "config.json"), config.to_json(indent=1))
        logging.info("Model: %s, %d parameters", exp.model_cfg, param_count(state.params))
        log = MetricLog(workdir, resume_step=int(state.step) if resumed else None)
        cleanup.callback(log.close)

        def save(manager_: ocp.CheckpointManager, score: float | None = None) -> None:
            loop["data"] = stream.state()
            checkpointing.save(manager_, step, state, loop, exp.model_cfg, score)

        dev = next(iter(exp.data.eval_sets()))  # Picks the best checkpoint; the rest at the end.

        # Attention decoders: each eval also logs the attention of the dev set's first pair.
        first = exp.data.eval_sets()[dev][:1]
        show = exp.attention is not None and bool(first)
        fonts = attention_plot.choose_fonts(first[0]) if show else None

        def dev_score(params: Any, step: int) -> float:
            if fonts is not None:
                _log_attention(exp, params, step, f"{dev}/attention", first, fonts, log)
            return evaluate.evaluate_sets(exp, params, step, [dev], workdir, log)[dev][best_metric]

        step, num_steps = int(state.step), config.train.num_steps
        deadline = time.monotonic() + (config.train.time_budget_seconds or float("inf"))
        progress = Progress(step, num_steps, deadline)
        pending, sums, tc = None, None, config.train
        guard = nonfinite.Guard(
            config.train, lambda: f"step {manager.latest_step()} in {manager.directory}"
        )

        def fetch(step_sums: Any, at: int) -> dict[str, Any]:
            """A step's metric sums on the host, checked for NaN and Inf (nonfinite.py)."""
            host = jax.device_get(step_sums)
            guard.check(host, at)
            return host

        while step < num_steps and not loop["stopped"]:
            # Several processes stop at the same step: one's clock or interrupt stops them all
            # (a collective per step), so that all take part in the save.
            out_of_time, interrupted = distributed.any_process(
                time.monotonic() > deadline, bool(received)
            )
            if interrupted:
                if pending is not None:  # Another process's interrupt: checked before saved.
                    sums, pending = tree_add(sums, fetch(pending, step)), None
                if step not in manager.all_steps():
                    save(manager)
                logging.warning("Interrupted: saved step %d in %s", step, manager.directory)
                raise KeyboardInterrupt(f"interrupted at step {step}; rerun to resume")
            state, step_sums = exp.train_step(state, exp.put_batch(next(stream)))
            step += 1
            if pending is not None:  # Fetch step k−1's metrics while step k runs.
                sums = tree_add(sums, fetch(pending, step - 1))
            pending = step_sums
            if out_of_time:
                loop["stopped"] = f"(stopped by the time budget at step {step})"
            last = step == num_steps or bool(loop["stopped"])
            # This step's own metrics are checked before it is logged, evaluated or saved.
            every = (tc.log_every_steps, tc.eval_every_steps, tc.checkpoint_every_steps)
            if last or any(step % n == 0 for n in every):  # (An interrupt: at the loop's top.)
                sums, pending = tree_add(sums, fetch(pending, step)), None
            if step % config.train.log_every_steps == 0 or last:
                _log_train(log, progress, sums, stream.stats(), step, num_steps, exp)
                sums = None
            if step % config.train.eval_every_steps == 0 or last:
                score = dev_score(state.params, step)
                if score > loop["best"]:
                    loop["best"], loop["evals_since_best"] = score, 0
                    save(best_manager, score)
                else:
                    loop["evals_since_best"] += 1
                patience = config.train.early_stopping_patience
                if patience and loop["evals_since_best"] >= patience:
                    loop["stopped"] = f"(stopped early at step {step}: no better {best_metric})"
                    logging.info("Early stop at step %d (best %s %.4g)", step, best_metric,
                                 loop["best"])  # fmt: skip
                    last = True
            if step % config.train.checkpoint_every_steps == 0 or last:
                save(manager)
            if last:
                break
        if best_manager.latest_step() is None:  # Resumed a run that had not evaluated yet.
            save(best_manager, dev_score(state.params, step))
        best_manager.wait_until_finished()
        best_step = best_manager.best_step()
        best_state, _ = exp.restore(best_manager, best_step)
        logging.info("Final evaluation of the best checkpoint (step %d)", best_step)
        tables: dict[str, dict] = {}  # eval.length_buckets and eval.beam_grid, when set.
        names = list(exp.data.eval_sets())
        results = evaluate.evaluate_sets(
            exp, best_state.params, best_step, names, workdir, log, "best_", tables
        )
    # length_buckets.json, beam_grid.json: beside final_eval.json, keyed by its sections;
    # written first, as final_eval.json marks a finished run.
    evaluate.write_tables(workdir, tables)
    final_eval = {"step": step, "best_step": best_step, **results}
    if distributed.is_writer():
        atomic_write.write_json(os.path.join(workdir, "final_eval.json"), final_eval)
    return results


def _log_attention(
    exp: experiment.Experiment,
    params: Any,
    step: int,
    tag: str,
    pairs: list[Pair],
    fonts: list[str],
    log: MetricLog,
) -> None:
    """The attention of decoding pairs[0]'s source, as an image in TensorBoard."""
    src_BxS = exp.data.eval_batches(pairs)[0]["src_BxS"]  # The eval's shape: decode is compiled.
    tokens_BxL = evaluate.decode_tokens(exp, params, src_BxS)
    amap = attention_plot.attention_maps(exp, params, src_BxS[:1], tokens_BxL[:1])[0]
    log.write_image(step, tag, attention_plot.image(amap, fonts, f"{tag}, step {step}"))


def _log_train(
    log: MetricLog,
    progress: Progress,
    sums: dict,
    data_stats: dict[str, float],
    step: int,
    num_steps: int,
    exp: experiment.Experiment,
) -> None:
    lr = float(exp.learning_rate(step))
    metrics = {**_train_metrics(sums, lr), **progress.report(step), **data_stats}
    log.write(step, "train", metrics)
    logging.info(
        "train  step %d/%d | loss %.4f | token_acc %.4f | grad_norm %.3f | lr %.2e | "
        "%.1f steps/s | ETA %s",
        step,
        num_steps,
        metrics["loss"],
        metrics["token_accuracy"],
        metrics["grad_norm"],
        lr,
        metrics["steps_per_sec"],
        progress.eta(step, metrics["steps_per_sec"]),
    )
