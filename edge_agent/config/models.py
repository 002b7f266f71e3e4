"""The root config model: one YAML file, one section per stage, validated once at start."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import Field, PrivateAttr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from edge_agent.config.base import Ident, StrictModel, load_warning
from edge_agent.config.bays import (
    BayConfig,
    ListsConfig,
    OccupancyConfig,
    TimersConfig,
    cross_section_problems,
    lock_bays,
)
from edge_agent.config.camera import CameraConfig
from edge_agent.config.chargers import ChargerHealthConfig
from edge_agent.config.evidence import EvidenceConfig
from edge_agent.config.locks import LockConfig
from edge_agent.config.mqtt import MqttConfig
from edge_agent.config.notify import NotifyConfig
from edge_agent.config.ops import OpsConfig
from edge_agent.config.perception import PerceptionConfig
from edge_agent.config.suggest import suggest_zone
from edge_agent.config.web import WebConfig

log = logging.getLogger(__name__)
_ETC_GMT = re.compile(r"^Etc/GMT([+-])(\d{1,2})$")


class SiteConfig(StrictModel):
    site_id: Ident
    device_id: Ident
    timezone: str = Field("Asia/Shanghai",
                          description="IANA zone for event timestamps and the web page (shown with the UTC offset); an "
                          "Etc/GMT±N zone is warned about with its real offset (Etc/GMT+8 is UTC-08:00)")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str, info: ValidationInfo) -> str:
        """Checked here so a typo is a config error, not a crash at the first event."""
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            if not available_timezones():  # a slim image without /usr/share/zoneinfo: no name is known
                raise ValueError(f"cannot check time zone {v!r}: this host has no time zone database "
                                 "(install the tzdata package)") from None
            meant = suggest_zone(v, available_timezones())
            raise ValueError(f"unknown time zone {v!r} (an IANA name such as Asia/Shanghai)"
                             + (f": did you mean {meant!r}?" if meant else "")) from None
        m = _ETC_GMT.match(v)
        if m and int(m.group(2)):  # Etc/GMT+8 written for China: quiet hours, daily statistics 16 hours off
            sign, hours = m.group(1), int(m.group(2))
            other = "-" if sign == "+" else "+"
            load_warning(info, log, f"site.timezone: {v} is UTC{other}{hours:02d}:00 (the tz database's Etc/GMT "
                         f"zones carry the POSIX sign, the opposite of what they look like: Etc/GMT{other}{hours} is "
                         f"UTC{sign}{hours:02d}:00); a region's name such as Asia/Shanghai leaves no doubt")
        return v


class AgentConfig(StrictModel):
    site: SiteConfig
    camera: CameraConfig
    bays: list[BayConfig]
    timers: TimersConfig = Field(default_factory=TimersConfig)
    occupancy: OccupancyConfig = Field(default_factory=OccupancyConfig)
    lists: ListsConfig = Field(default_factory=ListsConfig)
    perception: PerceptionConfig = Field(default_factory=PerceptionConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    locks: list[LockConfig] = Field(default_factory=list)
    web: WebConfig = Field(default_factory=WebConfig)
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig)
    ops: OpsConfig = Field(default_factory=OpsConfig)
    charger_health: ChargerHealthConfig = Field(default_factory=ChargerHealthConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    data_dir: str = Field("/var/lib/edge-agent", min_length=1,
                          description="everything the agent writes; '' would be the working directory")

    _source_path: Path | None = PrivateAttr(default=None)
    _hash: str = PrivateAttr(default="")
    _overrides_path: Path | None = PrivateAttr(default=None)  # <data_dir>/overrides.yaml when it applied
    # what this load warned about (``base.load_warning``), set by ``parse_config``: a reload says only what the
    # last load did not
    _warnings: tuple[str, ...] = PrivateAttr(default=())

    @field_validator("data_dir")
    @classmethod
    def _a_folder(cls, v: str) -> str:
        """A path that exists must be a folder: ``/etc/passwd`` was an error naming overrides.yaml instead."""
        p = Path(v)
        if p.exists() and not p.is_dir():
            raise ValueError(f"{v} exists and is not a folder (the agent keeps its data, outbox and overrides there)")
        return v

    @model_validator(mode="wrap")
    @classmethod
    def _cross_section(cls, data, handler, info: ValidationInfo):  # noqa: ANN001, ANN206 - pydantic wrap validator
        """Checks spanning sections (see ``bays.cross_section_problems``), reported at their key path."""
        cfg = handler(data)
        problems = cross_section_problems(cfg, info)
        if problems:
            raise ValidationError.from_exception_data(
                cls.__name__,
                [
                    InitErrorDetails(type=PydanticCustomError("config", "{msg}", {"msg": msg}), loc=loc, input=None)
                    for loc, msg in problems
                ],
            )
        return cfg

    def lock_bays(self) -> dict[str, str]:
        """lock id → bay id (each lock's bay, however the YAML named it; checked at validation)."""
        return lock_bays(self)

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the load that made this config warned about (each once, in order): a reload's ``said``."""
        return self._warnings

    @property
    def source_path(self) -> Path | None:
        return self._source_path

    @property
    def overrides_path(self) -> Path | None:
        """The run-time overrides file merged into this config, if there was one."""
        return self._overrides_path

    @property
    def config_hash(self) -> str:
        return self._hash
