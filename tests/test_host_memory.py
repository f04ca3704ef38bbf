"""Tests for s2s_jax.host_memory: after keep_freed_memory, a large block comes from the heap."""

import subprocess
import sys

import pytest

# A 64 MiB block is above glibc's mmap threshold: it is mmapped unless mmap is switched off, in
# which case it comes from the heap (the [heap] mapping of /proc/self/maps).
_PROBE = """
import ctypes, sys
from s2s_jax.host_memory import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "on" else None
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
address = libc.malloc(64 << 20)
heap = [line.split()[0] for line in open("/proc/self/maps") if line.rstrip().endswith("[heap]")]
lo, hi = (int(x, 16) for x in heap[0].split("-")) if heap else (0, 0)
print(applied, lo <= address < hi)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux's")
def test_large_blocks_come_from_the_heap_once_mmap_is_off():
    def probe(mode: str) -> str:
        out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    assert probe("off") == ["None", "False"]  # The default: the block is a mapping of its own.
    assert probe("on") == ["True", "True"]
