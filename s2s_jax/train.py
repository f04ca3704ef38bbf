"""The training loop: `train_and_evaluate(config, workdir)`.

The loop dispatches step k before it fetches step k−1's metrics, so the host
never stalls the device. Train metrics go to workdir/metrics.jsonl and
TensorBoard every `train.log_every_steps`; eval metrics every
`train.eval_every_steps` and at the end. Checkpoints are saved every
`train.checkpoint_every_steps`, at the end, and on an interrupt; a run that
finds a checkpoint in its workdir resumes from it, data position included.

An interrupt (SIGINT or SIGTERM) is acted on between steps: the loop saves a
checkpoint and raises KeyboardInterrupt. A second interrupt stops at once.
"""

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Iterator

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


@contextlib.contextmanager
def _deferred_interrupts() -> Iterator[list[int]]:
    """Yields a list that SIGINT/SIGTERM append to, instead of stopping mid-step.

    Stopping mid-step would lose the state: the train step donates its input.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():  # Signals need the main thread.
        yield received
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, frame: object) -> None:
        received.append(signum)
        signal.signal(signum, previous[signum])  # A second one acts at once.

    for s in previous:
        signal.signal(s, handler)
    try:
        yield received
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Trains (or resumes) the experiment in `workdir`; returns the final eval metrics."""
    exp = experiment.build(config)
    os.makedirs(workdir, exist_ok=True)
    logging.info("Devices: %s", exp.mesh.devices.tolist())
    pairs = evaluate.eval_split(exp)
    stream = TrainStream(exp.task, config.seed, config.train.batch_size, {s for s, _ in pairs})
    with contextlib.ExitStack() as cleanup, _deferred_interrupts() as interrupts:
        manager = checkpointing.make_manager(workdir, config.train.max_checkpoints_to_keep)
        cleanup.callback(manager.close)
        cleanup.callback(manager.wait_until_finished)  # Callbacks run last-in, first-out.
        if manager.latest_step() is not None:
            state, data_state = exp.restore(manager)
            stream.restore(data_state)
            logging.info("Resuming from step %d", int(state.step))
        else:
            state = exp.initial_state()
        # Only now that any checkpoint here is known to match: a refused config must not replace it.
        with open(os.path.join(workdir, "config.json"), "w", encoding="utf-8") as f:
            f.write(config.to_json(indent=1))
        logging.info("Model: %s, %d parameters", exp.model_cfg, param_count(state.params))
        log = MetricLog(workdir)
        cleanup.callback(log.close)

        step, num_steps = int(state.step), config.train.num_steps
        progress = Progress(step, num_steps)
        eval_metrics: dict[str, float] = {}
        pending, sums = None, None
        while step < num_steps:
            state, step_sums = exp.train_step(state, exp.put_batch(next(stream)))
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
            if interrupts:
                if step not in manager.all_steps():
                    checkpointing.save(manager, step, state, stream.state(), exp.model_cfg)
                logging.warning("Interrupted: saved step %d in %s", step, manager.directory)
                raise KeyboardInterrupt(f"interrupted at step {step}; rerun to resume")
        if not eval_metrics:  # Resumed a finished run: evaluate what is there.
            eval_metrics = _run_eval(exp, state, log, pairs, step)
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
