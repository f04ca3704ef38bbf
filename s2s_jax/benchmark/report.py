"""The benchmark's table (benchmark.md) and plots (benchmark.png; benchmark_scaling.png when
points differ in their device count), from its rows.

benchmark.png (`figure`): seconds per train step against the *target* length, one coloured
series per batch size, each with its own least-squares line (dashed; slope, intercept and R²
in the legend), so that whether the cost is linear in length can be read per batch size; and
train target tokens/s against batch size, one series per (source, target) length pair. Only
the points of the first combination of the other axes (hidden size, cell, dtype, decoder, …,
devices: the first grid point's) are drawn, and the title names it and counts the points left
out; every point is in benchmark.md.
"""

from collections.abc import Callable
from typing import Any

# A measured peak that moved by more than this (relative) during the run flags a point.
PEAK_TOLERANCE = 0.10


def peak_flags(row: dict[str, Any]) -> list[str]:
    """Why a row's utilization cannot be trusted, if it cannot: the peak moved by more than
    `PEAK_TOLERANCE` between the run's start and end, or the point's own check is that far off
    the run's peak; or the utilization is over 100% (the FLOP count or the peak is wrong)."""
    flags = []
    start, end, own = row["peak_flops_start"], row["peak_flops_end"], own_peak_change(row)
    if abs(end / start - 1) > PEAK_TOLERANCE:
        flags.append(f"peak moved {end / start - 1:+.0%} from start to end")
    if own is not None and abs(own) > PEAK_TOLERANCE:
        flags.append(f"own peak {own:+.0%} off the run's")
    if row["utilization"] > 1:
        flags.append(f"utilization {row['utilization']:.0%} > 100%: FLOP count or peak wrong")
    return flags


def markdown_table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| batch | src | tgt | hidden | cell | dtype | unroll | remat | loss chunk | backend "
        "| decoder | devices "
        "| compile s "
        "| train steps/s (min-max) | train tok/s | greedy tok/s | beam tok/s | peak MiB "
        "| step plan MiB | TFLOP/s | util | of kernel bound | own peak | flags |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        p = r["point"]
        lines.append(
            f"| {p['batch_size']} | {p['src_len']} | {p['tgt_len']} | {p['hidden_size']} | "
            f"{p['cell']} | {p['dtype']} | {p['scan_unroll']} | {p['remat']} | {p['loss_chunk']} | "
            f"{p['backend']} | {p['decoder']} | {r['num_devices']} | "
            f"{r['compile_s']:.2f} | "
            f"{r['train_steps_per_s']:.2f} ({r['train_steps_per_s_min']:.2f}-"
            f"{r['train_steps_per_s_max']:.2f}) | {r['train_tgt_tokens_per_s']:.0f} | "
            f"{_rate(r, 'greedy_tokens_per_s')} | {_rate(r, 'beam_tokens_per_s')} | "
            f"{r['peak_memory_bytes'] / 2**20:.0f}{'' if r['within_memory_bound'] else ' OVER'} | "
            f"{r['train_step_plan_bytes'] / 2**20:.0f} | "
            f"{r['train_flops_per_s'] / 1e12:.3f} | "
            f"{100 * r['utilization']:.0f}%{' OVER' if r['utilization'] > 1 else ''} | "
            f"{_of_kernel_bound(r)} | {_own_peak(r)} | {'; '.join(peak_flags(r))} |"
        )
    device = rows[0]["device_kind"] if rows else "?"
    return f"Device: {device}\n\n{_peaks(rows)}\n" + "\n".join(lines) + "\n"


def own_peak_change(row: dict[str, Any]) -> float | None:
    """The point's own peak check relative to the row's peak (0.05: 5% above), or None where
    none was made (a table peak)."""
    own = row["point_peak_flops"]
    return None if own is None else own / row["peak_flops"] - 1


def _own_peak(row: dict[str, Any]) -> str:
    """The point's own peak check against the run's peak, or '-' where none was made."""
    own = own_peak_change(row)
    return "-" if own is None else f"{own:+.0%}"


