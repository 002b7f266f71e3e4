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


class SessionFactory:
    """Creates ``InferenceSession`` objects with one set of options; caches by path."""

    def __init__(self, threads: int = 2, providers: Sequence[str] = ("CPUExecutionProvider",)) -> None:
        self.threads = threads
        self.providers = resolve_providers(providers)
        self._cache: dict[Path, ort.InferenceSession] = {}

    def options(self) -> ort.SessionOptions:
        so = ort.SessionOptions()
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.add_session_config_entry("session.inter_op.allow_spinning", "0")
        so.log_severity_level = 3
        return so

    def get(self, path: str | Path) -> ort.InferenceSession:
        path = Path(path).resolve()
        if path not in self._cache:
            if not path.is_file():
                raise ModelMissingError(f"model file {path} is missing: run `edge-agent models fetch`")
            try:
                self._cache[path] = ort.InferenceSession(str(path), self.options(), providers=self.providers)
            except Exception as exc:  # onnxruntime's own types (InvalidProtobuf, Fail…), no common base
                why = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
                raise ModelLoadError(f"model file {path} cannot be loaded ({why}): run "
                                     "`edge-agent models verify` / `edge-agent models fetch`") from None
        return self._cache[path]
