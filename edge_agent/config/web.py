"""Review web page settings (owned by the web stage).

Relative paths (users file, session secret) are resolved against the config file's folder,
so a config and its users file can travel together.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator

from edge_agent.config.base import StrictModel
from edge_agent.config.hosts import bind_host
from edge_agent.config.mqtt import SecretError, secret_file_lines


class WebConfig(StrictModel):
    enabled: bool = False
    host: str = Field("127.0.0.1", description="bind address; 0.0.0.0 exposes the page on the site network")
    port: int = Field(8080, ge=0, le=65535, description="0 picks a free port (tests)")
    users_file: str = Field("users.txt", validate_default=True, description="`NAME:argon2-hash` lines, managed by `edge-agent users`")
    session_secret_file: str | None = Field(
        None, description="key that signs session cookies; created (mode 600) when missing or empty, never "
        "written over: a first line under 32 characters, or a file that is not a secret file, stops `run` "
        "naming this key. Default: {data_dir}/web-secret.key (the agent writes only its data dir)"
    )
    language: Literal["zh", "en"] = "zh"
    session_max_age_s: int = Field(12 * 3600, ge=60, le=30 * 86400)
    secure_cookies: bool = Field(False, description="session cookie only over HTTPS (turn on behind TLS)")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="reverse proxies (addresses or networks) whose X-Forwarded-For is believed; empty: none")
    login_max_failures: int = Field(5, ge=1, le=10_000, description="failed logins per IP or per user name in the window")
    login_window_s: float = Field(300.0, gt=0, le=86400)
    login_concurrency: int = Field(
        2, ge=1, le=8, description="password checks at once (argon2, low priority); more get 429 at once")
    page_size: int = Field(50, ge=5, le=500)
    max_body_kib: int = Field(256, ge=16, le=16384, description="larger request bodies are refused (413)")
    public_url: str | None = Field(None, pattern=r"^https?://[^\s?#]+$",
                                   description="how people reach this page (links in notifications)")

    def file(self, value: str, config_path: Path | None) -> Path:
        """``users_file`` / ``session_secret_file`` as a path; a default (section absent, so never
        validated with the config's folder) is taken beside the config file too."""
        p = Path(value)
        if not p.is_absolute() and config_path is not None:
            p = Path(config_path).resolve().parent / p
        return p

    @field_validator("host")
    @classmethod
    def _bind_host(cls, v: str) -> str:
        return bind_host(v)

    @field_validator("public_url")
    @classmethod
    def _no_credentials(cls, v: str | None) -> str | None:
        """The link goes into notifications (group chats, webhooks): a password in it would go there too."""
        if v is not None and "@" in urlsplit(v).netloc:
            raise ValueError("no credentials in the URL (people sign in on the page; the link is sent in "
                             "notifications)")
        return v

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        for item in v:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network (e.g. 127.0.0.1, 10.0.0.0/8)") from None
        return v

    def secret_file(self, config_path: Path | None, data_dir: str) -> Path:
        """Where the session key lives: the configured file, else in the data dir — it is created at
        run time, and on a device the unit may write only there (ReadWritePaths)."""
        if self.session_secret_file is None:
            return Path(data_dir) / "web-secret.key"
        return self.file(self.session_secret_file, config_path)

    @field_validator("users_file", "session_secret_file")
    @classmethod
    def _resolve(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return None
        if not v.strip():  # "" was the config's own folder: every login a 500, `review` a traceback
            raise ValueError("empty: name a file, or leave the key out for the default")
        base = (info.context or {}).get("base_dir") if info.context else None
        p = Path(v)  # taken as written: a leading ~ is refused (yamlfile)
        if not p.is_absolute() and base is not None:
            p = Path(base) / p
        return str(p)


SESSION_KEY_MIN = 32  # characters of a session key (the agent makes 64)


def read_session_key(path: str | Path, key: str = "web.session_secret_file") -> str | None:
    """The session key ``path`` holds: its first line; None where the agent will write one (no file, or an empty
    one); :class:`SecretError` naming ``key`` for a file that cannot be one. Here, below both, for the page (``web.auth``) and the doctor's ``web`` row:
    a hand-written key file 0.4.0 took whole (several lines, the first under 32 characters) stopped ``run`` after
    an upgrade that ``check-config`` and the doctor had both passed."""
    p = Path(path)
    if not os.path.lexists(p):
        return None
    lines = secret_file_lines(key, str(p))
    found = lines[0].strip() if lines else ""
    if len(found) >= SESSION_KEY_MIN:
        return found
    if any(line.strip() for line in lines):
        raise SecretError(key, f"{p} holds {len(found)} characters on its first line, and a session key is at "
                               f"least {SESSION_KEY_MIN} (the agent writes one if the file is missing or empty): "
                               "write a longer one, or delete the file")
    return None
