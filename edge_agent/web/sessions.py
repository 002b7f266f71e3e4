"""Server-side sessions: the signed cookie carries only a random id; this table says whose it is.

A signed cookie alone cannot be taken back: a copy kept after logout, or by a user removed
since, stayed valid for its whole lifetime. So a session is valid only while its row exists,
is younger than ``max_age_s`` on the injected clock, and the user's password hash is still the
one it was opened with. Logout (row deleted), ``edge-agent users remove`` (user gone) and a new
password (new hash and salt) therefore end it on the very next request, with no message
between the CLI and the page. The rows live in the violation log's SQLite file, so sessions
survive a restart and ended ones stay ended. Only a hash of the id is stored.

A database another connection holds locked (a backup, ``evidence forget``, another program) or one that cannot be
read is met fast and safe (each request's check waited the connection's 10 s before; an expired session's removal,
and a sign-out, then were a 500, the sign-out leaving the session open):

- the check is a read (WAL: not held up by another connection's write lock); one that cannot read is
  ``SessionsUnavailable`` (the page's 503 with Retry-After), never "signed out": a moment's busy database must not
  throw a reviewer out of the page, and must not let anyone in;
- a session that has ended (expired, logged out, user removed, new password) is refused from the row as read; its
  removal is housekeeping and waits for no lock (``0``): one it cannot do now is kept in memory and refused from
  there, and done at the next write that goes through;
- a sign-out waits at most ``WAIT_S``, then ends the session in memory the same way, and writes that it ended to a
  small file beside the database (``ENDED_FILE``: an append and an fsync, no lock of the database's to wait for): the
  browser is signed out, a copy of its cookie is refused at once, and after a restart too (the file is read at the
  start, its sessions refused and their rows removed at the next write that goes through, then dropped from it).
  Until 2026-12-05 the ending was kept in memory only: a restart before the row went (a crash, a power cut, an
  upgrade) accepted the copy again until the session's age ran out. A file rather than waiting: the lock may be held
  for minutes (a backup), and a sign-out must answer;
- a login that cannot store its session is ``SessionsUnavailable`` (503): nobody is let in without a row.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import os
import re
import secrets
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from edge_agent.clock import Clock
from edge_agent.durable import fsync_dir
from edge_agent.owndb import connect_own

log = logging.getLogger(__name__)
# the longest a session write (a login's row, a sign-out) waits for another connection's write lock: the page's audit
# writes' second (``views.WRITE_WAIT_S``). The connection's own 10 s held a request, and the lock every other request's
# check takes, 10 s.
WAIT_S = 1.0
# beside the database: the sessions ended while their rows could not be deleted, ``SHA256-HEX EXPIRES_EPOCH`` a line
ENDED_FILE = "web-sessions-ended"
ENDED_MAX_BYTES = 1 << 20  # ~13,000 lines: each one a session opened (a login's row written) and ended on a lock
_ENDED_LINE = re.compile(r"([0-9a-f]{64}) ([0-9]+(?:\.[0-9]*)?)")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS web_sessions (
    sid_hash TEXT PRIMARY KEY, user TEXT NOT NULL, user_stamp TEXT NOT NULL,
    opened_epoch REAL NOT NULL, expires_epoch REAL NOT NULL);
CREATE INDEX IF NOT EXISTS web_sessions_user ON web_sessions(user);
"""


class SessionsUnavailable(Exception):
    """The sessions table cannot be read (a check) or written (a login): refused with a 503, nobody signed in or out."""


def _open_ended(path: Path, flags: int) -> int:
    """``ENDED_FILE`` opened with ``flags``, never through a link planted at its name, nor a file linked from elsewhere
    (a hard link), nor a FIFO or device. Why: the file sits in the data folder, which others may write in, and was
    opened as any file: a link named ``web-sessions-ended`` had a sign-out on a locked database append its lines to
    the file it pointed to, and the next write that went through truncated that file to them (the users file, a
    key). Raises OSError."""
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0), 0o600)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
        os.close(fd)
        raise OSError(errno.ELOOP, "not a file of the agent's own (a link, a folder, a FIFO)", str(path))
    return fd


def _key(sid: str) -> str:
    return hashlib.sha256(sid.encode("utf-8", "replace")).hexdigest()


