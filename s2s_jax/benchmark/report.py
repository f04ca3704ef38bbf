"""The benchmark's table (benchmark.md) and plot (benchmark.png), from its rows."""

from typing import Any


def markdown_table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| batch | src | tgt | hidden | cell | dtype | unroll | remat | loss chunk | backend "
        "| decoder "
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
            f"{p['backend']} | {p['decoder']} | "
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
