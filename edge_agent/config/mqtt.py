"""MQTT settings (owned by the events stage).

Secrets never sit in the YAML: the password and the command-signing key are named by an
environment variable or a file, read once at start by :func:`read_secrets`. Relative file
paths are resolved against the config file's folder, like the web section's.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from edge_agent.config.base import StrictModel
from edge_agent.config.eventtypes import BUS_EVENT_TYPES, LINK_EVENT_TYPES, unknown_types
from edge_agent.config.hosts import host_problem
from edge_agent.config.suggest import suggest_value
from edge_agent.durable import NotRegularFile, read_small
from edge_agent.masking import mask_url_credentials

# What MQTT (5: §1.5.4, 3.1.1: §1.5.3) forbids in a string or lets a receiver call a malformed packet: NUL,
# the C0 and C1 controls, lone surrogates, non-characters. mosquitto does call them malformed and closes the
# connection; a QoS 1 reply to such a topic stays in paho's in-flight queue and is sent again at every
# reconnect, so one command naming it as reply_to kept the device off the broker until a restart; a
# topic_prefix or client id holding one kept it from ever connecting (logged as "a TLS port?").
_NOT_MQTT = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
    + "".join(chr(plane << 16 | 0xFFFE) + chr(plane << 16 | 0xFFFF) for plane in range(17)) + "]"
)


# The longest freshness window a config may set: the command replay memory keeps each signature this long, so
# a restart with a wider window never takes again a command whose entry the narrower one had let go.
COMMAND_MAX_AGE_CAP_S = 3600.0


def mqtt_text(text: str, also_forbidden: str = "") -> bool:
    """True when ``text`` holds no character a broker may refuse in a topic or client id (nor any of
    ``also_forbidden``)."""
    return _NOT_MQTT.search(text) is None and not any(c in text for c in also_forbidden)


DEFAULT_PROTECTED = [
    "violation_started",
    "violation_ended",
    "overstay_started",
    "overstay_ended",
    "lock_fault",
    "lock_maintenance",
    "lock_tamper",
    "lock_refused",
    "outbox_overflow",
    "outbox_lost",
    "storage_low",
    "evidence_index_reset",
]


def _resolve(v: str | None, info: ValidationInfo) -> str | None:
    if v is None:
        return None
    if not v.strip():  # "" was the config's own folder: a secret "file" that is a folder, a CA bundle that is one
        raise ValueError("empty: name a file, or leave the key out")
    base = (info.context or {}).get("base_dir") if info.context else None
    p = Path(v)  # taken as written: a leading ~ is refused (yamlfile)
    if not p.is_absolute() and base is not None:
        p = Path(base) / p
    return str(p)


ConfigPath = Annotated[str | None, AfterValidator(_resolve)]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")  # \Z: Python's $ also matches before a last line end


def _env_name(v: str | None) -> str | None:
    """A ``*_env`` key names a variable a service manager can set. ``""`` (a template that rendered nothing) read
    as "no secret": ``hmac_secret_env: ""`` took every command unsigned, ``password_env: ""`` logged in without
    the password, and neither said a word."""
    if v is not None and not _ENV_NAME.match(v):
        raise ValueError(f"{v!r} is not an environment variable name (letters, digits and _, not starting with a "
                         "digit); leave the key out for none")
    return v


EnvName = Annotated[str | None, AfterValidator(_env_name)]


@dataclass(frozen=True)
class BrokerAddress:
    scheme: str  # mqtt | mqtts
    host: str
    port: int

    @property
    def tls(self) -> bool:
        return self.scheme == "mqtts"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def loopback(self) -> bool:
        """This machine itself: what goes there never crosses a network."""
        if self.host.lower() in ("localhost", "localhost.", "ip6-localhost"):
            return True
        try:
            return ipaddress.ip_address(self.host.strip("[]")).is_loopback
        except ValueError:
            return False


def parse_broker(url: str) -> BrokerAddress:
    """``mqtt[s]://host[:port]``: no credentials, path, query or fragment (the password lives in
    ``mqtt.password_env`` / ``_file``, never in a URL that is shown in logs and errors)."""
    shown = repr(mask_url_credentials(url.split("?", 1)[0].split("#", 1)[0]))
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # "Invalid IPv6 URL" alone did not say which broker
        raise ValueError(f"{shown}: {exc}") from None
    if parts.scheme not in ("mqtt", "mqtts"):
        meant = suggest_value(parts.scheme, ("mqtt", "mqtts")) if parts.scheme else None
        raise ValueError(f"{shown}: scheme must be mqtt:// or mqtts://" + (f": did you mean {meant!r}?" if meant else ""))
    if parts.username or parts.password or "@" in parts.netloc:
        raise ValueError(f"{shown}: put credentials in mqtt.username / mqtt.password_env, not in the URL")
    if parts.query or parts.fragment or url.rstrip().endswith(("?", "#")):
        raise ValueError(f"{shown}: no query or fragment expected (credentials go in mqtt.username / "
                         "mqtt.password_env, options in their own keys)")
    if not parts.hostname:
        raise ValueError(f"{shown}: no host")
    problem = host_problem(parts.hostname)
    if problem:
        raise ValueError(f"{shown}: {problem}")
    if parts.path not in ("", "/"):
        raise ValueError(f"{shown}: no path expected")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{shown}: bad port (1 to 65535)") from None
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"{shown}: bad port (1 to 65535)")
    return BrokerAddress(parts.scheme, parts.hostname, port or (8883 if parts.scheme == "mqtts" else 1883))


def refuse_readable_by_all(path: str) -> None:
    """``ValueError`` when the private key at ``path`` is readable by every user on this device (one that is not
    there is left to whoever reads it). Refused, not warned: a warning at every start goes unread, and with the key
    anyone on the device poses as its owner — the review page (``web.tls.key_file``), or this device at the broker
    (``mqtt.tls.key_file``: its events published, its lock commands received), which was taken at 0644 unsaid."""
    problem = readable_by_all(path, "the key lets anyone who copies it pose as its owner")
    if problem is not None:
        raise ValueError(problem)


def readable_by_all(path: str | os.PathLike[str], why: str) -> str | None:
    """What is wrong with the secret file ``path`` when every user on this device may read it (mode ``o+r``),
    saying ``why`` that matters and the chmod that mends it; None when it is not (or is not there: left to
    whoever reads it). The one rule for every file that holds a secret: private keys are refused with it
    (``refuse_readable_by_all``), the other secret files named with it at every start
    (``config.secretmodes``)."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None
    if not mode & 0o004:
        return None
    return (f"{path} is readable by every user on this device (mode {mode:04o}): {why}; chmod 640 "
            "(group: the agent's) or 600")


