"""The heap knob (ops.heap_mmap_threshold_kb): applied through glibc's mallopt, validated as config."""

from __future__ import annotations

import ctypes

import pytest
from pydantic import ValidationError

from edge_agent.config.ops import OpsConfig
from edge_agent.perception.heap import heap_returns_large_blocks, set_heap_mmap_threshold


def test_threshold_is_applied_and_restored():
    try:
        ctypes.CDLL("libc.so.6").mallopt  # noqa: B018 - is glibc here?
    except (OSError, AttributeError):
        pytest.skip("mallopt is glibc's")
    try:
        assert set_heap_mmap_threshold(4096)  # 4 MiB: frame buffers come from the heap and are reused
        assert set_heap_mmap_threshold(128)
    finally:
        heap_returns_large_blocks()


@pytest.mark.parametrize("bad", [0, 63, 65537, float("nan"), "4MB"])
def test_config_keeps_the_threshold_in_range(bad):
    with pytest.raises(ValidationError, match="heap_mmap_threshold_kb"):
        OpsConfig.model_validate({"heap_mmap_threshold_kb": bad})
    assert OpsConfig().heap_mmap_threshold_kb == 128


def test_memory_arena_reaches_the_sessions():
    """perception.memory_arena (default off: low RSS) is what the detector/recogniser sessions get."""
    from edge_agent.config.perception import PerceptionConfig
    from edge_agent.perception.sessions import SessionFactory

    assert PerceptionConfig().memory_arena is False
    assert SessionFactory().options().enable_cpu_mem_arena is False
    assert SessionFactory(memory_arena=True).options().enable_cpu_mem_arena is True
    with pytest.raises(ValidationError, match="memory_arena"):
        PerceptionConfig.model_validate({"memory_arena": "sometimes"})
