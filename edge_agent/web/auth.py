"""Who may use the page: an argon2 users file, the cookie-signing key, and a login rate limit.

The users file is ``NAME:HASH`` per line (like htpasswd, argon2id hashes from argon2-cffi), so
an installer can manage it with ``edge-agent users`` or by hand. Failed logins are counted per
client IP and per user name on the injected monotonic clock, so tests move time, not sleep.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import threading
from collections import defaultdict, deque
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from edge_agent.clock import Clock

NAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_hasher = PasswordHasher()


class UsersFile:
    """Read on each login (so ``users add`` takes effect without a restart); written atomically."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, str]:
        users: dict[str, str] = {}
        if not self.path.exists():
            return users
        for line in self.path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#") and ":" in line:
                name, _, hashed = line.partition(":")
                users[name] = hashed
        return users

    def verify(self, name: str, password: str) -> bool:
        hashed = self.load().get(name)
        if hashed is None:
            _hasher.hash(password)  # same cost as a real check: no user-name oracle by timing
            return False
        try:
            return _hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    def stamp(self, name: str) -> str | None:
        """A fingerprint of ``name``'s current hash (None: no such user). A new password means a
        new salt, so the stamp changes: sessions opened under the old one end."""
        hashed = self.load().get(name)
        return hashlib.sha256(hashed.encode()).hexdigest()[:32] if hashed is not None else None

    def set(self, name: str, password: str) -> None:
        if not NAME_RE.match(name):
            raise ValueError("user names use letters, digits and _ . @ - (at most 64)")
        if len(password) < 8:
            raise ValueError("passwords need at least 8 characters")
        users = self.load()
        users[name] = _hasher.hash(password)
        self._write(users)

    def remove(self, name: str) -> bool:
        users = self.load()
        if users.pop(name, None) is None:
            return False
        self._write(users)
        return True

    def _write(self, users: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text("".join(f"{n}:{h}\n" for n, h in sorted(users.items())), encoding="utf-8")
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)


def session_secret(path: str | Path) -> str:
    """The key that signs session cookies; made once (mode 600) so sessions survive restarts."""
    p = Path(path)
    if p.exists():
        key = p.read_text(encoding="utf-8").strip()
        if len(key) >= 32:
            return key
    p.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key


class LoginLimiter:
    """At most ``max_failures`` failed logins per IP and per user name within ``window_s``."""

    def __init__(self, clock: Clock, max_failures: int = 5, window_s: float = 300.0) -> None:
        self._clock = clock
        self._max = max_failures
        self._window = window_s
        self._fails: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _keys(self, ip: str, user: str) -> tuple[str, str]:
        return f"ip:{ip}", f"user:{user.lower()}"

    def _trim(self, key: str, now: float) -> deque[float]:
        q = self._fails[key]
        while q and now - q[0] >= self._window:
            q.popleft()
        return q

    def blocked(self, ip: str, user: str) -> float:
        """Seconds until a login may be tried again (0: allowed)."""
        now = self._clock.monotonic()
        with self._lock:
            waits = [q[0] + self._window - now for k in self._keys(ip, user)
                     if len(q := self._trim(k, now)) >= self._max]
        return max(waits, default=0.0)

    def failed(self, ip: str, user: str) -> None:
        now = self._clock.monotonic()
        with self._lock:
            for k in self._keys(ip, user):
                self._trim(k, now).append(now)

    def succeeded(self, ip: str, user: str) -> None:
        with self._lock:
            self._fails.pop(self._keys(ip, user)[1], None)
