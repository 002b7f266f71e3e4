"""Files that hold all of their new content or all of their old, also after a power cut.

Written beside the target, synced, renamed over it, and the folder synced so the rename itself is
on the card: SD cards and their page cache lose unsynced writes. Used for evidence photos, the
installer's overrides, the locks' latched faults and the commands' output files (``--json``, ``--out``).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def write_durably(path: Path, data: bytes, tmp: Path | None = None, sync_dir: bool = True,
                  sync: bool = True, like: os.stat_result | None = None) -> None:
    """Replace ``path`` with ``data`` atomically; ``tmp`` is the scratch file beside it (default
    ``.{name}.{pid}.{thread}.tmp``: two threads replacing one file each write their own, where with the pid
    alone the second removed the first's scratch — ``open_scratch`` removes a name it finds — and the first's
    rename failed). ``sync_dir=False`` skips the folder's sync where a lost rename is already
    recovered from (evidence photos: the orphan sweep; one sync less per photo on the frame loop);
    ``sync=False`` the file's too (a command's images: atomic and never through a link, not durable).
    ``like``: the replaced file's ``stat``, whose mode (and, run as root, owner and group) the new one keeps — root's
    ``evidence forget`` rewrote ``events.jsonl`` as ``root:root``, and the agent, its own user, then refused to start
    ("not writable by this user"). Raises OSError, leaving ``path`` as it was."""
    with replacing(path, tmp, sync_dir, sync, like) as fh:
        fh.write(data)


@contextmanager
def replacing(path: Path, tmp: Path | None = None, sync_dir: bool = True, sync: bool = True,
              like: os.stat_result | None = None) -> Iterator[BinaryIO]:
    """:func:`write_durably` for content written piece by piece: the scratch file, to write to; at the block's end
    synced and renamed over ``path``, and on an exception in it removed, ``path`` left as it was. Why: ``evidence
    forget`` rewrites ``events.jsonl``, a year of which is hundreds of MB, on a device with 1 GB of memory."""
    tmp = tmp or path.with_name(f".{path.name}.{os.getpid()}.{threading.get_native_id()}.tmp")
    try:
        with open_scratch(tmp) as fh:
            if like is not None:
                if os.geteuid() == 0:
                    os.fchown(fh.fileno(), like.st_uid, like.st_gid)
                os.fchmod(fh.fileno(), stat.S_IMODE(like.st_mode))
            yield fh
            fh.flush()
            if sync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:  # a full disk, or Ctrl-C in a command: no scratch file left behind either way
        tmp.unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_dir(path.parent)


def open_scratch(tmp: Path, mode: int = 0o666) -> BinaryIO:
    """``tmp`` made new for writing (``mode`` less the umask), never through a name already there.

    Why: a scratch name can be guessed (``users.txt.tmp``, ``.state.json.PID.tmp``), and one opened as any file
    followed a link planted there: root running ``occupancy calibrate --out`` into the agent's folder, or
    ``users add``, wrote through the agent user's link into ``/etc/passwd``. A name left there (a crash's, or a
    link) is removed, never followed; one planted again meanwhile fails the ``O_EXCL`` open (``FileExistsError``)."""
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), mode)
    return os.fdopen(fd, "wb")


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable, where the OS allows opening a folder."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)



@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder`` locked (``flock``; released by the kernel if the process dies) while a file in it is read,
    changed and written back: the overrides, the users file.

    Why: the web page's Save (bays) and ``set-lists`` (lists) each read the whole file, change their
    part and write it back, from two ``ConfigFile`` objects or two processes; unlocked, the later write
    put back the other's old part (a Save during a ``set-lists`` brought the old allow list back at
    the next restart, after the command had answered "saved"); two ``users add`` at once kept one user."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except (FileExistsError, NotADirectoryError):  # no folder there: the write that follows names it (or the config check)
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def write_output(path: Path, text: str) -> None:
    """Write a command's output file (``--json``, ``--out``) whole or not at all. Why: written in place, a full
    disk or a Ctrl-C left a cut-off file under the name a script reads (the old metrics gone, the new ones half
    there). Raises OSError, the old file as it was."""
    write_durably(path, text.encode("utf-8"), sync_dir=False)


@contextmanager
def output_folder(folder: Path) -> Iterator[Path]:
    """Fill a command's output folder (``eval --failures DIR``) whole or not at all: the files go to a scratch
    folder beside it (``.{name}.{pid}.tmp``), synced, which then takes its place; an error, a full disk or a Ctrl-C
    on the way removes the scratch folder and leaves ``folder`` as it was. Why: written in place, a crash left a
    cut-off ``failures.csv`` beside the crops of an earlier run under the same numbers. The folder is replaced
    as a whole, so it must hold the command's files only (the command checks that before its work). Between the
    two renames (microseconds) a SIGKILL leaves the old folder as ``.{name}.{pid}.old``."""
    scratch = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    old = folder.with_name(f".{folder.name}.{os.getpid()}.old")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    try:
        yield scratch
        for p in scratch.iterdir():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())
        fsync_dir(scratch)
        try:
            if folder.exists():
                os.replace(folder, old)
            os.replace(scratch, folder)
        finally:  # an interrupt may come between the renames or just after the last: judged by what is on disk
            if scratch.exists():  # the new folder did not take its place: the old one goes back
                if old.exists() and not folder.exists():
                    os.replace(old, folder)
            else:
                shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    fsync_dir(folder.parent)


class NotRegularFile(OSError):
    """``read_small``: the path names a folder (``folder``), a FIFO, a device or a socket."""

    def __init__(self, path: str | os.PathLike[str], folder: bool) -> None:
        super().__init__(f"{path}: {'a folder' if folder else 'not a regular file'}")
        self.folder = folder


def read_small(path: str | os.PathLike[str], limit: int, nofollow: bool = False) -> bytes:
    """A small file named by the operator or kept by the agent (a config, a secret, a calibration, ``bays/
    outlines.json``, ``camera/reported.json``), at most ``limit`` + 1 bytes: the caller refuses more. Raises
    ``FileNotFoundError`` when absent, ``NotRegularFile`` for a folder, FIFO or device (a FIFO opens at once here and
    is refused, where a plain read waited for a writer for ever and the start hung; ``/dev/zero`` was read without
    end), another ``OSError`` when it cannot be read. ``nofollow``: a file the agent alone writes in its data dir
    (held events, held photo rows) is never read through a link planted in its place (``ELOOP``)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | (os.O_NOFOLLOW if nofollow else 0)
    fd = os.open(path, flags)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):  # checked before fdopen, which refuses a folder with its own error (and leaks fd)
        os.close(fd)
        raise NotRegularFile(path, stat.S_ISDIR(mode))
    with os.fdopen(fd, "rb") as f:
        return f.read(limit + 1)
