"""Side by side with the PyTorch twin (../shared/bench/torch_seq2seq.py), alternating runs.

    python -m s2s_jax.compare_torch --variant=base --runs=5

Each run measures s2s_jax (`launch.py --mode=benchmark`) and then the twin, on
the same configuration, so both see the same machine state; the ratios are of
the medians over runs. Needs the twin's own virtualenv (see its README); exits
with a message saying so when it is missing.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TWIN = os.path.join(ROOT, "..", "shared", "bench", "torch_seq2seq.py")
TWIN_PYTHON = os.path.join(ROOT, "..", "torch-ref", "bin", "python")


def _ours(variant: str, workdir: str) -> dict[str, float]:
    subprocess.run(
        [sys.executable, os.path.join(ROOT, "launch.py"), "--mode=benchmark",
         f"--config={os.path.join(ROOT, 'experiments', 'benchmark.py')}:{variant}",
         f"--workdir={workdir}"],
        check=True, capture_output=True,
    )  # fmt: skip
    with open(os.path.join(workdir, "benchmark.jsonl"), encoding="utf-8") as f:
        row = json.loads(f.readlines()[-1])
    return {"train": row["train_tgt_tokens_per_s"], "greedy": row["greedy_tokens_per_s"],
            "compile_s": row["compile_s"], "utilization": row["utilization"]}  # fmt: skip


def _twin(point: dict, settings: dict) -> dict[str, float]:
    args = [TWIN_PYTHON, TWIN, "--batch", point["batch_size"], "--src_len", point["src_len"],
            "--tgt_len", point["tgt_len"], "--vocab", settings["vocab_size"],
            "--embed", settings["embed_size"], "--hidden", point["hidden_size"],
            "--steps", settings["calls_per_rep"], "--reps", settings["reps"],
            "--decode"]  # fmt: skip
    out = subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True)
    rows = {r["bench"]: r for r in map(json.loads, out.stdout.splitlines())}
    return {"train": rows["train"]["tgt_tokens_per_s"], "greedy": rows["greedy"]["tokens_per_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="base", help="experiments/benchmark.py variant")
    parser.add_argument("--runs", type=int, default=5, help="alternating runs of each")
    args = parser.parse_args()
    if not os.path.exists(TWIN_PYTHON) or not os.path.exists(TWIN):
        sys.exit(f"error: the twin or its venv is missing ({TWIN}, {TWIN_PYTHON}); see the README")
    sys.path.insert(0, os.path.join(ROOT, "experiments"))
    import benchmark as bench_config

    config = bench_config.get_config(args.variant)
    if len(config.grid.lengths) * len(config.grid.batch_size) != 1:
        sys.exit("error: compare one point at a time (small, base or long)")
    ((src_len, tgt_len),) = config.grid.lengths
    point = {
        "batch_size": config.grid.batch_size[0],
        "src_len": src_len,
        "tgt_len": tgt_len,
        "hidden_size": config.grid.hidden_size[0],
    }
    ours, twin = [], []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as workdir:
            ours.append(_ours(args.variant, workdir))
        twin.append(_twin(point, config.settings.to_dict()))
        print(json.dumps({"run": run + 1, "s2s_jax": ours[-1], "torch": twin[-1]}), flush=True)
    summary = {}
    for key in ("train", "greedy"):
        mine, theirs = (statistics.median(r[key] for r in rows) for rows in (ours, twin))
        summary[key] = {"s2s_jax": mine, "torch": theirs, "ratio": mine / theirs}
    summary["s2s_jax_compile_s"] = statistics.median(r["compile_s"] for r in ours)
    summary["s2s_jax_utilization"] = statistics.median(r["utilization"] for r in ours)
    print(json.dumps({"variant": args.variant, "runs": args.runs, **summary}, indent=1))


if __name__ == "__main__":
    main()
