"""Operations settings: log format, metrics endpoint, watchdog deadlines, shutdown and doctor limits (ops stage)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from edge_agent.config.base import StrictModel
from edge_agent.config.hosts import bind_host


class LoggingConfig(StrictModel):
    format: Literal["plain", "json"] = "plain"  # json: one object per line, for journald → Loki/ELK
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class MetricsConfig(StrictModel):
    enabled: bool = False
    host: str = "127.0.0.1"  # 0.0.0.0 to let a Prometheus server on the LAN scrape it
    port: int = Field(9108, ge=0, le=65535, description="0 picks a free port (tests)")

    @field_validator("host")
    @classmethod
    def _bind_host(cls, v: str) -> str:
        return bind_host(v)


class WatchdogConfig(StrictModel):
    """A loop silent past its deadline stops the systemd pings (restart after ``WatchdogSec`` more).

    The camera reader reports each frame and each reconnect attempt, so the deadline must exceed
    ``camera.reconnect_max_s`` plus the time an open may take (``camera.open_timeout_s``).
    """

    camera_deadline_s: float = Field(90.0, ge=1, le=600, description="camera reader silent this long → stuck")
    perception_deadline_s: float = Field(30.0, ge=1, le=600, description="main loop silent this long → stuck")


class DoctorConfig(StrictModel):
    min_free_mb: int = Field(500, ge=0, le=1_000_000, description="free space the data directory needs")
    camera_timeout_s: float = Field(10.0, gt=0, le=300)
    broker_timeout_s: float = Field(5.0, gt=0, le=300)


class OpsConfig(StrictModel):
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    watchdog: WatchdogConfig = Field(default_factory=WatchdogConfig)
    doctor: DoctorConfig = Field(default_factory=DoctorConfig)
    stop_timeout_s: float = Field(5.0, gt=0, le=60, description="SIGTERM → exit within this budget")
    heap_mmap_threshold_kb: int = Field(128, ge=64, le=65536, description="glibc mmap threshold: lower keeps "
                                        "peak RSS low, higher reuses frame buffers (about half the CPU at 4096)")