def _of_kernel_bound(row: dict[str, Any]) -> str:
    """Train tokens/s as a share of the kernel bound's (kernel_bound.py), where measured."""
    if "kernel_bound_tgt_tokens_per_s" not in row:
        return "-"
    return f"{row['train_tgt_tokens_per_s'] / row['kernel_bound_tgt_tokens_per_s']:.0%}"


def _peaks(rows: list[dict[str, Any]]) -> str:
    """One line per dtype: the run's peak, its source, and its start, end and change (the same
    in every row of the dtype)."""
    by_dtype = {r["point"]["dtype"]: r for r in rows}
    lines = []
    for dtype, r in sorted(by_dtype.items()):
        start, end = r["peak_flops_start"], r["peak_flops_end"]
        lines.append(
            f"Peak, {dtype}: {r['peak_flops'] / 1e9:.1f} GFLOP/s ({r['peak_source']}): "
            f"{start / 1e9:.1f} at the start, {end / 1e9:.1f} at the end "
            f"({end / start - 1:+.1%}).\n"
        )
    note = "Utilization is against it; `own peak`: each point's own check, against it.\n"
    return "".join(lines) + (note if lines else "")


def _rate(row: dict[str, Any], key: str) -> str:
    """A decoding rate, or '-' for a decoder the settings did not time."""
    return f"{row[key]:.0f}" if key in row else "-"


def _plotted(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """The rows of the first row's combination of the axes other than batch size and lengths,
    and a title naming the ones of those axes that vary, with the count of rows left out."""

    def others(r: dict[str, Any]) -> tuple:
        return tuple((k, str(v)) for k, v in sorted(r["point"].items()) if k not in _PLOT_AXES)

    shown = [r for r in rows if others(r) == others(rows[0])]
    varying = {k for r in rows for k, v in others(r) if (k, v) not in others(rows[0])}
    title = ", ".join(f"{k}={v}" for k, v in others(rows[0]) if k in varying)
    if len(shown) < len(rows):
        title += f" ({len(rows) - len(shown)} points of other values: see benchmark.md)"
    return shown, title


_PLOT_AXES = ("batch_size", "src_len", "tgt_len")


def _series(
    rows: list[dict[str, Any]],
    key: Callable[[dict[str, Any]], Any],
    y: Callable[[dict[str, Any]], float],
    x_axis: str,
) -> dict[Any, tuple[Any, Any]]:
    """The rows grouped by key(point), in key order: each group's (x, y) arrays, x being the
    point's `x_axis` value, sorted by x."""
    import numpy as np

    groups: dict[Any, list[tuple[float, float]]] = {}
    for r in rows:
        groups.setdefault(key(r["point"]), []).append((r["point"][x_axis], y(r)))
    return {k: tuple(np.array(sorted(groups[k]), dtype=float).T) for k in sorted(groups)}


def figure(rows: list[dict[str, Any]]) -> Any:
    """benchmark.png's matplotlib Figure (see the module docstring)."""
    import numpy as np
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4.5))
    steps, rates = fig.subplots(1, 2)
    shown, title = _plotted(rows)
    by_batch = _series(shown, lambda p: p["batch_size"], lambda r: 1 / r["train_steps_per_s"],
                       x_axis="tgt_len")  # fmt: skip
    for i, (batch, (x, y)) in enumerate(by_batch.items()):
        label = f"batch {batch}"
        if len(set(x)) > 1:
            slope, intercept = np.polyfit(x, y, 1)
            residual, total = np.sum((y - slope * x - intercept) ** 2), np.sum((y - y.mean()) ** 2)
            r2 = f", R² {1 - residual / total:.3f}" if total > 0 else ""
            label += f": {1e3 * slope:.2f} ms/token + {1e3 * intercept:.1f} ms{r2}"
            xs = np.array([0.0, x.max()])
            steps.plot(xs, slope * xs + intercept, "--", color=f"C{i}", gid=f"fit {batch}")
        steps.plot(x, y, "o", color=f"C{i}", label=label, gid=f"batch {batch}")
    steps.set(xlabel="target length (tokens); dashed: least-squares line per batch size",
              ylabel="seconds per train step", xlim=(0, None), ylim=(0, None))  # fmt: skip
    by_length = _series(shown, lambda p: (p["src_len"], p["tgt_len"]),
                        lambda r: r["train_tgt_tokens_per_s"], x_axis="batch_size")  # fmt: skip
    for i, ((src, tgt), (x, y)) in enumerate(by_length.items()):
        label = f"length {tgt}" if src == tgt else f"length {src} -> {tgt}"
        rates.plot(x, y, "o-", color=f"C{i}", label=label, gid=f"length {src} {tgt}")
    batches = list(by_batch)
    rates.set_xscale("log", base=2)
    rates.set_xticks(batches, [str(b) for b in batches])
    rates.set(xlabel="batch size", ylabel="train target tokens/s", ylim=(0, None))
    for ax in (steps, rates):
        ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot(rows: list[dict[str, Any]], path: str) -> None:
    """Writes benchmark.png (`figure`)."""
    figure(rows).savefig(path, dpi=100)