class TlsConfig(StrictModel):
    ca_file: ConfigPath = Field(None, description="PEM CA bundle; left out (null): the system's trust store")
    cert_file: ConfigPath = Field(None, description="client certificate (mutual TLS)")
    key_file: ConfigPath = Field(None, description="its private key; readable by the agent's user, not by every "
                                 "user (mode 600 or 640)")
    check_hostname: bool = True

    @field_validator("key_file")
    @classmethod
    def _private(cls, v: str | None) -> str | None:
        if v is not None:
            refuse_readable_by_all(v)
        return v

    @model_validator(mode="after")
    def _pair(self) -> "TlsConfig":
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (mutual TLS needs both)")
        return self


class OutboxConfig(StrictModel):
    path: ConfigPath = Field(None, description="SQLite file; default {data_dir}/mqtt-outbox.sqlite")
    max_rows: int = Field(100_000, ge=10, le=10_000_000, description="pending messages kept before the overflow policy applies")
    overflow: Literal["drop_oldest", "drop_newest"] = Field(
        "drop_oldest",
        description="which unprotected message goes when full; protected types are never dropped",
    )
    protected_types: list[str] = Field(default_factory=lambda: list(DEFAULT_PROTECTED))
    synchronous: Literal["full", "normal"] = Field(
        "full", description="full survives power cuts; normal only process crashes (faster on SD cards)"
    )
    window: int = Field(200, ge=1, le=10_000, description="messages handed to the client before PUBACKs return")
    reserve_mb: float = Field(
        1.0, ge=0, le=1024, allow_inf_nan=False,
        description="space held in a file beside the outbox, released the moment the disk fills so events still go in")
    repeat_refusal_s: float = Field(
        60.0, ge=0, le=86_400,
        description="identical lock_refused events (same bay, same code, both a command's answer or both the agent's "
        "own) within this many seconds are counted, "
        "not stored; the next one stored carries data.suppressed. 0 = store every one",
    )

    @field_validator("protected_types")
    @classmethod
    def _known_types(cls, v: list[str]) -> list[str]:
        problem = unknown_types(v, BUS_EVENT_TYPES | LINK_EVENT_TYPES)  # a typo left that event droppable
        if problem:
            raise ValueError(problem)
        return v


MAX_TOPIC_PREFIX = 256  # a topic is at most 65,535 bytes: 70,000 characters killed the link's thread (struct.error)


def topic_text(v: str, example: str) -> str:
    """A field validator's body for a topic prefix we publish under: paho refuses wildcards in the link's
    thread (``home_assistant.discovery_prefix: home/#`` was a traceback there, and nothing was published)."""
    if not v or v.startswith(("/", "$")) or v.endswith("/") or "//" in v or not mqtt_text(v, "+#"):
        raise ValueError(f"must be a topic like {example} (no wildcards, no leading '$' or '/', no trailing '/', "
                         "no control characters)")
    return v


