"""End to end (slow): each finding's `:smoke` sweep through `launch.py --sweep`, as the README's
command runs it, then its figure and table from the trial folders (`figures.write`, what
scripts/finding_figure.py runs; tests/findings/test_figures.py runs the script itself).

The smoke variants train generated tasks for a few dozen steps (no corpus needed); the
trials run two at a time and share the session's compilation cache (tests/conftest.py).
"""

from pathlib import Path

import pytest
from helpers import ROOT, run_launch

from experiments.findings import beam, context, length, luong, reversal
from s2s_jax.findings import figures, spec

FINDINGS = {
    "reversal": reversal, "length": length, "luong": luong, "beam": beam, "context": context,
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("name", list(FINDINGS))
def test_smoke_sweep_and_figure(tmp_path: Path, name: str) -> None:
    workdir = tmp_path / name
    config = f"--config=experiments/findings/{name}.py:smoke"
    run_launch(config, "--sweep", "--sweep_parallel=2", f"--workdir={workdir}", timeout=240)
    trials = FINDINGS[name].get_sweep("smoke").trials
    for folder in {p.parent for p in workdir.glob("*/final_eval.json")}:
        assert (folder / "metrics.jsonl").is_file()
    assert len(list(workdir.glob("*/final_eval.json"))) == len(trials)
    if name == "length":
        assert len(list(workdir.glob("*/length_buckets.json"))) == len(trials)
    if name == "beam":
        assert len(list(workdir.glob("*/beam_grid.json"))) == len(trials)

    printed = figures.write(str(workdir), spec.load(f"{ROOT}/experiments/findings/{name}.py:smoke"))
    assert (workdir / "finding.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (workdir / "finding.md").read_text(encoding="utf-8")
    assert text == printed
    conditions = len({repr(sorted((k, v) for k, v in t.items() if k != "seed")) for t in trials})
    first_table = text.split("\n\n")[2].splitlines()  # Title, summary line, then the table.
    assert first_table[0].startswith("| condition | n |")
    seeds = str(len(trials) // conditions)  # One smoke seed per condition.
    assert [row.split(" | ")[1] for row in first_table[2:]] == [seeds] * conditions
