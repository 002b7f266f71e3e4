"""Process memory: keep frame-sized buffers from piling up in a heap that never shrinks."""

from __future__ import annotations


def heap_returns_large_blocks(threshold: int = 128 * 1024) -> bool:
    """Make glibc serve blocks ≥ ``threshold`` with mmap (returned to the system on free).

    Why: glibc raises its mmap threshold after each large free, so frame-sized numpy and
    onnxruntime buffers end up in a heap that fragments and never shrinks — the agent's peak
    RSS grew frame by frame. A fixed threshold stops that. Process-wide; a no-op off glibc."""
    return set_heap_mmap_threshold(threshold // 1024)


def set_heap_mmap_threshold(kib: int) -> bool:
    """Serve blocks of ``kib`` KiB and more with mmap; below that they come from the heap and are reused.

    The default (128 KiB, ``heap_returns_large_blocks``) keeps peak RSS low but every frame-sized buffer
    is a fresh mapping whose pages the kernel zeroes on first touch: on a 43-bay, 1280x720, 5 fps replay
    half the CPU was system time (185 s CPU for 600 s of clip; 103 s with 4096 KiB, peak RSS +87 MB).
    Above the default the heap also keeps a pad of that size and trims only past twice it, so freed frames
    are reused instead of handed back. ``ops.heap_mmap_threshold_kb`` picks the trade-off."""
    import ctypes

    size = int(kib) * 1024
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = bool(libc.mallopt(-3, size))  # M_MMAP_THRESHOLD
        if size > 128 * 1024:
            ok = bool(libc.mallopt(-1, 2 * size)) and bool(libc.mallopt(-2, size)) and ok  # M_TRIM_THRESHOLD, M_TOP_PAD
        return ok
    except (OSError, AttributeError):
        return False
