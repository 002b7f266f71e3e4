"""onnxruntime sessions, created once per model and shared by the stage that owns them.

Why a factory: every session on a 2-core board must agree on threads and turn busy-wait
spinning off (two spinning sessions starve each other: 42 → 28 ms per call measured), and
providers come from config with a CPU fallback so a Jetson config still starts on a laptop.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import onnxruntime as ort

log = logging.getLogger(__name__)


class ModelMissingError(FileNotFoundError):
    """A model file is absent: tell the user how to fetch it."""


class ModelLoadError(ValueError):
    """A model file is there but onnxruntime cannot load it (truncated download, wrong file)."""


def resolve_providers(wanted: Sequence[str]) -> list[str]:
    """Keep the configured providers this onnxruntime build has, always ending with CPU."""
    have = set(ort.get_available_providers())
    chosen = [p for p in wanted if p in have]
    for p in wanted:
        if p not in have:
            log.warning("execution provider %s not available here; falling back", p)
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


#: Models ``edge-agent models quantize`` makes int8 copies of (``NAME.int8.onnx`` beside them).
QUANTISED = ("clp_det.onnx", "ch_PP-OCRv4_rec_infer.onnx")
ARENA_MODES = ("off", "detector", "all")


class SessionFactory:
    """Creates ``InferenceSession`` objects with one set of options; caches by path.

    ``precision="int8"`` swaps the quantisable models for their int8 copies."""

    def __init__(self, threads: int = 2, providers: Sequence[str] = ("CPUExecutionProvider",),
                 precision: str = "fp32", memory_arena: str = "off") -> None:
        if memory_arena not in ARENA_MODES:
            raise ValueError(f"memory_arena must be one of {ARENA_MODES}, not {memory_arena!r}")
        self.threads = threads
        self.providers = resolve_providers(providers)
        self.precision = precision
        self.memory_arena = memory_arena
        self._cache: dict[tuple[Path, bool], ort.InferenceSession] = {}

    def options(self, arena: bool = False) -> ort.SessionOptions:
        so = ort.SessionOptions()
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.add_session_config_entry("session.inter_op.allow_spinning", "0")
        so.log_severity_level = 3
        # Without the arena every activation is a fresh allocation whose pages the kernel zeroes:
        # on a fixed 1280x720 camera at 5 fps the detector's arena halves the CPU of `run` and
        # costs ~15 MB of peak RSS (the frame pass has one shape). Refine windows and the
        # recogniser's plate batches change shape from call to call, and an arena keeps every
        # shape's peak: "all" costs another ~20 MB where plates are read. Memory patterns are
        # planned per shape: off.
        so.enable_cpu_mem_arena = arena
        so.enable_mem_pattern = False
        return so

    def arena_for(self, detector: bool) -> bool:
        """Whether a session gets the arena under ``memory_arena`` (off | detector | all)."""
        return self.memory_arena == "all" or (self.memory_arena == "detector" and detector)

    def get(self, path: str | Path, detector: bool = False) -> ort.InferenceSession:
        """The session for ``path`` (one per model and arena choice); ``detector``: the plate detector's,
        which the default ``memory_arena: detector`` gives the arena."""
        path = Path(path)
        if self.precision == "int8" and path.name in QUANTISED:
            path = path.with_name(path.name[:-5] + ".int8.onnx")
            if not path.is_file():
                raise ModelMissingError(f"model file {path} is missing: run `edge-agent models quantize` "
                                        "(or set perception.precision: fp32)")
        path = path.resolve()
        arena = self.arena_for(detector)
        if (path, arena) not in self._cache:
            if not path.is_file():
                raise ModelMissingError(f"model file {path} is missing: run `edge-agent models fetch`")
            try:
                self._cache[(path, arena)] = ort.InferenceSession(str(path), self.options(arena),
                                                                  providers=self.providers)
            except Exception as exc:  # onnxruntime's own types (InvalidProtobuf, Fail…), no common base
                why = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
                raise ModelLoadError(f"model file {path} cannot be loaded ({why}): run "
                                     "`edge-agent models verify` / `edge-agent models fetch`") from None
        return self._cache[(path, arena)]
