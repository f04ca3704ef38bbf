"""The benchmark's table (benchmark.md) and plots (benchmark.png; benchmark_scaling.png when
points differ in their device count), from its rows."""

from typing import Any


def markdown_table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| batch | src | tgt | hidden | cell | dtype | unroll | remat | loss chunk | backend "
        "| decoder | devices "
        "| compile s "
        "| train steps/s (min-max) | train tok/s | greedy tok/s | beam tok/s | peak MiB "
        "| step plan MiB | TFLOP/s | util |"
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
            f"{100 * r['utilization']:.0f}% |"
        )
    device = rows[0]["device_kind"] if rows else "?"
    return f"Device: {device}\n\n" + "\n".join(lines) + "\n"


def _rate(row: dict[str, Any], key: str) -> str:
    """A decoding rate, or '-' for a decoder the settings did not time."""
    return f"{row[key]:.0f}" if key in row else "-"


def plot(rows: list[dict[str, Any]], path: str) -> None:
    """Train tokens/s against batch size, and seconds per step against length."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for r in rows:
        p = r["point"]
        left.scatter(p["batch_size"], r["train_tgt_tokens_per_s"], color="C0")
        right.scatter(p["src_len"] + p["tgt_len"], 1 / r["train_steps_per_s"], color="C1")
    left.set(xlabel="batch size", ylabel="train target tokens/s", xscale="log")
    right.set(xlabel="source + target length", ylabel="seconds per train step")
    lengths = [
        (r["point"]["src_len"] + r["point"]["tgt_len"], 1 / r["train_steps_per_s"]) for r in rows
    ]
    if len({x for x, _ in lengths}) > 1:
        import numpy as np

        x, y = np.array(lengths).T
        slope, intercept = np.polyfit(x, y, 1)
        xs = np.linspace(0, x.max(), 50)
        right.plot(xs, slope * xs + intercept, "--", color="gray", label="linear fit")
        right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


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
