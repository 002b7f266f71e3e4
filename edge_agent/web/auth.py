"""Who may use the page: an argon2 users file, the cookie-signing key, and a login rate limit.

The users file is ``NAME:HASH`` per line (like htpasswd, argon2id hashes from argon2-cffi), so
an installer can manage it with ``edge-agent users`` or by hand. Login attempts are counted per
client IP and per user name on the injected monotonic clock (tests move time, not sleep), and
counted *before* the password is hashed, so parallel requests cannot all slip under the limit.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import ipaddress
import os
import re
import secrets
import stat
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError

from edge_agent.clock import Clock
from edge_agent.config.web import read_session_key
from edge_agent.durable import folder_lock, fsync_dir, open_scratch
from edge_agent.web.roles import ROLES

# \Z, not $: Python's $ also matches before a last line end, so ``users add $'rev\n'`` passed and wrote a line "rev"
# (no hash) and a line ":HASH", an admin with no name, and said "saved"
NAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}\Z")
# OWASP's argon2id profile (19 MiB, 2 passes, 1 lane) rather than argon2-cffi's 64 MiB / 4 lanes:
# a Pi shares its memory and cores with the camera loop. Older hashes keep their own parameters
# (they are in the hash) and still verify; `edge-agent users add NAME` again re-hashes one.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
SWEEP_AT = 10_000  # limiter keys kept before expired ones are swept


class UsersFile:
    """Read on each login (so ``users add`` takes effect without a restart); written atomically.

    One line per user: ``name:argon2-hash`` (admin) or ``name:argon2-hash:role`` (an argon2 hash holds no ':')."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._dummies: dict[str, str] = {}  # argon2 parameters → a hash of nothing, checked for unknown names
        self._dummy_lock = threading.Lock()

    def entries(self) -> dict[str, tuple[str, str]]:
        """name → (hash, role)."""
        users: dict[str, tuple[str, str]] = {}
        if not self.path.exists():
            return users
        try:
            text = self.path.read_text(encoding="utf-8")
        except UnicodeDecodeError:  # an OSError naming the file, as a folder or no permission here: one line
            raise OSError(errno.EILSEQ, "not UTF-8 text (one NAME:hash line per user, written by `edge-agent "
                          "users add`)", str(self.path)) from None
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith("#") and ":" in line:
                name, _, rest = line.partition(":")
                hashed, _, role = rest.partition(":")
                users[name] = (hashed, role if role in ROLES else ("admin" if not role else "none"))
        return users

    def load(self) -> dict[str, str]:
        return {n: h for n, (h, _r) in self.entries().items()}

    def role(self, name: str) -> str | None:
        """The user's role (None: no such user; "none": a role this version does not know: may only look)."""
        entry = self.entries().get(name)
        return entry[1] if entry is not None else None

    def verify(self, name: str, password: str) -> bool:
        users = self.load()
        hashed = users.get(name)
        if hashed is None:  # same cost as a real check: no user-name oracle by timing
            hashed, password = self._dummy(name, list(users.values())), password + "\0"  # never this hash's password
        try:
            return _hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    def _dummy(self, name: str, hashes: list[str]) -> str:
        """A hash an unknown ``name`` is checked against, with the argon2 cost of one of the users' own (the same
        one for a name each time). Why: it had today's profile (19 MiB) while users upgraded from an older release
        keep their 64 MiB / 4-lane hashes until re-added: a wrong password took 250-300 ms for such a user and
        35 ms for a name nobody has, so one request told which names exist."""
        params = []
        for h in hashes:
            try:
                params.append(extract_parameters(h))
            except InvalidHashError:  # a disabled or mangled line: no argon2 work to match
                continue
        pick = params[int(hashlib.sha256(name.encode("utf-8", "replace")).hexdigest(), 16) % len(params)] \
            if params else None
        key = repr(pick)
        with self._dummy_lock:
            if key not in self._dummies:
                hasher = PasswordHasher.from_parameters(pick) if pick is not None else _hasher
                self._dummies[key] = hasher.hash(secrets.token_urlsafe(16))
            return self._dummies[key]

    def stamp(self, name: str) -> str | None:
        """A fingerprint of ``name``'s current hash and role (None: no such user). A new password means a
        new salt, and a new role a new stamp: sessions opened under the old one end."""
        entry = self.entries().get(name)
        return hashlib.sha256(f"{entry[0]}:{entry[1]}".encode()).hexdigest()[:32] if entry is not None else None

    def set(self, name: str, password: str, role: str | None = None) -> None:
        """Add ``name`` or give it a new password; ``role`` None keeps an existing user's (a new one: admin)."""
        if not NAME_RE.match(name):
            raise ValueError("user names use letters, digits and _ . @ - (at most 64)")
        if len(password) < 8:
            raise ValueError("passwords need at least 8 characters")
        if role is not None and role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        hashed = _hasher.hash(password)  # the slow part, outside the lock
        with folder_lock(self.path.parent):  # read, change, write: another `users add` meanwhile is kept
            users = self.entries()
            users[name] = (hashed, role or users.get(name, ("", "admin"))[1])
            self._write(users)

    def remove(self, name: str) -> bool:
        with folder_lock(self.path.parent):
            users = self.entries()
            if users.pop(name, None) is None:
                return False
            self._write(users)
        return True

    def _write(self, users: dict[str, tuple[str, str]]) -> None:
        """Replace the file whole: written beside it (only its owner may read the hashes meanwhile), synced,
        given the old file's access, renamed over it, the folder synced. A full disk or a power cut leaves
        the old file as it was and no scratch file: before, ENOSPC left a partial ``.tmp`` of hashes behind,
        and an unsynced rename could leave an empty users file after a power cut (nobody could sign in)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        lines = (f"{n}:{h}\n" if r == "admin" else f"{n}:{h}:{r}\n" for n, (h, r) in sorted(users.items()))
        try:
            with open_scratch(tmp, 0o600) as f:  # made new: never through a link planted at its name
                f.write("".join(lines).encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())
            _keep_access(tmp, self.path)
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(self.path.parent)


def _keep_access(tmp: Path, target: Path) -> None:
    """Give the new users file the access of the one it replaces, or for a first one its folder's group,
    readable by that group only. The agent runs as its own user and reads the file through a group
    (``/etc/edge-agent`` is ``root:edge-agent``), while ``users add`` runs as root: a ``root:root`` 0600
    file made every login of the running agent a PermissionError (HTTP 500); one an older release left so
    is mended by the next rewrite."""
    os.chmod(tmp, 0o600)  # nobody else reads it before it has its final owner
    first = (-1, target.parent.stat().st_gid, 0o640)
    try:
        st = target.stat()
        uid, gid, mode = st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode) & 0o666
    except FileNotFoundError:
        uid, gid, mode = first
    else:
        if uid == 0 and not mode & 0o044:
            # Only root may read it: what `users add` with sudo made before this rule (the agent never runs as
            # root), not an installer's choice. It gets what a first file gets, so an upgraded device's logins work.
            gid, mode = first[1], mode | 0o040
    try:
        os.chown(tmp, uid, gid)
    except PermissionError:  # not root and not in that group: the file stays this user's own
        return
    os.chmod(tmp, mode)


def session_secret(path: str | Path, key: str = "web.session_secret_file") -> str:
    """The key that signs session cookies; made once (mode 600) so sessions survive restarts.

    Made only where there is none (no file, or an empty one: a power cut before the write). A file that holds
    something else is never written over: it is the operator's (``session_secret_file`` pointed at another
    secret was replaced by a new key, without a word), and one that cannot be a key is :class:`SecretError`
    naming ``key`` (a binary file was a ``UnicodeDecodeError`` traceback at every start)."""
    p = Path(path)
    found = read_session_key(p, key)
    if found is not None:
        return found
    p.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an empty file that was there kept its mode (0644: the key readable by everyone)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key


class KnownDevices:
    """A browser that signed in as NAME carries a cookie saying so, signed with the session key and bound to
    NAME's password hash (OWASP's "device cookie"). The per-name failure limit does not stop such a browser
    (its address is still limited): anyone on the network could otherwise keep a reviewer out for good with
    five wrong guesses at their name every ``login_window_s``. A new password ends every such cookie."""

    COOKIE = "edge_known"
    MAX_AGE_S = 365 * 86400

    def __init__(self, secret: str, users: UsersFile) -> None:
        self._key = hashlib.sha256(b"edge-agent known device\0" + secret.encode()).digest()
        self._users = users

    def _mac(self, name: str, stamp: str) -> str:
        return hmac.new(self._key, f"{name}\n{stamp}".encode(), hashlib.sha256).hexdigest()

    def token(self, name: str) -> str | None:
        stamp = self._users.stamp(name)
        return None if stamp is None else f"{name}:{self._mac(name, stamp)}"

    def valid(self, cookie: str) -> bool:
        """Whether ``cookie`` says this browser signed in as the user it names, under that user's password."""
        return self.known(cookie, cookie.rpartition(":")[0])

    def known(self, cookie: str | None, name: str) -> bool:
        """Whether ``cookie`` says this browser signed in as ``name`` under its current password."""
        if not cookie or not name:
            return False
        who, _, mac = cookie.rpartition(":")
        stamp = self._users.stamp(name) if who == name else None
        return stamp is not None and hmac.compare_digest(mac.encode(), self._mac(name, stamp).encode())  # bytes:
        # a str that is not ASCII (a cookie is Latin-1) made compare_digest raise, a 500 on the login page


