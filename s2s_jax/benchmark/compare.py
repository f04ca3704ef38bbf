"""Side by side with the PyTorch twin: per-point medians, ratios and their spread, a table and
a heat map, from run records alone (scripts/compare_torch.py measures; this module reports).

A run record is one JSON line of DIR/compare_runs.jsonl, one per (run, point):

    {"run": 1, "variant": "grid", "point": {a point of grid.grid_points},
     "s2s_jax": {"train": tok/s, "greedy": tok/s, "compile_s": s, "utilization": fraction,
                 "kernel_bound": tok/s, "greedy_kernel_bound": tok/s (both optional)},
     "torch": {"train": tok/s, "greedy": tok/s}}

Per point (`summarize`): each program's median over runs of train target tokens/s and greedy
decoding tokens/s; the ratio of the medians, median(ours) / median(twin); and its spread, the
min and max of the per-run ratios ours_r / twin_r (a run measures both programs back to back
at that point, so each per-run ratio sees one machine state); and s2s_jax's median compile
time and utilization. The twin's utilization comes from the same run: both programs do the same
matmuls per target token, so it is ours_r · twin_train_r / ours_train_r against the peak that
s2s_jax's process measured. Its inverse is the train ratio that s2s_jax would reach with every
FLOP at that peak: the most any speed-up of s2s_jax alone can show at the point. A
tighter ceiling where the run measured it (compare_torch's --kernel_bound): the record's
"kernel_bound", the train tokens/s of s2s_jax's step with its matmuls and update each timed
alone (kernel_bound.py); per point, s2s_jax's share of it and the train ratio at it, the
median over runs of kernel_bound_r / twin_r; and the same for greedy decoding
("greedy_kernel_bound", the greedy ratio at kernel bound).

Outputs (`write_report`): compare.md (one row per point), compare.json (the same numbers) and
compare_heatmap.png (`heatmap_figure`): the train ratio (left) and the greedy ratio (right)
over batch size (rows) x length (columns), each cell annotated with its ratio, on a diverging
colormap centred at 1.0. Points that differ in axes other than batch size and lengths (e.g. the
decoder, or the cell of the `axes` grid) get one row of panels per combination of those axes,
named in the panels' titles.
"""

import json
import math
import os
import statistics
from typing import Any

from s2s_jax import atomic_write

# The measurements compared: train target tokens/s and greedy decoding tokens/s.
KINDS = ("train", "greedy")
# The point's keys that place a cell of the heat map; the others group the panels.
_CELL_AXES = ("batch_size", "src_len", "tgt_len")


def point_key(point: dict[str, Any]) -> str:
    """A point's identity, for grouping and for the (run, point) pairs already measured."""
    return json.dumps(point, sort_keys=True)


def pin_args(point: dict[str, Any], axes: list[str]) -> list[str]:
    """launch.py flags that pin each grid axis of `axes` to the point's value, so that the
    benchmark measures exactly this point, e.g. --config.benchmark.grid.lengths=((16, 16),)."""
    args = []
    for axis in axes:
        if axis == "lengths":
            value: tuple = ((point["src_len"], point["tgt_len"]),)
        elif axis in point:
            value = (point[axis],)
        else:
            raise ValueError(f"point {point} has no value for grid axis {axis!r}")
        args.append(f"--config.benchmark.grid.{axis}={value!r}")
    return args


def read_records(path: str) -> list[dict[str, Any]]:
    """The run records of `path` ([] if it does not exist). A last line cut short by an
    interrupted write is dropped; any other line that is not JSON is an error naming it."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    records = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            if i == len(lines) - 1:  # No newline after it: the write was interrupted.
                break
            raise ValueError(f"{path}, line {i + 1}: not a JSON run record ({e})") from e
    return records


def append_record(path: str, record: dict[str, Any]) -> None:
    """Appends one run record as a line, so an interrupted comparison keeps its runs."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def _order(point: dict[str, Any]) -> tuple:
    """Points sort by their other axes, then batch size, source and target length."""
    others = tuple(json.dumps(point[a]) for a in sorted(point) if a not in _CELL_AXES)
    return (others, *(point[a] for a in _CELL_AXES))


