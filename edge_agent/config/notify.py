"""Push notifications (owned by the notify stage): where violations and faults are sent.

Secrets (the webhook's signing key, a robot's key / token) never sit in the YAML: each is named
by an environment variable or a file, read once at start like mqtt's. Relative files resolve
against the config file's folder.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, time
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator

from edge_agent.config.base import Ident, StrictModel, load_warning
from edge_agent.config.eventtypes import BUS_EVENT_TYPES, unknown_types
from edge_agent.config.mqtt import ConfigPath, EnvName, SecretError, _read

DEFAULT_EVENTS = ["violation_started", "lock_fault", "lock_tamper", "camera_lost",
                  "charger_suspect", "charger_mismatch", "charger_silent"]
OFFICIAL_URL = {
    "wecom": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send",
    "dingtalk": "https://oapi.dingtalk.com/robot/send",
}
log = logging.getLogger(__name__)

ROBOT_MAX_AGE_H = 24.0  # a group robot's alert older than this is not sent (moved to the dead letters)
ROBOT_PER_MINUTE = 20  # WeCom and DingTalk take 20 messages a minute per robot; DingTalk then blocks it 10 min
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")  # 7:00 is 07:00 (a clock's way, and YAML's advice to quote 7:00)


class QuietHours(StrictModel):
    """Local time (site.timezone) when this sink is not sent to; what comes in is held and sent after."""

    start: str = Field(..., description="HH:MM in quotes; H:MM is read as 0H:MM")
    end: str = Field(..., description="HH:MM; before start = over midnight")

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        m = _HHMM.match(v)
        if not m:
            raise ValueError(f"{v!r} is not HH:MM (00:00 to 23:59)")
        return f"{int(m.group(1)):02d}:{m.group(2)}"

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("start and end are equal: quiet for no time or all day? Remove the section instead")
        return self

    @property
    def length_h(self) -> float:
        """Hours from start to end on the clock's face (over midnight when end is before start)."""
        start, end = time.fromisoformat(self.start), time.fromisoformat(self.end)
        minutes = (end.hour * 60 + end.minute - start.hour * 60 - start.minute) % (24 * 60)
        return minutes / 60

    def contains(self, t: time) -> bool:
        start, end = time.fromisoformat(self.start), time.fromisoformat(self.end)
        return start <= t < end if start < end else (t >= start or t < end)

    def holds(self, local: datetime) -> bool:
        """Whether ``local`` (aware, in the site's zone) is quiet: its clock reading is in the window, except
        in the hour the clocks show twice (summer time ends), whose second pass keeps the state the first pass
        ended in. Why: read as a bare reading, a window starting in that hour ('02:30'-'06:00' in Berlin) let
        the night's held alerts out at the second 02:00 (before 02:30: "not quiet"), and one ending in it
        ('22:00'-'01:30' in New York) shut again for the repeated half hour. A window the spring change skips
        starts or ends as the clocks jump past it."""
        if local.fold and local.utcoffset() != local.replace(fold=0).utcoffset():
            local = _before_clocks_went_back(local)
        return self.contains(local.time())


def _before_clocks_went_back(local: datetime) -> datetime:
    """The last second of the first pass, for ``local`` in the second pass of a reading the clocks show twice."""
    first = local.replace(fold=0)
    lo, hi = int(first.timestamp()), int(local.timestamp())  # before the change (its old offset) / after it
    while hi - lo > 1:  # transitions fall on whole seconds
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, local.tzinfo).utcoffset() == first.utcoffset():
            lo = mid
        else:
            hi = mid
    return datetime.fromtimestamp(lo, local.tzinfo)


