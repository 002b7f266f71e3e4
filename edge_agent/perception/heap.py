"""Process memory: keep frame-sized buffers from piling up in a heap that never shrinks."""

from __future__ import annotations


def heap_returns_large_blocks(threshold: int = 128 * 1024) -> bool:
    """Make glibc serve blocks ≥ ``threshold`` with mmap (returned to the system on free).

    Why: glibc raises its mmap threshold after each large free, so frame-sized numpy and
    onnxruntime buffers end up in a heap that fragments and never shrinks — the agent's peak
    RSS grew frame by frame. A fixed threshold stops that. Process-wide; a no-op off glibc."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(-3, threshold))  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return False
