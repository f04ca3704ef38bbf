"""Tests for launch.py as a user runs it: train, eval and decode, and one-line errors."""

import json
import os
import shutil

import pytest
from helpers import run_launch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = "--config=experiments/generated.py:reverse"
TINY = [
    CONFIG,
    "--config.task.max_len=6",
    "--config.task.num_symbols=6",
    "--config.task.num_eval=64",
    "--config.model.embed_size=16",
    "--config.model.hidden_size=16",
    "--config.train.batch_size=32",
    "--config.train.num_steps=20",
    "--config.train.log_every_steps=10",
    "--config.train.eval_every_steps=10",
    "--config.train.checkpoint_every_steps=10",
    "--config.eval.batch_size=64",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A workdir trained for 20 steps (hidden 16) through launch.py."""
    workdir = tmp_path_factory.mktemp("launch") / "run"
    run_launch(*TINY, f"--workdir={workdir}")
    return workdir


@pytest.mark.slow
def test_train_eval_decode_end_to_end(trained):
    """Train, then --mode=eval, then --mode=decode: exit 0 and write the expected files."""
    workdir = trained
    assert sorted(os.listdir(workdir / "checkpoints")) == ["10", "20"]
    for name in ("metrics.jsonl", "final_eval.json", "config.json", "train.log"):
        assert (workdir / name).is_file(), name
    assert os.listdir(workdir / "tensorboard")

    with open(workdir / "final_eval.json", encoding="utf-8") as f:
        final = json.load(f)
    best, best_step = final["best_eval"]["exact_match"], final["best_step"]
    assert os.listdir(workdir / "best") == [str(best_step)]
    run_launch(*TINY, f"--workdir={workdir}", "--mode=eval")  # Evaluates the best checkpoint.
    with open(workdir / f"eval_step{best_step}.json", encoding="utf-8") as f:
        metrics = json.load(f)
    assert metrics["eval"]["exact_match"] == best
    with open(workdir / "hypotheses" / f"eval_step{best_step}.tsv", encoding="utf-8") as f:
        assert len(f.readlines()) == 64  # One source, hypothesis, reference line per example.
    assert {"loss", "perplexity", "token_accuracy", "exact_match"} <= set(metrics["eval"])

    proc = run_launch(*TINY, f"--workdir={workdir}", "--mode=decode", "--text=abc", "--text=ba")
    lines = proc.stdout.splitlines()
    assert len(lines) == 2, proc.stdout
    assert [line.split("\t")[0] for line in lines] == ["abc", "ba"]
    assert all(line.count("\t") == 1 for line in lines)
    with open(workdir / f"decode_step{best_step}.tsv", encoding="utf-8") as f:
        assert f.read() == proc.stdout

    # Without --config, the config saved in the workdir is used; translate prints hypotheses only.
    proc = run_launch(
        f"--workdir={workdir}", "--mode=translate", "--text=abc", "--text=", "--text=ba"
    )
    assert proc.stdout.splitlines() == [lines[0].split("\t")[1], "", lines[1].split("\t")[1]]
    # The same from stdin, one sentence per line.
    proc = run_launch(f"--workdir={workdir}", "--mode=translate", stdin=b"abc\n\nba\n")
    assert proc.stdout.splitlines() == [lines[0].split("\t")[1], "", lines[1].split("\t")[1]]
    # --config.* flags without --config are set in the saved config: the 2 best of a beam of 2.
    search = ["--config.eval.decode=beam", "--config.eval.beam_size=2", "--config.eval.n_best=2"]
    run_launch(f"--workdir={workdir}", "--mode=decode", "--text=abc", *search)
    with open(workdir / f"decode_step{best_step}.tsv", encoding="utf-8") as f:
        ranked = [line.rstrip("\n").split("\t") for line in f]
    assert [(src, rank) for src, rank, _, _ in ranked] == [("abc", "1"), ("abc", "2")]
    assert float(ranked[0][2]) >= float(ranked[1][2])
    # Input that is not UTF-8 is refused with the line it is on.
    proc = run_launch(
        f"--workdir={workdir}", "--mode=translate", stdin=b"abc\nb\xffa\n", check=False
    )
    _assert_clear_error(proc, "stdin:2: not valid UTF-8 (byte 0xff at offset 5)")


def _assert_clear_error(proc, expected):
    """Non-zero exit, no traceback, and one output line that names the problem."""
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    matching = [line for line in proc.stderr.splitlines() if expected in line]
    assert len(matching) == 1, proc.stderr[-3000:]
    assert matching[0].startswith(("error:", "FATAL Flags parsing error:")), matching[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([CONFIG, "--config.model.hiden_size=3"], 'Did you mean "hidden_size"'),
        (["--config.model.hiden_size=3"], "read against the default config file"),
        ([CONFIG, "--mode=fly"], "--mode=fly: value should be one of"),
        (["--config=experiments/generated.py:nope"], "unknown task 'nope'"),
        (["--config=experiments/nope.py"], "No such file or directory: 'experiments/nope.py'"),
        (
            ["--config=experiments/nope.py", "--config.model.hidden_size=3"],
            "No such file or directory: 'experiments/nope.py'",
        ),
        ([CONFIG, "--config.model.hidden_size=-4"], "config.model.hidden_size=-4 is invalid"),
        ([CONFIG, "--mode=eval"], "train first with --mode=train"),
        ([CONFIG, "--mode=decode", "--text=ab"], "train first with --mode=train"),
        (
            [CONFIG, "--mode=translate", "--text=ab", "--plot_attention=plots"],
            "--plot_attention needs an attention decoder, but config.model.decoder is 'basic'",
        ),
        ([CONFIG, "--mode=eval", "--plot_attention=plots"], "--plot_attention needs --mode="),
    ],
    ids=[
        "unknown-field",
        "unknown-field-without-config",
        "unknown-mode",
        "unknown-task",
        "missing-config-file",
        "missing-config-file-with-override",
        "negative-hidden-size",
        "eval-empty-workdir",
        "decode-empty-workdir",
        "plot-attention-without-attention",
        "plot-attention-in-eval",
    ],
)
def test_user_errors_are_one_line(tmp_path, args, expected):
    """Each user mistake exits non-zero with a one-line message naming it, without a traceback."""
    proc = run_launch(*args, f"--workdir={tmp_path / 'run'}", check=False)
    _assert_clear_error(proc, expected)
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize(
    ("args", "saved", "expected"),
    [
        (["--mode=translate", "--text=ab"], None, "{workdir} does not exist: train there first"),
        (["--mode=decode"], '{"model": {', "{workdir}/config.json is not valid JSON"),
    ],
    ids=["missing-workdir", "malformed-config-json"],
)
def test_saved_config_errors_are_one_line(tmp_path, args, saved, expected):
    """Without --config, decode and translate read workdir/config.json: a missing workdir, or
    a config.json that is not valid JSON, is one line naming the path, and the default
    config file is not used instead. (Every such error's message: test_config_checks.py.)"""
    workdir = tmp_path / "run"
    if saved is not None:
        workdir.mkdir()
        (workdir / "config.json").write_text(saved, encoding="utf-8")
    proc = run_launch(*args, f"--workdir={workdir}", check=False)
    _assert_clear_error(proc, expected.format(workdir=workdir))
    assert "or pass --config" in proc.stderr
    assert not (workdir / "checkpoints").exists()


@pytest.mark.slow
def test_incompatible_checkpoint(trained, tmp_path):
    """Training a workdir whose checkpoint has hidden 16 with hidden 24 fails with a clear line."""
    workdir = tmp_path / "run"
    shutil.copytree(trained, workdir)
    bigger = [*TINY, "--config.model.hidden_size=24", f"--workdir={workdir}"]
    for mode in ("train", "eval"):
        proc = run_launch(*bigger, f"--mode={mode}", check=False)
        _assert_clear_error(proc, "hidden_size: checkpoint 16, config 24")
    assert sorted(os.listdir(workdir / "checkpoints")) == ["10", "20"]
    with open(workdir / "config.json", encoding="utf-8") as f:
        assert json.load(f)["model"]["hidden_size"] == 16  # Still the config it was trained with.
