"""The C allocator (glibc's), told what this process wants of freed memory: kept for reuse
(a worker, a report on the command line) or handed back to the system (after a warm-up, or
after a large ingestion in the web process). Linux and glibc only; elsewhere nothing changes."""

from __future__ import annotations

import ctypes

# glibc's mallopt parameters
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory() -> None:
    """Have the allocator keep the memory a report frees, for the next arrays to reuse, rather
    than map every large array afresh and hand it back: a report makes and frees arrays of
    megabytes by the hundred, and two threads handing memory back at once stall each other
    (on this 2-core machine, a NumPy pass over a fresh array ran 0.4-0.6x as fast beside
    another thread doing the same; 1.2-1.8x with the memory kept). Called once, early, by the
    worker and the report command."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30)
        libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)  # (an int: 2 GB would overflow it)
    except (OSError, AttributeError):
        pass


def release_free_memory() -> None:
    """Hand the memory freed so far back to the system (glibc keeps much of it otherwise)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass
