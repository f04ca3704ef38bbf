"""Runs launch.py in a subprocess, as a user would; shared by the end-to-end tests."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_launch(
    *args: str, check: bool = True, stdin: bytes = b"", timeout: float = 300
) -> subprocess.CompletedProcess:
    """launch.py from the repo root on one CPU device; stdout and stderr come back as text."""
    env = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(
        [sys.executable, "launch.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        input=stdin,
        timeout=timeout,
    )
    proc.stdout, proc.stderr = proc.stdout.decode(), proc.stderr.decode()
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc
