"""The agent's own SQLite databases, opened by name and then checked to be the regular file that name holds.

Why: SQLite opens a database by name and follows a link there (it resolves the name, then opens the target). ``run``
refuses a link or FIFO at its files before it starts (``config/datadir.planted_problem``), but opens ``evidence.db``
and the outboxes seconds later, once the models have loaded: a link swapped in meanwhile had the plates' index, the
violations and the outbox's messages written wherever it led, another program's database edited. Python's
``sqlite3`` passes no open flags (``SQLITE_OPEN_NOFOLLOW`` is a C flag of ``sqlite3_open_v2`` only) and no URI
parameter refuses a link, so the connection is checked once it is open: the file SQLite says it opened (``PRAGMA
database_list``, its name with every link resolved) must be the name itself in its folder (a linked folder, as an
``evidence/`` moved to a larger disk, is the operator's and stays allowed), and every descriptor this process holds
on it a regular file (a FIFO swapped in opens without blocking and failed later as "disk full"). The sidecars
(``-wal``, ``-shm``) SQLite opens itself with ``O_NOFOLLOW``, beside the resolved name.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

WHY = "a link, FIFO, device or folder where the agent keeps its own file (planted?): remove it"


class NotOwnFile(OSError):
    """A link, FIFO, device or folder where the agent keeps a file of its own (planted there?)."""


def connect_own(path: str | Path, **kwargs: Any) -> sqlite3.Connection:
    """``sqlite3.connect(path, **kwargs)``, refused (``NotOwnFile``, the connection closed) when what it opened is
    not the regular file at ``path`` itself."""
    try:
        db = sqlite3.connect(path, **kwargs)
    except sqlite3.Error:  # a FIFO or device swapped in: "disk I/O error" at the open, said as what it is
        try:
            planted = not stat.S_ISREG(os.lstat(path).st_mode)
        except OSError:
            planted = False
        if planted:
            raise NotOwnFile(errno.EINVAL, WHY, str(path)) from None
        raise
    try:
        check_opened(db, Path(path))
    except BaseException:
        db.close()
        raise
    return db


def check_opened(db: sqlite3.Connection, path: Path) -> None:
    """Raise ``NotOwnFile`` naming ``path`` unless ``db``'s main database is the regular file at ``path``."""
    # as bytes: a name that is not UTF-8 (surrogate escapes) failed to decode as text, its start refused
    row = db.execute("SELECT CAST(file AS BLOB) FROM pragma_database_list WHERE name = 'main'").fetchone()
    if row is None or not row[0]:  # no file at all (":memory:", "" a temporary one): nothing at a name to judge
        if str(path) in (":memory:", ""):
            return
        raise NotOwnFile(errno.EINVAL, WHY, str(path))
    opened = os.fsdecode(bytes(row[0]))
    # the folder as the kernel (and SQLite) walk it: ``..`` after a linked folder goes up from where the link leads
    # (a lexical ``abspath`` went up from the link, and the name was refused as a planted link)
    folder, name = os.path.split(os.fspath(path))
    if opened != os.path.join(os.path.realpath(folder or "."), name):  # a link at the name was followed
        raise NotOwnFile(errno.ELOOP, WHY, str(path))
    modes = _modes_open_on(opened)
    if modes is None:  # no /proc: the name, looked at once more
        try:
            modes = [os.lstat(opened).st_mode]
        except OSError:
            modes = []
    if any(not stat.S_ISREG(m) for m in modes):
        raise NotOwnFile(errno.EINVAL, WHY, str(path))


def _modes_open_on(name: str) -> list[int] | None:
    """The file modes of this process's descriptors open on ``name`` (Linux's ``/proc/self/fd``), None without it."""
    fds = "/proc/self/fd"
    try:
        entries = os.listdir(fds)
    except OSError:
        return None
    modes = []
    for fd in entries:
        try:
            if os.readlink(f"{fds}/{fd}") == name:
                modes.append(os.fstat(int(fd)).st_mode)
        except (OSError, ValueError):  # closed meanwhile (the listing's own descriptor among them)
            continue
    return modes