class SinkConfig(StrictModel):
    name: Ident = Field(..., description="names the sink's outbox file")
    kind: Literal["webhook", "wecom", "dingtalk"]
    url: str | None = Field(None, description="webhook: required; wecom/dingtalk: the official robot URL by default")
    secret_env: EnvName = Field(None, description="webhook: HMAC key; wecom: robot key; dingtalk: access_token")
    secret_file: ConfigPath = None
    sign_secret_env: EnvName = Field(None, description="dingtalk only: the robot's 加签 secret (SEC…)")
    sign_secret_file: ConfigPath = None
    events: list[str] = Field(default_factory=lambda: list(DEFAULT_EVENTS), min_length=1)
    quiet_hours: QuietHours | None = None
    timeout_s: float = Field(5.0, gt=0, le=120, allow_inf_nan=False)
    backoff_s: float = Field(2.0, gt=0, le=3600, allow_inf_nan=False, description="first retry after this")
    max_backoff_s: float = Field(300.0, gt=0, le=86400, allow_inf_nan=False, description="retries back off up to this")
    refused_tries: int = Field(3, ge=1, le=100, description="an event the endpoint refuses (400, 413, 422 …) this "
                               "many times (other failures in between neither count nor reset it) moves to the "
                               "dead letters; the next one goes on")
    max_per_minute: int | None = Field(None, ge=1, le=6000, description="requests in any 60 s at most (later ones "
                                       "wait their turn; sinks posting to the same robot and key share the "
                                       "smallest); wecom / dingtalk: 20 by default (their documented limit), "
                                       "webhook: no limit by default")
    max_age_h: float | None = Field(None, ge=0, le=8760, allow_inf_nan=False,
                                    description="an event older than this when its turn comes moves to the dead "
                                    "letters instead of being sent; 0: sent however old; unset: 24 for wecom / "
                                    "dingtalk (people read them), 0 for webhook (a backend keeps the record)")

    @field_validator("events")
    @classmethod
    def _types(cls, v: list[str]) -> list[str]:
        problem = unknown_types(v, BUS_EVENT_TYPES)  # violation_start: the sink never sent a thing, in silence
        if problem:
            raise ValueError(problem)
        return v

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if any(c.isspace() or not c.isprintable() for c in v):  # httpx refuses these at every send
            raise ValueError(f"{v!r}: spaces or control characters in the URL")
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{v!r}: needs http:// or https:// and a host")
        try:  # found now, not as a failure at every send: a port past 65535, an empty or over-long host label
            parts.port  # noqa: B018 - the property is the check
            parts.hostname.encode("idna")
        except (ValueError, UnicodeError) as exc:
            raise ValueError(f"{v!r}: not a usable URL ({exc})") from None
        if parts.username or parts.password or "?" in v:
            raise ValueError(f"{v!r}: no credentials or query in the URL (keys go in secret_env / secret_file)")
        if "#" in v:  # a robot's "?key=…" went after it, into the fragment no request carries: refused at every send
            raise ValueError(f"{v!r}: no fragment (#…) in the URL")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> SinkConfig:
        if self.kind == "webhook" and not self.url:
            raise ValueError("a webhook sink needs url")
        if self.kind != "webhook" and not (self.secret_env or self.secret_file):
            raise ValueError(f"a {self.kind} robot needs its key: secret_env or secret_file")
        if self.secret_env and self.secret_file:
            raise ValueError("secret_env and secret_file: choose one")
        if self.sign_secret_env and self.sign_secret_file:
            raise ValueError("sign_secret_env and sign_secret_file: choose one")
        if (self.sign_secret_env or self.sign_secret_file) and self.kind != "dingtalk":
            raise ValueError("sign_secret_* is for dingtalk robots only")
        if self.max_backoff_s < self.backoff_s:
            raise ValueError("max_backoff_s must be at least backoff_s")
        return self

    @property
    def max_age_s(self) -> float | None:
        """Oldest event still sent, in seconds; None: no limit."""
        hours = self.max_age_h if self.max_age_h is not None else (0 if self.kind == "webhook" else ROBOT_MAX_AGE_H)
        return hours * 3600 if hours else None

    @property
    def per_minute(self) -> int | None:
        """Requests allowed in any 60 s: the key, else the robots' documented limit (webhooks: none)."""
        if self.max_per_minute is not None:
            return self.max_per_minute
        return None if self.kind == "webhook" else ROBOT_PER_MINUTE

    @property
    def endpoint(self) -> str:
        return self.url or OFFICIAL_URL[self.kind]

    def secrets(self, index: int) -> tuple[str | None, str | None]:
        """(key, sign secret) read from env / file now (raises SecretError naming the key)."""
        at = f"notify.sinks[{index}]"
        return (_read(f"{at}.secret_env", self.secret_env, f"{at}.secret_file", self.secret_file),
                _read(f"{at}.sign_secret_env", self.sign_secret_env, f"{at}.sign_secret_file", self.sign_secret_file))


class NotifyConfig(StrictModel):
    sinks: list[SinkConfig] = Field(default_factory=list)
    max_rows: int = Field(10_000, ge=100, le=10_000_000, description="per sink outbox; beyond it, loud but kept")
    @field_validator("sinks")
    @classmethod
    def _unique(cls, v: list[SinkConfig]) -> list[SinkConfig]:
        names = [s.name for s in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"duplicate sink names {dup}")
        return v

    @model_validator(mode="after")
    def _quiet_within_max_age(self, info: ValidationInfo) -> NotifyConfig:
        """Said at load (check-config, run), not refused: a sink whose quiet hours outlast its ``max_age_h`` sends the
        night's early alerts to the dead letters unsent at the window's end, in silence. A warning, not a refusal:
        the alerts of the window's last ``max_age_h`` still go, and "only what is still fresh in the morning" can be
        meant; refusing would also stop an upgrade on a config that ran before. A reload (``said`` in the context:
        what the last load warned about) says it only when it differs: before, every SIGHUP repeated it; an edit's
        validation (``quiet``: the installer page's Save, set-lists) says none, the reload after it does
        (``base.load_warning``)."""
        for i, sink in enumerate(self.sinks):
            q, age_s = sink.quiet_hours, sink.max_age_s
            if q is not None and age_s is not None and age_s <= q.length_h * 3600:
                msg = (f"notify.sinks[{i}] ({sink.name}): max_age_h {age_s / 3600:g} is not above its quiet_hours "
                       f"{q.start}-{q.end} ({q.length_h:g} h): an alert that comes in more than {age_s / 3600:g} h "
                       f"before {q.end} is that old when the window ends, and goes to the dead letters unsent; set "
                       f"max_age_h above {q.length_h:g} (or 0: sent however old)")
                load_warning(info, log, msg)
        return self


__all__ = ["DEFAULT_EVENTS", "ROBOT_MAX_AGE_H", "ROBOT_PER_MINUTE", "NotifyConfig", "QuietHours", "SecretError", "SinkConfig"]
