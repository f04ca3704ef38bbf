"""Tests for s2s_jax.train.train_and_evaluate: it learns, and it logs what it should."""

import glob
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from typing import Any

import jax
import matplotlib.image
import numpy as np
import orbax.checkpoint as ocp
import pytest
from helpers import ROOT, SUBPROCESS_XLA_FLAGS, tensorboard_events

from s2s_jax import attention_plot, evaluate, experiment, interrupts, train
from s2s_jax.metric_log import MetricLog

TRAIN_KEYS = {
    "loss",
    "perplexity",
    "token_accuracy",
    "objective",
    "grad_norm",
    "learning_rate",
    "steps_per_sec",
}
EVAL_KEYS = {"loss", "perplexity", "token_accuracy", "exact_match", "eval_seconds"}


def _read_metrics(workdir):
    with open(os.path.join(workdir, "metrics.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_logs_metrics_tensorboard_and_final_eval(make_config, tmp_path):
    """metrics.jsonl has train/eval lines with the expected keys; TB and final_eval.json exist."""
    config = make_config(train__num_steps=20, train__log_every_steps=10, train__eval_every_steps=10)
    metrics = train.train_and_evaluate(config, str(tmp_path))["best_eval"]
    assert set(metrics) == EVAL_KEYS
    assert 0.0 <= metrics["exact_match"] <= 1.0

    lines = _read_metrics(tmp_path)
    train_lines = [m for m in lines if m["split"] == "train"]
    eval_lines = [m for m in lines if m["split"] == "eval"]
    best_lines = [m for m in lines if m["split"] == "best_eval"]
    assert [m["step"] for m in train_lines] == [10, 20]
    assert [m["step"] for m in eval_lines] == [10, 20]
    for m in train_lines:
        assert set(m) == {"step", "split", *TRAIN_KEYS}
        assert m["loss"] > 0 and m["grad_norm"] > 0 and m["learning_rate"] > 0
    for m in eval_lines:
        assert set(m) == {"step", "split", *EVAL_KEYS}
    # The final evaluation is of the best checkpoint, kept in workdir/best.
    best = max(eval_lines, key=lambda m: m["exact_match"])
    assert os.listdir(tmp_path / "best") == [str(best["step"])]
    assert best_lines == [{"step": best["step"], "split": "best_eval", **metrics}]
    assert metrics["exact_match"] == best["exact_match"]

    events = glob.glob(os.path.join(tmp_path, "tensorboard", "events.out.tfevents.*"))
    assert events and all(os.path.getsize(e) > 0 for e in events)
    with open(tmp_path / "final_eval.json", encoding="utf-8") as f:
        final = json.load(f)
    assert final == {"step": 20, "best_step": best["step"], "best_eval": metrics}
    with open(tmp_path / "config.json", encoding="utf-8") as f:
        assert json.load(f)["model"]["hidden_size"] == 32
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["10", "20"]
    assert not os.path.exists(tmp_path / "length_buckets.json")  # eval.length_buckets is off.

    # Running again on the finished workdir trains nothing and re-evaluates the best checkpoint,
    # here also by source length (the key changes no parameter, so the run resumes).
    config.eval.length_buckets = (3,)
    again = train.train_and_evaluate(config, str(tmp_path))["best_eval"]
    with open(tmp_path / "length_buckets.json", encoding="utf-8") as f:
        rows = json.load(f)["best_eval"]  # Keyed like final_eval.json's sections.
    assert [(r["bucket"], r["min"], r["max"]) for r in rows] == [("1-3", 1, 3), ("4+", 4, None)]
    assert sum(r["count"] for r in rows) == config.task.num_eval
    lines = _read_metrics(tmp_path)
    # The log was cut back to the restored step: the final evaluation's line once, not twice.
    assert [m["split"] for m in lines[len(train_lines) + len(eval_lines) :]] == ["best_eval"]
    assert again["exact_match"] == metrics["exact_match"]
    assert again["loss"] == pytest.approx(metrics["loss"], rel=1e-6)


@pytest.mark.slow
def test_scheduled_sampling_logs_its_probability(make_config, tmp_path):
    """With train.scheduled_sampling on, each train line has the mean p_i of its steps."""
    config = make_config(
        train__num_steps=4,
        train__log_every_steps=2,
        train__eval_every_steps=4,
        train__checkpoint_every_steps=4,
    )
    config.train.scheduled_sampling.update(decay="linear", decay_steps=4)  # p_i = i / 4.
    train.train_and_evaluate(config, str(tmp_path))
    train_lines = [m for m in _read_metrics(tmp_path) if m["split"] == "train"]
    assert [m["step"] for m in train_lines] == [2, 4]
    for m in train_lines:
        assert set(m) == {"step", "split", "sampling_probability", *TRAIN_KEYS}
    probabilities = [m["sampling_probability"] for m in train_lines]
    assert probabilities == pytest.approx([(0 + 0.25) / 2, (0.5 + 0.75) / 2], rel=1e-6)


@pytest.mark.slow
def test_interrupt_saves_a_checkpoint(make_config, tmp_path, monkeypatch):
    """SIGINT or SIGTERM mid-run: the step in progress finishes, is saved, and the run stops."""
    config = make_config(
        devices=1, train__num_steps=20, train__log_every_steps=5, train__eval_every_steps=10
    )
    real_write = MetricLog.write

    def write_then_signal(signum: int, at_step: int):
        def write(self, step, split, metrics):
            real_write(self, step, split, metrics)
            if step == at_step and split == "train":
                os.kill(os.getpid(), signum)

        return write

    # 1. SIGINT while logging step 5 (no checkpoint due there): step 5 is saved.
    monkeypatch.setattr(MetricLog, "write", write_then_signal(signal.SIGINT, 5))
    with pytest.raises(KeyboardInterrupt, match="interrupted at step 5"):
        train.train_and_evaluate(config, str(tmp_path))
    assert os.listdir(tmp_path / "checkpoints") == ["5"]

    # 2. Resumed, then SIGTERM at step 10, which is saved anyway: saved once, then stopped.
    monkeypatch.setattr(MetricLog, "write", write_then_signal(signal.SIGTERM, 10))
    with pytest.raises(KeyboardInterrupt, match="interrupted at step 10"):
        train.train_and_evaluate(config, str(tmp_path))
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["10", "5"]
    assert not os.path.exists(tmp_path / "final_eval.json")
    # The handlers are restored afterwards.
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


@pytest.mark.slow
@pytest.mark.parametrize(
    ("overrides", "stop_step"),
    [
        # A learning rate too small to change exact match: step 20's eval is no better than 10's.
        ({"optim__learning_rate": 1e-9, "train__early_stopping_patience": 1}, 20),
        ({"train__time_budget_seconds": 1e-9}, 1),  # Out of time after the first step.
    ],
)
def test_stopped_run_stays_stopped(make_config, tmp_path, overrides, stop_step):
    """Early stopping and the time budget end training; a rerun evaluates and trains no more."""
    config = make_config(
        devices=1, train__num_steps=60, train__log_every_steps=10, train__eval_every_steps=10,
        **overrides,
    )  # fmt: skip
    train.train_and_evaluate(config, str(tmp_path))
    assert max(map(int, os.listdir(tmp_path / "checkpoints"))) == stop_step
    train_steps = [m["step"] for m in _read_metrics(tmp_path) if m["split"] == "train"]
    assert train_steps[-1] == stop_step

    train.train_and_evaluate(config, str(tmp_path))
    assert [m["step"] for m in _read_metrics(tmp_path) if m["split"] == "train"] == train_steps
    with open(tmp_path / "final_eval.json", encoding="utf-8") as f:
        assert json.load(f)["step"] == stop_step


@pytest.mark.slow
def test_attention_decoders_log_the_dev_attention_at_each_eval(make_config, tmp_path):
    """Each eval logs an image: the attention of decoding the dev set's first source."""
    config = make_config(
        model__decoder="bahdanau",
        model__hidden_size=16,
        model__embed_size=8,
        train__num_steps=10,
        train__log_every_steps=5,
        train__eval_every_steps=5,
    )
    train.train_and_evaluate(config, str(tmp_path))
    images = {
        e.step: v.image
        for e in tensorboard_events(str(tmp_path))
        for v in e.summary.value
        if v.tag == "eval/attention"
    }
    assert sorted(images) == [5, 10]
    # Step 10's, drawn again from the step-10 checkpoint.
    exp = experiment.build(config, str(tmp_path))
    params, step = evaluate.load_params(exp, str(tmp_path))
    first = exp.data.eval_sets()["eval"][0]
    src_BxS = exp.data.encode_sources([first[0]], [1])
    amap = attention_plot.attention_maps(
        exp, params, src_BxS, evaluate.decode_tokens(exp, params, src_BxS)
    )[0]
    expected = attention_plot.image(
        amap, attention_plot.choose_fonts(first), "eval/attention, step 10"
    )
    png = matplotlib.image.imread(io.BytesIO(images[10].encoded_image_string), format="png")
    assert step == 10
    np.testing.assert_array_equal(np.round(png[..., :3] * 255).astype(np.uint8), expected)


@pytest.mark.slow
def test_nonfinite_updates_stop_the_run_or_are_skipped(tmp_path):
    """A learning rate of 1e38 after 10 good steps: 'stop' ends at the first NaN step with
    an error naming it, 'skip' after max_nonfinite_in_a_row dropped updates; both leave
    step 10 the latest checkpoint, with finite params."""
    from helpers import tiny_config

    from s2s_jax import nonfinite

    workdir = str(tmp_path)
    train.train_and_evaluate(tiny_config(train__num_steps=10), workdir)
    for mode, message in [
        ("stop", r"gradients of step 1\d are not finite .* last good checkpoint is step 10 "),
        ("skip", r"3 updates in a row were not finite .* checkpoint is step 10 "),
    ]:
        config = tiny_config(
            train__num_steps=20, optim__learning_rate=1e38, optim__grad_clip_norm=0.0,
            train__nonfinite=mode, train__max_nonfinite_in_a_row=3,
        )  # fmt: skip
        with pytest.raises(nonfinite.NonFiniteError, match=message):
            train.train_and_evaluate(config, workdir)
        exp = experiment.build(config, workdir)
        params, step = evaluate.load_params(exp, workdir)
        assert step == 10
        assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(params))


# launch.py as a user runs it: a tiny reversal task, dropout on (so the RNG matters), every
# step logged, a checkpoint every 4 steps.
_LAUNCH = [
    "launch.py",
    "--config=experiments/generated.py:reverse",
    "--config.task.max_len=6",
    "--config.task.num_symbols=6",
    "--config.task.num_eval=64",
    "--config.model.embed_size=16",
    "--config.model.hidden_size=16",
    "--config.model.dropout_rate=0.3",
    "--config.train.batch_size=32",
    "--config.train.num_steps=80",
    "--config.train.log_every_steps=1",
    "--config.train.eval_every_steps=40",
    "--config.train.checkpoint_every_steps=4",
    "--config.eval.batch_size=64",
]
_TIMING = ("steps_per_sec", "eval_seconds")  # The only logged values that may differ.


def _start(workdir, *wrapper: str) -> subprocess.Popen:
    env = {**os.environ, "XLA_FLAGS": SUBPROCESS_XLA_FLAGS, "JAX_PLATFORMS": "cpu"}
    return subprocess.Popen([sys.executable, *wrapper, *_LAUNCH, f"--workdir={workdir}"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip


def _wait_until(proc: subprocess.Popen, ready) -> None:
    """Polls `ready()` every millisecond while `proc` runs; fails if it ends first."""
    while not ready():
        assert proc.poll() is None, f"the run ended (exit {proc.returncode}) before the moment"
        time.sleep(0.001)


def _logged_steps(workdir) -> int:
    path = os.path.join(workdir, "metrics.jsonl")
    return sum(1 for _ in open(path, encoding="utf-8")) if os.path.exists(path) else 0


def _saving(workdir) -> bool:
    """A checkpoint save is under way: orbax's temporary directory exists."""
    folder = os.path.join(workdir, "checkpoints")
    return os.path.isdir(folder) and any("tmp" in name for name in os.listdir(folder))


def _without_timing(workdir) -> tuple[list[dict], dict]:
    metrics = [{k: v for k, v in m.items() if k not in _TIMING} for m in _read_metrics(workdir)]
    with open(os.path.join(workdir, "final_eval.json"), encoding="utf-8") as f:
        final = json.load(f)
    for split in final.values():
        if isinstance(split, dict):
            split.pop("eval_seconds")
    return metrics, final


def _final_state(workdir) -> Any:
    folder = os.path.join(workdir, "checkpoints")
    step = max(int(name) for name in os.listdir(folder) if name.isdigit())
    return ocp.StandardCheckpointer().restore(os.path.join(folder, str(step), "state"))


# The second signal arrives while the interrupt's save is in flight: right after orbax has
# started it (asynchronous), before the loop waits for it.
_SECOND_SIGNAL = """
import os, runpy, signal, sys
from s2s_jax import checkpointing
from s2s_jax.metric_log import MetricLog
log, save = MetricLog.write, checkpointing.save
def write(self, step, split, metrics):
    log(self, step, split, metrics)
    if step == 14 and split == "train":
        os.kill(os.getpid(), signal.SIGINT)
def save_then_signal(manager, step, *args, **kwargs):
    save(manager, step, *args, **kwargs)
    if step == 14:
        os.kill(os.getpid(), signal.SIGTERM)
MetricLog.write, checkpointing.save = write, save_then_signal
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.slow
def test_kills_and_signals_at_random_moments_resume_bit_identically(tmp_path):
    """One run meets, in turn: a SIGTERM during start-up (exit 130, nothing written but the
    config); a SIGINT whose save meets a second signal (exit 75 at once); three `kill -9`s,
    at random logged steps and during checkpoint saves. Each restart resumes from the latest
    complete checkpoint, and the run ends bit-identical to one never interrupted: every
    logged metric, the final eval, the final parameters and optimizer state."""
    rng = random.Random(0)
    ref, run = tmp_path / "ref", tmp_path / "run"
    proc = _start(ref)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()[-3000:]

    # Start-up: SIGTERM once JAX is up, while the data and model are being built.
    proc = _start(run)
    for line in proc.stderr:
        if "JAX devices" in line:
            proc.send_signal(signal.SIGTERM)
            break
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert err.strip().endswith("stopped: SIGTERM; rerun to resume")
    assert "Traceback" not in err
    assert not os.path.exists(run / "checkpoints") or not os.listdir(run / "checkpoints")

    # A second signal during the interrupt's save of step 14.
    proc = _start(run, "-c", _SECOND_SIGNAL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == interrupts.SECOND_SIGNAL_EXIT, err[-3000:]
    assert "a second signal (SIGTERM) during the interrupt's save" in err

    kills = []
    for during_save in (False, True, True):
        proc = _start(run)
        resumed = _logged_steps(run)
        if during_save:
            _wait_until(proc, lambda r=resumed: _logged_steps(run) > r and _saving(run))
        else:
            target = rng.randrange(resumed + 2, resumed + 12)
            _wait_until(proc, lambda target=target: _logged_steps(run) >= target)
        proc.kill()
        proc.wait()
        kills.append(_logged_steps(run))
    assert kills == sorted(kills) and kills[-1] < 80  # Each restart went further.

    proc = _start(run)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()[-3000:]
    assert _without_timing(run) == _without_timing(ref)
    a, b = _final_state(ref), _final_state(run)
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert np.array_equal(np.asarray(x), np.asarray(y))
