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


def test_memory_arena_reaches_the_sessions(models_dir):
    """perception.memory_arena: the detector's session gets the arena by default (one frame shape on a
    fixed camera: half the CPU), the recogniser's only with 'all'; the old booleans still mean all / off."""
    from edge_agent.config.perception import PerceptionConfig
    from edge_agent.perception.pipeline import Pipeline

    assert PerceptionConfig().memory_arena == "detector"
    assert PerceptionConfig.model_validate({"memory_arena": True}).memory_arena == "all"
    assert PerceptionConfig.model_validate({"memory_arena": False}).memory_arena == "off"
    with pytest.raises(ValidationError, match="memory_arena"):
        PerceptionConfig.model_validate({"memory_arena": "sometimes"})

    def arenas(mode: str) -> tuple[bool, bool]:
        pipe = Pipeline.from_config(PerceptionConfig(memory_arena=mode), models_dir)
        det, rec = pipe.detector.session, pipe.recognizer.session
        return (det.get_session_options().enable_cpu_mem_arena, rec.get_session_options().enable_cpu_mem_arena)

    assert arenas("detector") == (True, False)
    assert Pipeline.from_config(PerceptionConfig(), models_dir).reads_regions  # the agent may ask for bay regions
    assert arenas("all") == (True, True)
    assert arenas("off") == (False, False)
