"""Keeps the host allocator from returning large buffers to the OS between steps.

On CPU, XLA allocates each step's temporaries (hundreds of MiB for a train
step) with glibc malloc from its worker threads. glibc serves chunks larger
than an arena's heap with a fresh mmap and frees them with munmap, so every
step page-faults its whole temporary space back in: about 94,000 faults and
over 10% of the step time on the `base` benchmark. One arena that never uses
mmap and never trims keeps that memory mapped and reused.

Call `keep_freed_memory()` once at process start, before JAX runs anything.
It changes only allocator policy, and does nothing where the C library is not
glibc. The heap then keeps its high-water mark, so the process's peak RSS can
read higher than what the program needs at once; the benchmark therefore
measures memory in a process of its own, without this setting.
"""

import ctypes
import ctypes.util
import sys

# mallopt parameters, from glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8


def keep_freed_memory() -> bool:
    """Sets glibc's malloc to one arena, no mmap and no trimming; True if it applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # Not glibc (musl has no mallopt).
        return False
    settings = ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2**31 - 1))
    return all(mallopt(param, value) == 1 for param, value in settings)