def address_key(ip: str, prefix: int = 64) -> str:
    """Who a client address stands for, as a limit counts it: an IPv6 address's /64 (one home or host gets a
    whole /64 — 2^64 addresses to rotate through, each with its own five tries; ``prefix`` 128: the one host),
    an IPv4 address seen through an IPv6 socket (``::ffff:192.0.2.7``) as that IPv4 address, anything else as
    it is."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return ip
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, prefix), strict=False))
    return str(addr)


class LoginLimiter:
    """At most ``max_failures`` login attempts per IP and per user name within ``window_s``.

    ``attempt`` counts before the password is checked; a success takes its count back (so the
    limit is on failures), and so does a check that never ran (all slots busy)."""

    def __init__(self, clock: Clock, max_failures: int = 5, window_s: float = 300.0) -> None:
        self._clock = clock
        self._max = max_failures
        self._window = window_s
        self._fails: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._sweep_at = SWEEP_AT  # keys kept before the next sweep (``_sweep``)

    def _keys(self, ip: str, user: str, by_name: bool = True) -> tuple[str, ...]:
        """A browser known to have signed in as ``user`` (``by_name`` False) counts by its address and that name,
        apart from everyone else's tries: a /64 is a whole LAN too (SLAAC), one IPv4 address a whole office behind
        its NAT, and anyone's wrong tries there kept the known reviewers out. Its /64, not its /128: only holders of
        that name's cookie share the count, and by the /128 one copied cookie guessed without end, a fresh address
        of the /64 for every three tries."""
        if by_name:
            return (f"ip:{address_key(ip)}", f"user:{user.lower()}")
        return (f"known:{address_key(ip)}:{user.lower()}",)

    def _live(self, key: str, now: float) -> deque[float]:
        q = self._fails.get(key) or deque()
        while q and now - q[0] >= self._window:
            q.popleft()
        return q

    def _sweep(self, now: float) -> None:
        """Forget keys with nothing left in the window: made-up names must not pile up. The next sweep once twice as
        many are kept as are left: with over SWEEP_AT keys live (3,400 /64s trying two names each within the window)
        every attempt rebuilt the table under the lock, 3.2 ms an attempt (29 µs with 7,800). A key with no failure
        left (a right password or a refund took its only one back) is forgotten too: read as live, its empty count
        raised IndexError, and every login after it was a 500 (review82)."""
        if len(self._fails) > self._sweep_at:
            self._fails = {k: q for k, q in self._fails.items() if q and now - q[-1] < self._window}
            self._sweep_at = max(SWEEP_AT, 2 * len(self._fails))

    def attempt(self, ip: str, user: str, by_name: bool = True) -> float:
        """Count one attempt: 0.0 when it may go on, else the seconds until one may (not counted).
        ``by_name`` False: only the address counts (a browser known to have signed in as ``user``)."""
        now = self._clock.monotonic()
        keys = self._keys(ip, user, by_name)
        with self._lock:
            self._sweep(now)
            queues = [self._live(k, now) for k in keys]
            waits = [q[0] + self._window - now for q in queues if len(q) >= self._max]
            for k, q in zip(keys, queues):
                if not waits:
                    q.append(now)
                if q:
                    self._fails[k] = q
                else:
                    self._fails.pop(k, None)
        return max(waits, default=0.0)

    def refund(self, ip: str, user: str, by_name: bool = True) -> None:
        """Take back an attempt whose password was never checked."""
        with self._lock:
            for k in self._keys(ip, user, by_name):
                if q := self._fails.get(k):
                    q.pop()

    def succeeded(self, ip: str, user: str, by_name: bool = True) -> None:
        """A right password: the attempt is taken back, and (``by_name``) the name's failures are forgotten. A
        browser known to have signed in leaves the name's count alone: else each of its logins reset it for the
        guessers."""
        with self._lock:
            if by_name:
                self._fails.pop(self._keys(ip, user)[1], None)
            if q := self._fails.get(self._keys(ip, user, by_name)[0]):
                q.pop()


class RefusalLog:
    """Which refused logins get an audit row: the first per address and kind in each ``every_s``;
    the next row says how many came in between. A flood then costs a few rows, not one per
    request (each a write on the database the agent records its events in).

    And at most ``per_hour`` rows in any hour over every address and kind (0: no cap): per address alone, 254 IPv4
    aliases on a LAN (or an IPv6 host's many /64s, as many as it likes) each wrote a row every ``every_s``, ~25 a
    second kept two years. Past the cap a request is counted, not written; the next row written says how many."""

    def __init__(self, clock: Clock, every_s: float = 10.0, per_hour: int = 0) -> None:
        self._clock = clock
        self._every = every_s
        self._per_hour = per_hour
        self._last: dict[tuple[str, str], float] = {}
        self._skipped: dict[tuple[str, str], int] = {}
        self._rows: deque[float] = deque()  # when the rows of the last hour were let through (at most per_hour)
        self._capped = 0  # refusals not recorded since the last row, for the cap
        self._lock = threading.Lock()

    def note(self, ip: str, kind: str, everyone: bool = False, row: bool = False) -> tuple[int, int] | None:
        """None: counted, no row now; else write a row, with (this many unrecorded since this key's last row, this
        many more not recorded for the hourly cap). ``everyone``: one key for every address (``ip`` ignored).
        ``row``: a row now whatever the period and the cap (a guess answered only once its row is written)."""
        now = self._clock.monotonic()
        key = ("*" if everyone else address_key(ip), kind)  # a host's /64 is one address, as for limits
        with self._lock:
            last = self._last.get(key)
            if not row and last is not None and 0.0 <= now - last < self._every:
                self._skipped[key] = self._skipped.get(key, 0) + 1
                return None
            while self._rows and not 0.0 <= now - self._rows[0] < 3600.0:
                self._rows.popleft()
            if not row and self._per_hour and len(self._rows) >= self._per_hour:
                self._capped += 1
                return None
            if len(self._last) > SWEEP_AT:
                self._last = {k: t for k, t in self._last.items() if now - t < self._every or k in self._skipped}
            if len(self._skipped) > SWEEP_AT:  # counts of keys never heard from again go to the cap's count
                self._capped += sum(self._skipped.values())
                self._skipped = {}
            self._last[key] = now
            if self._per_hour:
                self._rows.append(now)
            capped, self._capped = self._capped, 0
            return self._skipped.pop(key, 0), capped

    def unnote(self, ip: str, kind: str, counts: tuple[int, int], everyone: bool = False) -> None:
        """The row ``note`` gave ``counts`` for could not be written: they go to the next row. Why: they are
        requests already answered, and the log keeps them only as a count (they were dropped with the row)."""
        key = ("*" if everyone else address_key(ip), kind)
        with self._lock:
            if counts[0]:
                self._skipped[key] = self._skipped.get(key, 0) + counts[0]
            self._capped += counts[1]


def lower_priority(nice: int) -> None:
    """Run the calling thread (and the threads it starts) ``nice`` steps below the camera loop
    (Linux keeps a nice value per thread; elsewhere this does nothing)."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)
    except (AttributeError, OSError):  # not Linux: equal priority, still bounded
        pass


class PasswordChecks:
    """At most ``limit`` argon2 checks at once, in worker threads of lowered priority.

    Each check of a legacy hash takes 64 MiB and a core for a good part of a second; run
    unbounded, a flood of logins ate the agent's memory and starved its camera loop. A request
    that finds every slot taken gets ``None`` at once, never a place in a queue: a queue would
    keep its memory and make staff wait behind the flood.
    """

    def __init__(self, users: UsersFile, limit: int = 2, nice: int = 10) -> None:
        self.users = users
        self._slots = threading.BoundedSemaphore(limit)
        self._pool = ThreadPoolExecutor(limit, thread_name_prefix="password-check",
                                        initializer=lower_priority, initargs=(nice,))

    def verify(self, name: str, password: str) -> bool | None:
        """True / False, or None when ``limit`` checks are already running."""
        if not self._slots.acquire(blocking=False):
            return None
        try:
            return self._pool.submit(self.users.verify, name, password).result()
        finally:
            self._slots.release()
