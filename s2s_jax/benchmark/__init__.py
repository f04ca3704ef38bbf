"""Benchmark mode: speed, memory and FLOP/s of training and decoding at every point of a grid.

- grid.py:    the grid's points, each turned into an ordinary experiment config;
- run.py:     `run_benchmark(config, workdir)`, each point in fresh processes;
- measure.py: what one point's processes measure, through `experiment.build`;
- report.py:  the table and the plot; flops.py: analytic FLOPs and device peaks.
- compare.py: side by side with the PyTorch twin (scripts/compare_torch.py): ratios, heat map.
"""