def scaling(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Train tokens/s against the device count, for each group of points that differ only in it
    (and have two counts or more): the speedup over the group's fewest devices n0, and the
    efficiency against linear scaling from there, speedup / (n / n0).

    Each entry: {"group": the point's other values that vary between groups, "devices",
    "tokens_per_s", "speedup", "efficiency"}; in group order, then by device count.
    """
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        key = tuple(sorted((k, str(v)) for k, v in r["point"].items() if k != "devices"))
        groups.setdefault(key, []).append(r)
    groups = {k: g for k, g in groups.items() if len({r["num_devices"] for r in g}) > 1}
    values = [dict(key) for key in groups]  # Every point has the same axes.
    varying = {k for k in (values[0] if values else {}) if len({v[k] for v in values}) > 1}
    entries = []
    for key, group in groups.items():
        label = ", ".join(f"{k}={v}" for k, v in key if k in varying)
        group = sorted(group, key=lambda r: r["num_devices"])
        n0, t0 = group[0]["num_devices"], group[0]["train_tgt_tokens_per_s"]
        for r in group:
            speedup = r["train_tgt_tokens_per_s"] / t0
            entries.append({
                "group": label, "devices": r["num_devices"],
                "tokens_per_s": r["train_tgt_tokens_per_s"], "speedup": speedup,
                "efficiency": speedup / (r["num_devices"] / n0),
            })  # fmt: skip
    return entries


def scaling_table(entries: list[dict[str, Any]]) -> str:
    lines = ["| points | devices | train tok/s | speedup | efficiency |", "|---|---|---|---|---|"]
    for e in entries:
        lines.append(
            f"| {e['group'] or 'all'} | {e['devices']} | {e['tokens_per_s']:.0f} | "
            f"{e['speedup']:.2f}x | {100 * e['efficiency']:.0f}% |"
        )
    return "\n".join(lines) + "\n"


def plot_scaling(entries: list[dict[str, Any]], path: str) -> None:
    """Train tokens/s against the device count beside linear scaling (dashed), and the
    efficiency against it, one line per group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for i, group in enumerate(dict.fromkeys(e["group"] for e in entries)):
        points = [e for e in entries if e["group"] == group]
        n = [e["devices"] for e in points]
        rate = [e["tokens_per_s"] for e in points]
        ideal = [rate[0] * d / n[0] for d in n]
        left.plot(n, rate, "o-", color=f"C{i}", label=group or "measured")
        left.plot(n, ideal, "--", color=f"C{i}", alpha=0.5)
        right.plot(n, [e["efficiency"] for e in points], "o-", color=f"C{i}")
    right.axhline(1.0, color="gray", linestyle="--", label="linear scaling")
    ticks = sorted({e["devices"] for e in entries})
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.set_xlabel("devices")
    left.set(ylabel="train target tokens/s (dashed: linear)", yscale="log")
    right.set(ylabel="efficiency vs linear scaling", ylim=(0, 1.1))
    left.legend()
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
