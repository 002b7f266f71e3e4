"""Review web page settings (owned by the web stage).

Relative paths (users file, session secret) are resolved against the config file's folder,
so a config and its users file can travel together.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import ssl
import stat
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator

from edge_agent.config.base import StrictModel, load_warning
from edge_agent.config.hosts import bind_host
from edge_agent.config.mqtt import ConfigPath, SecretError, refuse_readable_by_all, secret_file_lines

MAX_PEM_BYTES = 1 << 20  # a certificate chain is a few KiB; a megabyte is no PEM file


def _pem_file(path: str, what: str) -> None:
    """``path`` is a regular file this process can read (a FIFO would hang the start), not over MAX_PEM_BYTES."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc} (the {what}, PEM)") from None
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{path} is not a regular file (the {what}, PEM)")
    if st.st_size > MAX_PEM_BYTES:
        raise ValueError(f"{path} is larger than {MAX_PEM_BYTES >> 20} MiB: not a PEM {what}")


def _no_passphrase() -> bytes:
    """An encrypted key: refused, never a prompt (OpenSSL asks on the terminal, and a service has none: the
    start would hang)."""
    raise ValueError("encrypted")



log = logging.getLogger(__name__)

#: the widest ``web.trusted_proxies`` network taken, by address family: its prefix length at least this
MIN_PREFIX = {4: 8, 6: 16}
#: a network wider than one subnet (IPv4 /24; IPv6 /64, compared as /24 + 40) is said at load
WARN_PREFIX_V4 = 24