def group(records: list[dict[str, Any]]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(point, its records by run), the points in order (`_order`), whatever the records' order."""
    groups: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    for r in records:
        groups.setdefault(point_key(r["point"]), (r["point"], []))[1].append(r)
    ordered = sorted(groups.values(), key=lambda g: _order(g[0]))
    return [(point, sorted(rs, key=lambda r: r["run"])) for point, rs in ordered]


def summarize(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per point: {"point", "runs", "train" and "greedy": {"s2s_jax", "torch",
    "ratio", "ratio_min", "ratio_max"}, "s2s_jax_compile_s", "s2s_jax_utilization",
    "torch_utilization", "train_ratio_at_peak"}, and where every run measured the kernel
    bound "s2s_jax_of_kernel_bound" and "train_ratio_at_kernel_bound" (and for greedy
    decoding "greedy_ratio_at_kernel_bound") (medians over the runs;
    see the module doc)."""
    entries = []
    for point, rs in group(records):
        entry: dict[str, Any] = {"point": point, "runs": len(rs)}
        for kind in KINDS:
            ours = [r["s2s_jax"][kind] for r in rs]
            twin = [r["torch"][kind] for r in rs]
            per_run = [a / b for a, b in zip(ours, twin, strict=True)]
            mine, theirs = statistics.median(ours), statistics.median(twin)
            entry[kind] = {"s2s_jax": mine, "torch": theirs, "ratio": mine / theirs,
                           "ratio_min": min(per_run), "ratio_max": max(per_run)}  # fmt: skip
        entry["s2s_jax_compile_s"] = statistics.median(r["s2s_jax"]["compile_s"] for r in rs)
        entry["s2s_jax_utilization"] = statistics.median(r["s2s_jax"]["utilization"] for r in rs)
        entry["torch_utilization"] = statistics.median(
            r["s2s_jax"]["utilization"] * r["torch"]["train"] / r["s2s_jax"]["train"] for r in rs
        )
        entry["train_ratio_at_peak"] = 1 / entry["torch_utilization"]
        if all("kernel_bound" in r["s2s_jax"] for r in rs):
            bounds = [r["s2s_jax"]["kernel_bound"] for r in rs]
            entry["s2s_jax_of_kernel_bound"] = statistics.median(
                r["s2s_jax"]["train"] / b for r, b in zip(rs, bounds, strict=True)
            )
            entry["train_ratio_at_kernel_bound"] = statistics.median(
                b / r["torch"]["train"] for r, b in zip(rs, bounds, strict=True)
            )
        if all("greedy_kernel_bound" in r["s2s_jax"] for r in rs):
            entry["greedy_ratio_at_kernel_bound"] = statistics.median(
                r["s2s_jax"]["greedy_kernel_bound"] / r["torch"]["greedy"] for r in rs
            )
        entries.append(entry)
    return entries


def headline(entry: dict[str, Any], variant: str) -> dict[str, Any]:
    """One point's summary as compare_torch prints it for a single-point variant."""
    out: dict[str, Any] = {"variant": variant, "decoder": entry["point"]["decoder"],
                           "runs": entry["runs"]}  # fmt: skip
    for kind in KINDS:
        out[kind] = {k: entry[kind][k] for k in ("s2s_jax", "torch", "ratio")}
    keys = ("s2s_jax_compile_s", "s2s_jax_utilization", "torch_utilization", "train_ratio_at_peak",
            "s2s_jax_of_kernel_bound", "train_ratio_at_kernel_bound",
            "greedy_ratio_at_kernel_bound")  # fmt: skip
    return out | {key: entry[key] for key in keys if key in entry}


def varying_axes(points: list[dict[str, Any]]) -> list[str]:
    """The axes besides batch size and lengths whose value differs between `points`."""
    axes = [a for a in points[0] if a not in _CELL_AXES] if points else []
    return [a for a in axes if len({json.dumps(p.get(a)) for p in points}) > 1]


# The kernel bound's columns (where any point has them): key -> (heading, cell format).
_BOUND_COLUMNS = {
    "s2s_jax_of_kernel_bound": ("s2s_jax of kernel bound", "{:.0%}"),
    "train_ratio_at_kernel_bound": ("train ratio at kernel bound", "{:.2f}x"),
    "greedy_ratio_at_kernel_bound": ("greedy ratio at kernel bound", "{:.2f}x"),
}


def markdown_table(entries: list[dict[str, Any]]) -> str:
    """One row per point: the medians, the ratios with their per-run spread, both programs'
    utilization and the train ratio at the peak, and at the kernel bound where measured. Axes
    other than batch, lengths and decoder get a column where they vary."""
    extra = [a for a in varying_axes([e["point"] for e in entries]) if a != "decoder"]
    head = ["batch", "src", "tgt", "decoder", *extra, "runs"]
    for kind in KINDS:
        head += [f"s2s_jax {kind} tok/s", f"twin {kind} tok/s", f"{kind} ratio (min-max)"]
    head += ["s2s_jax util", "twin util", "train ratio at peak"]
    bounds = [key for key in _BOUND_COLUMNS if any(key in e for e in entries)]
    head += [_BOUND_COLUMNS[key][0] for key in bounds]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for e in entries:
        p = e["point"]
        cells = [p["batch_size"], p["src_len"], p["tgt_len"], p["decoder"]]
        cells += [p.get(a, "-") for a in extra] + [e["runs"]]
        for kind in KINDS:
            k = e[kind]
            cells += [f"{k['s2s_jax']:.0f}", f"{k['torch']:.0f}",
                      f"{k['ratio']:.2f}x ({k['ratio_min']:.2f}-{k['ratio_max']:.2f})"]  # fmt: skip
        cells += [f"{100 * e['s2s_jax_utilization']:.0f}%", f"{100 * e['torch_utilization']:.0f}%",
                  f"{e['train_ratio_at_peak']:.2f}x"]  # fmt: skip
        cells += [_BOUND_COLUMNS[key][1].format(e[key]) if key in e else "-" for key in bounds]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _length_label(src: int, tgt: int) -> str:
    return str(src) if src == tgt else f"{src}/{tgt}"


def _panels(entries: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(label naming the other varying axes' values, its entries), in the entries' order."""
    varying = varying_axes([e["point"] for e in entries])
    panels: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        label = ", ".join(f"{a}={e['point'].get(a)}" for a in varying)
        panels.setdefault(label, []).append(e)
    return list(panels.items())


def heatmap_figure(entries: list[dict[str, Any]]) -> Any:
    """The matplotlib Figure of the ratios over batch size (rows) x length (columns).

    One row of two panels (train, greedy) per combination of the other varying axes; the
    panels are fig.axes in that order, and the shared colorbar's axes come last. Each cell
    holds one text, its ratio with 2 decimals; a point not measured is left blank.
    """
    if not entries:
        raise ValueError("no run records to draw")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import TwoSlopeNorm

    panels = _panels(entries)
    ratios = [e[kind]["ratio"] for e in entries for kind in KINDS]
    norm = TwoSlopeNorm(vcenter=1.0, vmin=min(min(ratios), 0.95), vmax=max(max(ratios), 1.05))
    width = max(
        len({(e["point"]["src_len"], e["point"]["tgt_len"]) for e in es}) for _, es in panels
    )
    size = (len(KINDS) * (2.5 + 1.1 * width), 0.6 + 3.4 * len(panels))
    fig, axes = plt.subplots(
        len(panels), len(KINDS), figsize=size, squeeze=False, layout="constrained"
    )
    image = None
    for row, (label, es) in zip(axes, panels, strict=True):
        batches = sorted({e["point"]["batch_size"] for e in es})
        lengths = sorted({(e["point"]["src_len"], e["point"]["tgt_len"]) for e in es})
        for ax, kind in zip(row, KINDS, strict=True):
            grid = np.full((len(batches), len(lengths)), np.nan)
            for e in es:
                p = e["point"]
                i, j = batches.index(p["batch_size"]), lengths.index((p["src_len"], p["tgt_len"]))
                grid[i, j] = e[kind]["ratio"]
            ax.set_facecolor("0.85")  # A point not measured: grey, no text.
            image = ax.imshow(np.ma.masked_invalid(grid), cmap="RdYlGn", norm=norm, aspect="auto")
            for (i, j), value in np.ndenumerate(grid):
                if not math.isnan(value):
                    ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=10)
            same = all(s == t for s, t in lengths)
            ax.set_xticks(range(len(lengths)), [_length_label(s, t) for s, t in lengths])
            ax.set_yticks(range(len(batches)), [str(b) for b in batches])
            ax.set_xlabel("length" if same else "length (source/target)")
            ax.set_ylabel("batch size")
            title = "train" if kind == "train" else "greedy decoding"
            ax.set_title(f"{title}: {label}" if label else title, fontsize=10)
    fig.colorbar(image, ax=axes.ravel().tolist(), label="s2s_jax / twin tokens/s")
    decoders = sorted({str(e["point"]["decoder"]) for e in entries})
    runs = sorted({e["runs"] for e in entries})
    fig.suptitle(
        f"s2s_jax / PyTorch twin, ratio of median tokens/s; decoder {', '.join(decoders)}; "
        f"{runs[0] if len(runs) == 1 else f'{runs[0]}-{runs[-1]}'} runs per point",
        fontsize=11,
    )
    return fig


def write_report(records: list[dict[str, Any]], out_dir: str) -> list[dict[str, Any]]:
    """Writes compare.md, compare.json and compare_heatmap.png in `out_dir`; the entries."""
    entries = summarize(records)
    atomic_write.write_text(os.path.join(out_dir, "compare.md"), markdown_table(entries))
    variants = sorted({str(r.get("variant")) for r in records})
    summary = {"variant": ", ".join(variants), "points": entries}
    atomic_write.write_json(os.path.join(out_dir, "compare.json"), summary)
    fig = heatmap_figure(entries)
    import matplotlib.pyplot as plt  # After heatmap_figure chose the Agg backend.

    fig.savefig(os.path.join(out_dir, "compare_heatmap.png"), dpi=100, bbox_inches="tight")
    plt.close(fig)
    return entries
