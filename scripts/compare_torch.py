"""Side by side with the PyTorch twin (../shared/bench/torch_seq2seq.py), alternating runs.

    python scripts/compare_torch.py --variant=base --runs=5 [--decoder=luong]
    python scripts/compare_torch.py --variant=grid --runs=3 --out=workdirs/compare_grid

Any variant of experiments/benchmark.py: each run measures, point after point, s2s_jax
(`launch.py --mode=benchmark` with every grid axis pinned to that point, beam search not timed)
and then the twin on the same point, so both see the same machine state. Each (run, point)
prints one JSON line and is appended to OUT/compare_runs.jsonl; a rerun with the same --out
skips the pairs it holds (resume), and --report_only redraws the outputs from it alone. At the
end: OUT/compare.md (one row per point: medians, the ratio of the medians with the min-max of
the per-run ratios, both programs' utilization, the train ratio at peak; with --kernel_bound,
s2s_jax's share of its kernel bound and the train and greedy ratios at it), OUT/compare.json and
OUT/compare_heatmap.png (the train and greedy ratios over batch x length; one row of panels per
combination of any other axis that varies) (s2s_jax/benchmark/compare.py). A single-point
variant also prints its summary JSON.
The twin needs its own virtualenv (see its README): --twin and --twin_python say where they
are, and the script exits with a message saying so when either is missing. The twin is an
LSTM in float32 with the basic, luong or bahdanau decoder; other points are refused.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # s2s_jax and the experiments package.

from experiments import benchmark as benchmark_config  # noqa: E402
from s2s_jax.benchmark import compare, grid  # noqa: E402
from s2s_jax.errors import UserError  # noqa: E402

_TWIN_DECODERS = ("basic", "luong", "bahdanau")
_VARIANT = flags.DEFINE_string("variant", "base", "experiments/benchmark.py variant.")
_RUNS = flags.DEFINE_integer("runs", 5, "Alternating runs of each program at each point.")
_DECODER = flags.DEFINE_enum(
    "decoder",
    None,
    list(_TWIN_DECODERS),
    "Decoder type of both programs (model.decoder; the twin's --decoder); "
    "default: the variant's own grid.decoder values.",
)
_OUT = flags.DEFINE_string(
    "out",
    None,
    "Where compare_runs.jsonl, compare.md, .json and _heatmap.png go; an earlier --out "
    "resumes its comparison. Default: workdirs/compare_<variant>_<time>.",
)
_REPORT_ONLY = flags.DEFINE_bool(
    "report_only", False, "Only write the outputs from --out's compare_runs.jsonl."
)
_KERNEL_BOUND = flags.DEFINE_bool(
    "kernel_bound",
    False,
    "Also time s2s_jax's step with each kernel alone (config.benchmark.kernel_bound; the basic "
    "decoder), for the train ratio at that bound.",
)
_TWIN = flags.DEFINE_string(
    "twin", os.path.join(ROOT, "..", "shared", "bench", "torch_seq2seq.py"), "The twin's script."
)
_TWIN_PYTHON = flags.DEFINE_string(
    "twin_python",
    os.path.join(ROOT, "..", "torch-ref", "bin", "python"),
    "The Python of the twin's virtualenv (with torch).",
)


def _call(args: list[Any], what: str) -> str:
    """Runs a program; on failure exits naming `what`, with the end of its stderr."""
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if proc.returncode:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        sys.exit(f"error: {what} failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout


def _points() -> tuple[list[dict[str, Any]], list[str]]:
    """The variant's points that fit on this machine's devices, and its grid axes."""
    # JAX's devices, asked in a process of its own: this one must not hold an accelerator.
    probe = "import jax; print(jax.device_count(), jax.devices()[0].platform)"
    count, platform = _call([sys.executable, "-c", probe], "listing JAX's devices").split()
    try:
        config = benchmark_config.get_config(_VARIANT.value)
        if _DECODER.value:
            config.benchmark.grid.decoder = (_DECODER.value,)
        config.benchmark.kernel_bound = _KERNEL_BOUND.value
        grid.validate(config, int(count), platform)
    except (ValueError, UserError) as e:
        sys.exit(f"error: --variant={_VARIANT.value}: {e}")
    points, skipped = grid.runnable(config, int(count))
    for point in skipped:
        print(f"skipping {point}: it needs more than {count} devices", file=sys.stderr)
    for point in points:
        for axis, ok in (("cell", ("lstm",)), ("dtype", ("float32",)), ("decoder", _TWIN_DECODERS)):
            if point[axis] not in ok:
                sys.exit(f"error: point {point} has {axis}={point[axis]!r}; the twin has "
                         f"only {list(ok)} (config.benchmark.grid.{axis}, --decoder)")  # fmt: skip
    return points, list(config.benchmark.grid.keys())


def _ours(point: dict[str, Any], axes: list[str], workdir: str) -> dict[str, Any]:
    """One benchmark run of one point (every grid axis pinned to it): its benchmark.jsonl row.
    Beam search is not timed: the twin has none, and at `base` it was 30 of the run's 77 s."""
    _call([sys.executable, os.path.join(ROOT, "launch.py"), "--mode=benchmark",
           f"--config={os.path.join(ROOT, 'experiments', 'benchmark.py')}:{_VARIANT.value}",
           *compare.pin_args(point, axes), "--config.benchmark.beam_size=0",
           f"--config.benchmark.kernel_bound={_KERNEL_BOUND.value}",
           f"--workdir={workdir}"],
          f"launch.py --mode=benchmark at {point}")  # fmt: skip
    with open(os.path.join(workdir, "benchmark.jsonl"), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    if [r["point"] for r in rows] != [point]:
        sys.exit(f"error: the benchmark pinned to {point} measured {[r['point'] for r in rows]}")
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
    out = _call(args, f"the twin at {point}")
    rows = {r["bench"]: r for r in map(json.loads, out.splitlines())}
    return {"train": rows["train"]["tgt_tokens_per_s"], "greedy": rows["greedy"]["tokens_per_s"]}


def _measure(path: str) -> None:
    """Each run, each point not in `path` yet: s2s_jax, then the twin; appended to `path`."""
    for program in (_TWIN.value, _TWIN_PYTHON.value):
        if not os.path.exists(program):
            sys.exit(f"error: {program} is missing; set up the twin as its README says (--twin, "
                     "--twin_python)")  # fmt: skip
    points, axes = _points()
    keys = {compare.point_key(p) for p in points}
    records = compare.read_records(path)
    if foreign := [r["point"] for r in records if compare.point_key(r["point"]) not in keys]:
        sys.exit(f"error: {path} holds points this comparison does not measure, e.g. "
                 f"{foreign[0]}; use another --out")  # fmt: skip
    done = {(r["run"], compare.point_key(r["point"])) for r in records}
    for run in range(1, _RUNS.value + 1):
        for point in points:
            if (run, compare.point_key(point)) in done:
                continue
            with tempfile.TemporaryDirectory() as workdir:
                row = _ours(point, axes, workdir)
            ours = {"train": row["train_tgt_tokens_per_s"], "greedy": row["greedy_tokens_per_s"],
                    "compile_s": row["compile_s"], "utilization": row["utilization"]}  # fmt: skip
            for key, field in (
                ("kernel_bound", "kernel_bound_tgt_tokens_per_s"),
                ("greedy_kernel_bound", "greedy_kernel_bound_tokens_per_s"),
            ):
                if field in row:
                    ours[key] = row[field]
            record = {"run": run, "variant": _VARIANT.value, "point": point, "s2s_jax": ours,
                      "torch": _twin(row)}  # fmt: skip
            print(json.dumps(record), flush=True)
            compare.append_record(path, record)


def main(argv: list[str]) -> None:
    del argv
    out = _OUT.value or os.path.join(
        ROOT, "workdirs", f"compare_{_VARIANT.value}_{time.strftime('%Y%m%d-%H%M%S')}"
    )
    path = os.path.join(out, "compare_runs.jsonl")
    if _REPORT_ONLY.value and not os.path.exists(path):
        sys.exit(f"error: --report_only needs {path} (--out of an earlier comparison)")
    if not _REPORT_ONLY.value:
        os.makedirs(out, exist_ok=True)
        _measure(path)
    records = compare.read_records(path)
    if not records:
        sys.exit(f"error: {path} holds no runs")
    entries = compare.write_report(records, out)
    if len(entries) == 1:
        print(json.dumps(compare.headline(entries[0], records[0]["variant"]), indent=1))
    else:
        print(compare.markdown_table(entries), end="")
    print(f"wrote {out}/compare.md, compare.json, compare_heatmap.png", file=sys.stderr)


if __name__ == "__main__":
    app.run(main)
