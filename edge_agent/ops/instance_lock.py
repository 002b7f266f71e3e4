"""One agent per data folder: an advisory lock on ``{data_dir}/agent.lock``, held for the process's life.

Why: two ``run`` processes on one ``data_dir`` both ran, wrote the same events file, outbox and
evidence, and knocked each other off the broker (same client id) — each reconnect a few repeats,
each row possibly sent twice. ``fcntl.flock`` is released by the kernel when the process ends,
however it ends (SIGKILL, a crash, a power cut leaves no lock behind), so a stale lock file never
blocks a restart. The file names the holder (pid and command) for the refusal line.

Who takes it: the commands that write a data folder's outbox and evidence — ``run``, and
``replay`` / ``demo`` on the folder they were given (so a replay pointed at a live agent's folder is
refused, one into its own folder runs beside it). ``review`` reads the folder and takes no lock.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from pathlib import Path
from typing import IO

LOCK_FILE = "agent.lock"
_held: dict[Path, IO[str]] = {}  # open for the process's life: closing the file would release the lock


class DataDirBusy(Exception):
    """``str()`` is the one line to print."""


def hold_data_dir(data_dir: Path, command: str) -> Path:
    """Take the lock (once per process and folder) or raise ``DataDirBusy`` naming the holder; the folder is
    closed to other users (``close_to_others``) first."""
    data_dir = Path(data_dir).resolve()
    if data_dir in _held:
        return data_dir / LOCK_FILE
    close_to_others(data_dir)
    path = data_dir / LOCK_FILE
    try:  # never through a link: root's `evidence forget` opened (and emptied) what the agent's user planted here
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DataDirBusy(f"{path} is a link: the agent lock is never opened through one (it may point at any "
                              "file); remove it") from None
        raise
    f = os.fdopen(fd, "a+", encoding="utf-8")  # kept open on purpose
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "unknown pid"
        f.close()
        raise DataDirBusy(f"data_dir {data_dir} is in use by another edge-agent (pid {holder}); "
                          "one agent per data_dir: stop it, or give this one its own data_dir") from None
    f.truncate(0)
    f.write(f"{os.getpid()} {command}\n")
    f.flush()
    _held[data_dir] = f
    return path


def close_to_others(data_dir: Path) -> None:
    """Take every access for other users off the data folder (its owner's and group's stay).

    Why: it holds plates, their photos and the events (personal data), and the unit's ``UMask=0027`` /
    ``StateDirectoryMode=0750`` are the only things that kept them private: run by docker (the Jetson image,
    a bind-mounted ``/var/lib/edge-agent`` made by ``mkdir``, umask 022) or from a shell, the folder was 0755 and
    every file in it 0644 — any account on the device read ``evidence.db`` and the photos, and a world-writable
    folder let it plant links there. One ``chmod`` of the folder covers every file under it, whatever mode each
    was written with. A folder this user does not own (it may still write it through its group) is left as it
    is: ``chmod`` is its owner's; so is a shared one (sticky, as ``/tmp``: ``data_dir: /tmp`` run as root)."""
    try:
        st = os.stat(data_dir)
        if st.st_mode & 0o007 and st.st_uid == os.geteuid() and not st.st_mode & stat.S_ISVTX:
            os.chmod(data_dir, stat.S_IMODE(st.st_mode) & ~0o007)
    except OSError:  # missing or unreadable: the lock's open says so in its own words
        pass


def release_all() -> None:
    """Tests only: a process releases its locks by ending."""
    for f in _held.values():
        f.close()
    _held.clear()
