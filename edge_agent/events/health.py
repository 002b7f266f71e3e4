"""Figures for the ``{prefix}/health`` heartbeat.

The runtime knows the pipeline figures (fps, inference time, camera state) and hands the
MQTT link a :class:`HealthSource` callable; the link adds what it knows itself (outbox,
broker) and what the board reports (disk use of the data folder, CPU temperature).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

THERMAL_ROOT = Path("/sys/class/thermal")


@dataclass
class HealthFigures:
    fps: float | None = None
    inference_ms: float | None = None
    camera_ok: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class HealthSource(Protocol):
    """Called once per heartbeat on the link's ticker thread; must be quick and thread-safe."""

    def __call__(self) -> HealthFigures: ...


def no_health() -> HealthFigures:
    """For a link without a pipeline (benchmarks, tools): every figure unknown."""
    return HealthFigures()


def cpu_temp_c(root: Path = THERMAL_ROOT) -> float | None:
    """The CPU/SoC zone's temperature in °C, the first zone's otherwise; None when there is none.

    Raspberry Pi names it ``cpu-thermal``, Jetson ``CPU-therm``; PCs and containers often have none.
    """
    zones = sorted(root.glob("thermal_zone*"))
    readings: list[tuple[bool, float]] = []
    for zone in zones:
        try:
            kind = (zone / "type").read_text().strip().lower()
            milli = int((zone / "temp").read_text().strip())
        except (OSError, ValueError):
            continue
        readings.append(("cpu" in kind or "soc" in kind, milli / 1000.0))
    if not readings:
        return None
    preferred = [t for is_cpu, t in readings if is_cpu]
    return round((preferred or [readings[0][1]])[0], 1)


def disk_use(path: Path) -> tuple[float | None, float | None]:
    """(percent used, MB free) of the filesystem holding ``path`` (nearest existing parent)."""
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        u = shutil.disk_usage(p)
    except OSError:
        return None, None
    return round(100.0 * u.used / u.total, 1) if u.total else None, round(u.free / 1e6, 1)
