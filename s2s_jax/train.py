"""The training loop: `train_and_evaluate(config, workdir)`.

The loop dispatches step k before it fetches step k−1's metrics, so the host
never stalls the device. Train metrics go to workdir/metrics.jsonl and
TensorBoard every `train.log_every_steps`; eval metrics every
`train.eval_every_steps` and at the end. Checkpoints are saved every
`train.checkpoint_every_steps`, at the end, and on an interrupt; a run that
finds a checkpoint in its workdir resumes from it, data position included.
"""

import json
import os
import time

import jax
import ml_collections
from absl import logging

from s2s_jax import checkpointing, evaluate, experiment
from s2s_jax.losses import summarize
from s2s_jax.metric_log import MetricLog, Progress
from s2s_jax.model import param_count
from s2s_jax.steps import TrainState, tree_add
from s2s_jax.tasks import TrainStream


def _train_metrics(sums: dict[str, float], lr: float) -> dict[str, float]:
    steps = max(float(sums["steps"]), 1.0)
    return {
        **summarize(sums),
        "objective": float(sums["objective_sum"]) / steps,
        "grad_norm": float(sums["grad_norm_sum"]) / steps,
        "learning_rate": lr,
    }


def _run_eval(
    exp: experiment.Experiment,
    state: TrainState,
    log: MetricLog,
    pairs: list[tuple[str, str]],
    step: int,
) -> dict[str, float]:
    start = time.perf_counter()
    metrics, hyps = evaluate.evaluate(exp, state.params, pairs)
    metrics["eval_seconds"] = time.perf_counter() - start
    log.write(step, "eval", metrics)
    examples = evaluate.format_examples(pairs, hyps, exp.config.eval.num_examples_to_log)
    log.write_text(step, "eval/examples", examples)
    logging.info(
        "eval   step %d | loss %.4f | ppl %.3f | token_acc %.4f | exact_match %.4f\n%s",
        step,
        metrics["loss"],
        metrics["perplexity"],
        metrics["token_accuracy"],
        metrics["exact_match"],
        examples,
    )
    return metrics


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Trains (or resumes) the experiment in `workdir`; returns the final eval metrics."""
    exp = experiment.build(config)
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "config.json"), "w", encoding="utf-8") as f:
        f.write(config.to_json(indent=1))
    logging.info("Devices: %s", exp.mesh.devices.tolist())

    pairs = evaluate.eval_split(exp)
    stream = TrainStream(exp.task, config.seed, config.train.batch_size, {s for s, _ in pairs})
    manager = checkpointing.make_manager(workdir, config.train.max_checkpoints_to_keep)
    if manager.latest_step() is not None:
        state, data_state = exp.restore(manager)
        stream.restore(data_state)
        logging.info("Resuming from step %d", int(state.step))
    else:
        state = exp.initial_state()
    logging.info("Model: %s, %d parameters", exp.model_cfg, param_count(state.params))

    log = MetricLog(workdir)
    step = int(state.step)
    num_steps = config.train.num_steps
    progress = Progress(step, num_steps)
    eval_metrics: dict[str, float] = {}
    pending, sums = None, None
    try:
        while step < num_steps:
            batch = exp.put_batch(next(stream))
            state, step_sums = exp.train_step(state, batch)
            step += 1
            if pending is not None:  # Fetch step k−1's metrics while step k runs.
                sums = tree_add(sums, jax.device_get(pending))
            pending = step_sums
            if step % config.train.log_every_steps == 0 or step == num_steps:
                sums, pending = tree_add(sums, jax.device_get(pending)), None
                _log_train(log, progress, sums, step, num_steps, exp)
                sums = None
            if step % config.train.checkpoint_every_steps == 0 or step == num_steps:
                checkpointing.save(manager, step, state, stream.state(), exp.model_cfg)
            if step % config.train.eval_every_steps == 0 or step == num_steps:
                eval_metrics = _run_eval(exp, state, log, pairs, step)
        if not eval_metrics:  # Resumed a finished run: evaluate what is there.
            eval_metrics = _run_eval(exp, state, log, pairs, step)
    except KeyboardInterrupt:
        logging.warning("Interrupted at step %d; saving a checkpoint before exiting", step)
        checkpointing.save(manager, step, state, stream.state(), exp.model_cfg)
        raise
    finally:
        manager.wait_until_finished()
        manager.close()
        log.close()
    with open(os.path.join(workdir, "final_eval.json"), "w", encoding="utf-8") as f:
        json.dump({"step": step, **eval_metrics}, f, indent=1)
    return eval_metrics


def _log_train(
    log: MetricLog,
    progress: Progress,
    sums: dict,
    step: int,
    num_steps: int,
    exp: experiment.Experiment,
) -> None:
    lr = float(exp.learning_rate(step))
    metrics = {**_train_metrics(sums, lr), **progress.report(step)}
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