def _v4_prefix(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> int | None:
    """The IPv4 prefix length ``net`` amounts to: its own, or an IPv6 one's within (or holding all of) the
    IPv4-mapped range ``::ffff:0:0/96``, which a page bound to ``::`` sees every IPv4 client in; None for IPv6."""
    if net.version == 4:
        return net.prefixlen
    mapped = ipaddress.ip_network("::ffff:0:0/96")
    if net.subnet_of(mapped):  # type: ignore[arg-type]
        return net.prefixlen - 96
    return 0 if net.supernet_of(mapped) else None  # type: ignore[arg-type]

class WebTlsConfig(StrictModel):
    """The page's own HTTPS (``web.tls``): read and checked at every load, so ``check-config`` and a reload
    refuse what the start would."""

    cert_file: ConfigPath = Field(..., description="the page's certificate (PEM; the chain after it)")
    key_file: ConfigPath = Field(..., description="its private key (PEM, no passphrase); readable by the "
                                 "agent's user, not by every user (mode 600 or 640)")

    @field_validator("cert_file")
    @classmethod
    def _cert(cls, v: str | None) -> str:
        if v is None:
            raise ValueError("the certificate's PEM file is needed with web.tls")
        _pem_file(v, "certificate")
        return v

    @field_validator("key_file")
    @classmethod
    def _key(cls, v: str | None) -> str:
        if v is None:
            raise ValueError("the private key's PEM file is needed with web.tls")
        _pem_file(v, "private key")
        refuse_readable_by_all(v)  # anyone on the device could pose as this page and read the passwords typed in
        return v

    @model_validator(mode="after")
    def _pair(self) -> "WebTlsConfig":
        try:
            server_context(str(self.cert_file), str(self.key_file))
        except ValueError:  # _no_passphrase
            raise ValueError(f"key_file {self.key_file} is encrypted (a passphrase): the agent starts unattended; "
                             "write it without one (openssl pkey -in KEY -out NEW, then chmod 600 NEW)") from None
        except ssl.SSLError as exc:
            if exc.reason == "KEY_VALUES_MISMATCH":
                raise ValueError(f"key_file {self.key_file} is not the key of cert_file {self.cert_file} (a key "
                                 "from another certificate, or a certificate renewed with a new key)") from None
            raise ValueError(f"cert_file {self.cert_file} and key_file {self.key_file} are not a certificate and "
                             f"its key in PEM ({exc.reason or exc})") from None
        return self


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """The page's TLS context: TLS 1.2 or later, Python's server defaults (no compression, forward-secret
    ciphers), HTTP/1.1 offered by ALPN."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file, password=_no_passphrase)
    context.set_alpn_protocols(["http/1.1"])
    return context


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
    tls: WebTlsConfig | None = Field(None, description="serve the page over HTTPS itself")
    secure_cookies: bool | None = Field(
        None, description="cookies only over HTTPS; default: on with `tls`, else off (turn on behind an HTTPS "
        "reverse proxy)")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="reverse proxies (addresses or networks, each at most an IPv4 /8 or an IPv6 /16 wide) whose "
        "X-Forwarded-For is believed; empty: none")
    hostnames: list[str] = Field(
        default_factory=list,
        description="DNS names people reach the page by, besides its IP addresses, localhost, this machine's host "
        "name (and NAME.local), public_url's host and names no public DNS serves (one label, .local, .lan, .home, "
        ".home.arpa, .internal…); a request naming another host is refused (DNS rebinding). "
        "Not checked for a request from one of trusted_proxies")
    login_max_failures: int = Field(5, ge=1, le=10_000, description="failed logins per IP or per user name in the window")
    login_window_s: float = Field(300.0, gt=0, le=86400)
    login_concurrency: int = Field(
        2, ge=1, le=8, description="password checks at once (argon2, low priority); more get 429 at once")
    page_size: int = Field(50, ge=5, le=500)
    max_body_kib: int = Field(256, ge=16, le=16384, description="larger request bodies are refused (413)")
    public_url: str | None = Field(None, pattern=r"^https?://[^\s?#]+$",
                                   description="how people reach this page (links in notifications)")

    @property
    def cookies_secure(self) -> bool:
        """Whether cookies go only over HTTPS: as set, else when the page speaks TLS itself."""
        return self.tls is not None if self.secure_cookies is None else self.secure_cookies

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

    @field_validator("hostnames")
    @classmethod
    def _names(cls, v: list[str]) -> list[str]:
        for item in v:
            if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?",
                                item) or len(item) > 253:
                raise ValueError(f"{item!r} is not a host name (letters, digits, - and ., e.g. parking.example.com)")
        return v

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, v: list[str], info: ValidationInfo) -> list[str]:
        """Addresses or networks of the reverse proxies. Every address in one may say whose request it passes on
        (X-Forwarded-For), and the page then counts failed logins and connections per that address: a network of
        the whole address space (``0.0.0.0/0``) let any client make up a new address per guess and never meet the
        per-IP login limit. Refused wider than an IPv4 /8 (an IPv6 /16): no proxy fleet is that large (a CDN's
        largest published range is a /13); a network wider than one subnet (/24, /64) is said at load."""
        for item in v:
            try:
                net = ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network (e.g. 127.0.0.1, 10.0.0.0/8)") from None
            v4_bits = _v4_prefix(net)
            if v4_bits is not None and v4_bits < MIN_PREFIX[4] or v4_bits is None and net.prefixlen < MIN_PREFIX[6]:
                raise ValueError(
                    f"{item!r} is wider than any proxy's network (at most an IPv4 /{MIN_PREFIX[4]}, an IPv6 "
                    f"/{MIN_PREFIX[6]}): every client in it could send X-Forwarded-For with a made-up address per "
                    "request and never meet the per-address login limit; name the proxy's address (e.g. 10.0.0.5)")
            if (v4_bits if v4_bits is not None else net.prefixlen - 40) < WARN_PREFIX_V4 and not net.is_loopback:
                load_warning(info, log, f"web.trusted_proxies: {item} is a whole network: every address in it may "
                             "say whose request it passes on (X-Forwarded-For), so a client there can dodge the "
                             "per-address login limit; name the proxy's own address where you can")
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