class HomeAssistantConfig(StrictModel):
    enabled: bool = False
    discovery_prefix: str = Field("homeassistant", max_length=MAX_TOPIC_PREFIX)

    @field_validator("discovery_prefix")
    @classmethod
    def _topic(cls, v: str) -> str:
        return topic_text(v, "homeassistant")


class MqttConfig(StrictModel):
    enabled: bool = False
    brokers: list[str] = Field(
        default_factory=lambda: ["mqtt://127.0.0.1:1883"],
        min_length=1,
        description="tried in order on failure (failover); all mqtt:// or all mqtts://",
    )
    protocol: Literal["5", "3.1.1"] = "5"
    client_id: str | None = Field(None, min_length=1, max_length=128, description="default: the site's device_id")
    username: str | None = None
    password_env: EnvName = Field(None, description="environment variable holding the password")
    password_file: ConfigPath = Field(None, description="file holding the password (first line)")
    tls: TlsConfig | None = None
    keepalive_s: int = Field(30, ge=5, le=3600)
    reconnect_min_s: int = Field(1, ge=1, le=300)
    reconnect_max_s: int = Field(60, ge=1, le=3600)
    topic_prefix: str = Field("edge/{site}/{device}", max_length=MAX_TOPIC_PREFIX,
                              description="{site} and {device} are filled in")
    heartbeat_s: float = Field(60.0, gt=0, le=3600)
    command_max_age_s: float = Field(60.0, gt=0, le=COMMAND_MAX_AGE_CAP_S, description="older (or further in the future) commands are refused")
    hmac_secret_env: EnvName = Field(None, description="when set (or _file), every command must be signed")
    hmac_secret_file: ConfigPath = None
    command_device: Literal["optional", "required"] = Field(
        "optional", description="required: every command must name this device in its (signed) 'device' field")
    command_site: Literal["optional", "required"] = Field(
        "optional", description="required: every command must name this site in its (signed) 'site' field")
    home_assistant: HomeAssistantConfig = Field(default_factory=HomeAssistantConfig)
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)

    @field_validator("protocol", mode="before")
    @classmethod
    def _proto(cls, v: object) -> object:
        """The spellings people write for the two versions; anything not a number or text is left for the type check
        to refuse (a list or a mapping was a ``TypeError`` traceback here: unhashable)."""
        if isinstance(v, bool) or not isinstance(v, (int, str)):
            return v
        return {5: "5", "3": "3.1.1", "311": "3.1.1", "v5": "5"}.get(v, str(v))

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, v: str | None) -> str | None:
        if v is not None and (not v or not mqtt_text(v)):
            raise ValueError("must be non-empty text without control characters")
        return v

    @field_validator("brokers")
    @classmethod
    def _brokers(cls, v: list[str]) -> list[str]:
        schemes = {parse_broker(u).scheme for u in v}
        if len(schemes) > 1:
            raise ValueError("mix of mqtt:// and mqtts:// brokers: TLS settings apply to the whole list")
        return v

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        topic_text(v, "edge/{site}/{device}")
        try:
            v.format(site="s", device="d")
        except (KeyError, IndexError, ValueError):
            raise ValueError("only {site} and {device} may appear in braces") from None
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "MqttConfig":
        if self.password_env and self.password_file:
            raise ValueError("password_env and password_file: choose one")
        if self.hmac_secret_env and self.hmac_secret_file:
            raise ValueError("hmac_secret_env and hmac_secret_file: choose one")
        if (self.password_env or self.password_file) and not self.username:
            raise ValueError("a password needs mqtt.username")
        if self.tls is not None and not self.broker_addresses()[0].tls:
            raise ValueError("mqtt.tls is set but the brokers use mqtt:// (use mqtts://)")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        return self

    def broker_addresses(self) -> list[BrokerAddress]:
        return [parse_broker(u) for u in self.brokers]

    def prefix(self, site: str, device: str) -> str:
        return self.topic_prefix.format(site=site, device=device)

    @property
    def signing(self) -> bool:
        return bool(self.hmac_secret_env or self.hmac_secret_file)

    def unbound_requirements(self) -> str | None:
        """What ``command_device`` / ``command_site: required`` cannot hold without signing, said; None when nothing.
        Why: the config loads and runs, but an unsigned ``device`` or ``site`` is whatever the publisher wrote, so the
        requirement an operator set to keep a command at its device and site binds nothing."""
        named = [f"mqtt.command_{f}" for f in ("device", "site") if getattr(self, f"command_{f}") == "required"]
        if self.signing or not named:
            return None
        return (f"{' and '.join(named)}: required without a signing key (mqtt.hmac_secret_file or hmac_secret_env): "
                "unsigned, the command's device and site bind nothing — whoever may publish names any")