class SessionTable:
    """Open, look up and end sessions. Thread-safe (one locked connection)."""

    def __init__(self, db_path: str | Path, clock: Clock, max_age_s: float, wait_s: float = WAIT_S) -> None:
        self._clock = clock
        self._max_age = max_age_s
        self._wait_s = wait_s
        self._lock = threading.Lock()
        self._ended: set[str] = set()  # sessions ended whose rows could not be deleted yet (a locked database)
        self.failing: str | None = None  # why the last access failed, until one succeeds (logged once)
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        self._ended_file = Path(db_path).parent / ENDED_FILE
        self._db = connect_own(db_path, check_same_thread=False, timeout=wait_s)
        self._db.execute("PRAGMA journal_mode=WAL")
        with self._db:
            self._db.executescript(_SCHEMA)
        self._ended = self._read_ended()
        if self._ended:  # ended before a restart, on a locked database: refused from now on, their rows go now or later
            with self._lock:
                self._end_soon(set(), 0.0, housekeeping=True)

    def _now(self) -> float:
        return self._clock.now().timestamp()  # wall time: a session's age must survive a restart

    @contextmanager
    def _waiting(self, wait_s: float) -> Iterator[None]:
        """A statement that waits at most ``wait_s`` for another connection's lock; call holding ``self._lock``."""
        self._db.execute(f"PRAGMA busy_timeout={max(0, int(wait_s * 1000))}")
        try:
            yield
        finally:
            self._db.execute(f"PRAGMA busy_timeout={int(self._wait_s * 1000)}")

    def _failed(self, exc: sqlite3.Error) -> None:
        if self.failing is None:
            log.error("the page's sessions table cannot be used (%s): sign-ins and checks that need it are refused "
                      "(HTTP 503), sign-outs end in memory and in %s until it can", exc, self._ended_file)
        self.failing = str(exc)

    def _worked(self) -> None:
        if self.failing is not None:
            log.warning("the page's sessions table works again (it failed: %s)", self.failing)
            self.failing = None

    def _delete(self, keys: set[str]) -> None:
        """Delete these sessions' rows and those ended in memory before; raises sqlite3.Error. Holding the lock."""
        pending = keys | self._ended
        with self._db:
            self._db.executemany("DELETE FROM web_sessions WHERE sid_hash=?", [(k,) for k in pending])
        if self._ended:
            self._forget_ended(self._ended)
        self._ended -= pending

    def _end_soon(self, keys: set[str], wait_s: float, housekeeping: bool = False) -> None:
        """End these sessions: their rows deleted now, or kept in memory (refused from there) until a write goes
        through. ``housekeeping``: an ended session's removal, tried without waiting; another writer's moment
        (the recorder's ~20 ms) is no failure worth a line. Holding the lock."""
        try:
            with self._waiting(wait_s):
                self._delete(keys)
        except sqlite3.Error as exc:
            if not housekeeping:  # an expired session, or one of a removed user, stays refused by its row after a restart
                self._remember_ended(keys - self._ended)
            self._ended |= keys
            if housekeeping:
                log.debug("an ended session's row is removed later (%s)", exc)
                return
            self._failed(exc)
            log.warning("%d ended session(s) refused until the sessions table can be written (kept in memory and in "
                        "%s)", len(self._ended), self._ended_file)
        else:
            self._worked()

    def _read_ended(self) -> set[str]:
        """The sessions ended before this start whose rows may still be there (``ENDED_FILE``); expired ones left out.
        A torn last line (a power cut mid-append) is skipped; a file that cannot be read is logged, not fatal."""
        try:
            fd = _open_ended(self._ended_file, os.O_RDONLY)
            try:
                text = os.read(fd, ENDED_MAX_BYTES + 1).decode("ascii", "replace")
            finally:
                os.close(fd)
        except FileNotFoundError:
            return set()
        except OSError as exc:
            log.error("%s cannot be read (%s): sessions signed out on a locked database before this start are accepted "
                      "again until they expire", self._ended_file, exc)
            return set()
        now = self._now()
        return {m[1] for line in text.splitlines() if (m := _ENDED_LINE.fullmatch(line)) and float(m[2]) > now}

    def _remember_ended(self, keys: set[str]) -> None:
        """Append these sessions to ``ENDED_FILE`` (synced): a restart before their rows go still refuses them. Only
        those whose rows exist (a read: a write lock does not hold it up), each with its row's expiry (the line can go
        then); a row that cannot be read is kept for the longest a session may live. Holding the lock."""
        if not keys:
            return
        longest = self._now() + 30 * 86400  # web.session_max_age_s's bound
        try:
            marks = ",".join("?" * len(keys))
            found = dict(self._db.execute(f"SELECT sid_hash, expires_epoch FROM web_sessions WHERE sid_hash IN "
                                          f"({marks})", sorted(keys)).fetchall())
        except sqlite3.Error:
            found = dict.fromkeys(keys, longest)
        if not found:
            return
        lines = "".join(f"{k} {float(e):.0f}\n" for k, e in found.items()).encode("ascii")
        try:
            new = not self._ended_file.exists()
            fd = _open_ended(self._ended_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # ``review`` beside ``run``: both keep their lines
                os.write(fd, lines)
                os.fsync(fd)
            finally:
                os.close(fd)
            if new:
                fsync_dir(self._ended_file.parent)
        except OSError as exc:
            log.error("%d ended session(s) could not be written to %s (%s): refused by this page process only; a "
                      "restart before their rows go accepts their cookies again until they expire", len(found),
                      self._ended_file, exc)

    def _forget_ended(self, keys: set[str]) -> None:
        """Their rows are gone: take these sessions (and expired lines) out of ``ENDED_FILE``, another process's
        lines kept. Housekeeping: a failure leaves lines that the next start removes again. Holding the lock."""
        try:
            fd = _open_ended(self._ended_file, os.O_RDWR)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            text = os.read(fd, ENDED_MAX_BYTES + 1).decode("ascii", "replace")
            now = self._now()
            keep = [line for line in text.splitlines()
                    if (m := _ENDED_LINE.fullmatch(line)) and m[1] not in keys and float(m[2]) > now]
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            if keep:
                os.write(fd, "".join(f"{line}\n" for line in keep).encode("ascii"))
            os.fsync(fd)
        except OSError as exc:
            log.debug("%s not tidied (%s)", self._ended_file, exc)
        finally:
            os.close(fd)

    def open(self, user: str, stamp: str) -> str:
        """A new session for ``user`` whose password hash has ``stamp``; returns the cookie's id. Raises
        ``SessionsUnavailable`` when its row cannot be written (within ``WAIT_S``): no session without one."""
        sid = secrets.token_urlsafe(32)
        now = self._now()
        with self._lock:
            try:
                with self._waiting(self._wait_s), self._db:
                    self._db.execute("DELETE FROM web_sessions WHERE expires_epoch <= ?", (now,))
                    self._db.execute("INSERT INTO web_sessions VALUES (?,?,?,?,?)",
                                     (_key(sid), user, stamp, now, now + self._max_age))
            except sqlite3.Error as exc:
                self._failed(exc)
                raise SessionsUnavailable(str(exc)) from None
            self._worked()
            if self._ended:  # the sessions ended in memory meanwhile: their rows go now
                self._end_soon(set(), self._wait_s)
        return sid

    def user(self, sid: object, stamp_of: Callable[[str], str | None]) -> str | None:
        """Whose session ``sid`` is, or None (unknown, expired, ended, user removed, password changed). Raises
        ``SessionsUnavailable`` when the table cannot be read: neither let in nor signed out."""
        if not isinstance(sid, str) or not sid:
            return None
        key = _key(sid)
        with self._lock:
            if key in self._ended:
                return None
            try:
                row = self._db.execute("SELECT user, user_stamp, expires_epoch FROM web_sessions WHERE sid_hash=?",
                                       (key,)).fetchone()
            except sqlite3.Error as exc:
                self._failed(exc)
                raise SessionsUnavailable(str(exc)) from None
        if row is None:
            return None
        user, stamp, expires = row
        now = self._now()
        # further off than a whole lifetime: opened while the wall clock ran ahead, since stepped back
        if expires <= now or expires - now > self._max_age or stamp_of(user) != stamp:
            with self._lock:
                self._end_soon({key}, 0.0, housekeeping=True)  # refused either way: no request waits on it
            return None
        return user

    def end(self, sid: object) -> None:
        """End the session ``sid`` (a sign-out, a new login in the same browser). Never refused: a row that cannot be
        deleted within ``WAIT_S`` is ended in memory until it can be."""
        if isinstance(sid, str):
            with self._lock:
                self._end_soon({_key(sid)}, self._wait_s)

    def close(self) -> None:
        with self._lock:
            if self._ended:
                try:
                    self._delete(set())
                except sqlite3.Error as exc:
                    log.warning("%d ended session(s) could not be removed at stop (%s): the next start refuses the "
                                "signed-out ones from %s and removes them", len(self._ended), exc, self._ended_file)
            self._db.close()
