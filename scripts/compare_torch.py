"""Side by side with the PyTorch twin (../shared/bench/torch_seq2seq.py), alternating runs.

    python scripts/compare_torch.py --variant=base --runs=5 [--decoder=luong]

Each run measures s2s_jax (`launch.py --mode=benchmark`) and then the twin on
the point that run measured (read back from its benchmark.jsonl), so both see
the same machine state; the ratios are of the medians over runs. The twin needs
its own virtualenv (see its README): --twin and --twin_python say where they
are, and the script exits with a message saying so when either is missing.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
from typing import Any

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_VARIANT = flags.DEFINE_string("variant", "base", "experiments/benchmark.py variant (one point).")
_RUNS = flags.DEFINE_integer("runs", 5, "Alternating runs of each program.")
_DECODER = flags.DEFINE_enum(
    "decoder",
    "basic",
    ["basic", "luong", "bahdanau"],
    "Decoder type of both programs (model.decoder; the twin's --decoder).",
)
_TWIN = flags.DEFINE_string(
    "twin", os.path.join(ROOT, "..", "shared", "bench", "torch_seq2seq.py"), "The twin's script."
)
_TWIN_PYTHON = flags.DEFINE_string(
    "twin_python",
    os.path.join(ROOT, "..", "torch-ref", "bin", "python"),
    "The Python of the twin's virtualenv (with torch).",
)


def _ours(variant: str, decoder: str, workdir: str) -> dict[str, Any]:
    """One benchmark run of a single-point variant: its row of benchmark.jsonl."""
    subprocess.run(
        [sys.executable, os.path.join(ROOT, "launch.py"), "--mode=benchmark",
         f"--config={os.path.join(ROOT, 'experiments', 'benchmark.py')}:{variant}",
         f"--config.benchmark.grid.decoder=('{decoder}',)", f"--workdir={workdir}"],
        check=True, capture_output=True,
    )  # fmt: skip
    with open(os.path.join(workdir, "benchmark.jsonl"), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    if len(rows) != 1:
        sys.exit(f"error: --variant={variant} has {len(rows)} points; compare one at a time")
    return rows[0]


def _twin(row: dict[str, Any]) -> dict[str, float]:
    """The twin on the same point, model sizes and timing settings as `row`."""
    point, config, settings = row["point"], row["config"], row["settings"]
    args = [_TWIN_PYTHON.value, _TWIN.value, "--batch", point["batch_size"],
            "--src_len", point["src_len"], "--tgt_len", point["tgt_len"],
            "--vocab", config["synthetic"]["vocab_size"], "--embed", config["model"]["embed_size"],
            "--hidden", point["hidden_size"], "--steps", settings["calls_per_rep"],
            "--reps", settings["reps"], "--decode",
            "--decoder", config["model"]["decoder"]]  # fmt: skip
    out = subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True)
    rows = {r["bench"]: r for r in map(json.loads, out.stdout.splitlines())}
    return {"train": rows["train"]["tgt_tokens_per_s"], "greedy": rows["greedy"]["tokens_per_s"]}


def main(argv: list[str]) -> None:
    del argv
    for path in (_TWIN.value, _TWIN_PYTHON.value):
        if not os.path.exists(path):
            sys.exit(f"error: {path} is missing; set up the twin as its README says (--twin, "
                     "--twin_python)")  # fmt: skip
    ours, twin = [], []
    for run in range(_RUNS.value):
        with tempfile.TemporaryDirectory() as workdir:
            row = _ours(_VARIANT.value, _DECODER.value, workdir)
        ours.append({"train": row["train_tgt_tokens_per_s"], "greedy": row["greedy_tokens_per_s"],
                     "compile_s": row["compile_s"], "utilization": row["utilization"]})  # fmt: skip
        twin.append(_twin(row))
        print(json.dumps({"run": run + 1, "s2s_jax": ours[-1], "torch": twin[-1]}), flush=True)
    summary = {}
    for key in ("train", "greedy"):
        mine, theirs = (statistics.median(r[key] for r in rows) for rows in (ours, twin))
        summary[key] = {"s2s_jax": mine, "torch": theirs, "ratio": mine / theirs}
    summary["s2s_jax_compile_s"] = statistics.median(r["compile_s"] for r in ours)
    summary["s2s_jax_utilization"] = statistics.median(r["utilization"] for r in ours)
    header = {"variant": _VARIANT.value, "decoder": _DECODER.value, "runs": _RUNS.value}
    print(json.dumps({**header, **summary}, indent=1))


if __name__ == "__main__":
    app.run(main)