class SecretError(Exception):
    """A configured secret source is missing; ``key`` names the config key."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"{key}: {message}")


@dataclass(frozen=True)
class MqttSecrets:
    password: str | None
    hmac_key: bytes | None
    hmac_previous: bytes | None = None  # a key file's second line: the key being replaced, still accepted

    def __repr__(self) -> str:  # never print the values
        return (f"MqttSecrets(password={'***' if self.password else None}, hmac_key={'***' if self.hmac_key else None}"
                f"{', hmac_previous=***' if self.hmac_previous else ''})")

    @property
    def hmac_keys(self) -> tuple[bytes, ...]:
        """Every key a command may be signed with: the current one, then the one a rollout replaces."""
        return tuple(k for k in (self.hmac_key, self.hmac_previous) if k)

    def values(self) -> list[str]:
        """For the log redaction filter."""
        out = [self.password] if self.password else []
        out += [k.decode("utf-8", "replace") for k in self.hmac_keys]
        return out


MAX_SECRET_FILE_BYTES = 64 << 10  # a password or a key is a line; a few of them fit many times over


def secret_file_lines(key: str, file: str) -> list[str]:
    """The lines of the secret file ``file`` (named by config key ``key``); :class:`SecretError` naming the key
    when it cannot be one: not a regular file (a FIFO with no writer hung the start, ``/dev/zero`` grew without
    end), over ``MAX_SECRET_FILE_BYTES``, or not UTF-8 text (``head -c 32 /dev/urandom > key`` was a
    ``UnicodeDecodeError`` traceback at every start). A UTF-8 byte-order mark (Windows Notepad writes one) is no
    part of the secret: kept, the broker refused the password and every command's signature failed."""
    try:
        data = read_small(file, MAX_SECRET_FILE_BYTES)
    except NotRegularFile:
        raise SecretError(key, f"{file} is not a regular file (a secret file holds the secret as a line of text)"
                          ) from None
    except OSError as exc:
        raise SecretError(key, f"cannot read {file}: {exc.strerror or exc}") from None
    if len(data) > MAX_SECRET_FILE_BYTES:
        raise SecretError(key, f"{file} is larger than {MAX_SECRET_FILE_BYTES >> 10} KiB: not a secret file "
                               "(a secret is a line of text)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SecretError(key, f"{file} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}): "
                               "write the secret as a line of text (a binary key as hex or base64)") from None
    return text.splitlines()


def _read(env_key: str, env: str | None, file_key: str, file: str | None) -> str | None:
    if env:
        value = os.environ.get(env)
        if not value:
            raise SecretError(env_key, f"environment variable {env} is not set")
        return value
    if file:
        lines = secret_file_lines(file_key, file)
        if not lines or not lines[0].strip():
            raise SecretError(file_key, f"{file} is empty")
        return lines[0].strip()
    return None


def read_hmac_keys(cfg: MqttConfig) -> tuple[bytes | None, bytes | None]:
    """The command signing key and, during a rollout, the previous one (raises :class:`SecretError`).

    A fleet's backends never switch keys at one instant: ``hmac_secret_file`` may hold a second line,
    the key being replaced, accepted as well until it is removed (and the config reloaded). Not a third:
    a file of many keys is a forgotten rollout, every one of them a key that still opens the locks."""
    if not cfg.hmac_secret_file:
        key = _read("mqtt.hmac_secret_env", cfg.hmac_secret_env, "mqtt.hmac_secret_file", None)
        return (key.encode() if key else None), None
    lines = secret_file_lines("mqtt.hmac_secret_file", cfg.hmac_secret_file)
    if not lines or not lines[0].strip():
        raise SecretError("mqtt.hmac_secret_file", f"{cfg.hmac_secret_file} is empty")
    keys = [k for k in (line.strip() for line in lines) if k]
    if len(keys) > 2:
        raise SecretError("mqtt.hmac_secret_file", f"{cfg.hmac_secret_file} holds {len(keys)} keys: at most 2, the "
                          "key on the first line and, during a rollout, the key it replaces on the second")
    return keys[0].encode(), (keys[1].encode() if len(keys) == 2 else None)


def read_secrets(cfg: MqttConfig) -> MqttSecrets:
    """Read the password and HMAC key(s) from their env var / file (raises :class:`SecretError`)."""
    password = _read("mqtt.password_env", cfg.password_env, "mqtt.password_file", cfg.password_file)
    return MqttSecrets(password, *read_hmac_keys(cfg))
