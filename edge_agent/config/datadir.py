"""Can this user write the data folder, and what the agent writes in it? The one rule for ``run`` and ``review``.

Why: only the folder was checked, by ``run``. A backup restored as root, or a tool run with ``sudo``, leaves
root-owned files in a folder the agent owns: SQLite then opens a database read-only without a word, and the
agent ran with every evidence save, violation, decision and run-ledger write failing, in tracebacks (or failed
to start on ``attempt to write a readonly database``, naming no file). And ``review`` on a read-only folder (a
backup on a read-only mount, a card the kernel remounted read-only) was a traceback on the session key.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

WRITTEN_FOLDERS = ("evidence", "camera", "notify-dead", "config-backups", "bays")  # folders the agent writes in
_WRITTEN_SUFFIXES = (".db", ".sqlite", "-wal", "-shm", ".reserve", ".jsonl", ".jsonl.1", ".lock", "shown.bin")
_READ_SUFFIXES = (".key",)  # made once, then only read (the web session key)


def data_dir_problem(data: Path) -> str | None:
    """One line saying why this user cannot use ``data`` (made when missing), or None when it can."""
    try:
        data.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=data)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return f"data_dir {data.resolve()}: not writable ({exc.strerror or exc})"
    denied = not_writable(data)
    if not denied:
        return None
    shown = ", ".join(denied[:3]) + (f" (+{len(denied) - 3} more)" if len(denied) > 3 else "")
    return (f"data_dir {data.resolve()}: not writable by this user (uid {os.geteuid()}): {shown}; give the "
            f"folder back to the agent's user (`chown -R USER: {data.resolve()}`), as a backup restored or a "
            "command run as root leaves it")


def not_writable(data: Path) -> list[str]:
    """The paths under ``data`` the agent writes that this user cannot: the folders it creates, replaces and
    deletes files in (with the evidence's day folders, where retention deletes photos), and the files it
    writes in place (SQLite databases and their WAL, the events log, the instance lock), and the session key
    it must read.
    Relative to ``data``, each with its owner. Folders the agent only reads (``labels/``, written by
    ``occupancy label``) are not its to judge."""
    folders = [data] + [data / f for f in WRITTEN_FOLDERS if (data / f).is_dir()]
    evidence = data / "evidence"
    if evidence.is_dir():
        folders += sorted(p for p in evidence.iterdir() if p.is_dir())
    out: list[str] = []
    for folder in folders:
        if not os.access(folder, os.W_OK | os.X_OK):
            out.append(_rel(folder, data))
        if folder.parent == evidence:  # a day of photos: deleted whole, never written in place
            continue
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        out += [_rel(p, data) for p in entries if p.is_file() and (
            (p.name.endswith(_WRITTEN_SUFFIXES) and not os.access(p, os.W_OK))
            or (p.name.endswith(_READ_SUFFIXES) and not os.access(p, os.R_OK)))]
    return out


# the files the agent opens by name there (SQLite's own sidecars among them), which it only ever makes as regular files
_OWN_SUFFIXES = (*_WRITTEN_SUFFIXES, "-journal")


def planted_problem(data: Path) -> str | None:
    """One line naming the agent's files in ``data`` that are no regular file (a symbolic link, a FIFO, a device,
    a folder), or None. Why: the agent opens them by name and makes none of them so, and through each ``run``
    went wrong: a FIFO at ``events.jsonl`` hung the start for ever (no lock driven, not even SIGTERM's stop), one
    at ``evidence/evidence.db`` or its ``-shm`` stopped it as "disk full: free space under data_dir", and a link at
    ``evidence.db`` had the plates' index written wherever it led. Only ``evidence forget`` refused links there."""
    # a folder of its own that is a link (``evidence`` moved to a larger disk) is looked in too: the agent opens the
    # files there by name through it, and a FIFO at ``evidence/evidence.db`` behind such a link went unseen
    folders = [data] + [data / f for f in WRITTEN_FOLDERS if (data / f).is_dir()]
    found: list[str] = []
    for folder in folders:
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        for p in entries:
            if not p.name.endswith(_OWN_SUFFIXES):
                continue
            try:
                mode = os.lstat(p).st_mode
            except OSError:
                continue
            if not stat.S_ISREG(mode):
                found.append(f"{p.relative_to(data).as_posix()} ({_kind(mode)})")
    if not found:
        return None
    shown = ", ".join(found[:3]) + (f" (+{len(found) - 3} more)" if len(found) > 3 else "")
    return (f"data_dir {data.resolve()}: not a file the agent wrote: {shown}; the agent makes these only as its own "
            "regular files and opens them by name (planted by whoever writes the folder?): remove them; nothing "
            "was opened")


def planted_outbox(path: Path) -> str | None:
    """One line where ``mqtt.outbox.path`` (or a sidecar SQLite opens beside it) is no regular file, or None. Why:
    ``run`` refuses the outbox's name when it is a link, FIFO or device (``owndb``), exit 2, but ``planted_problem``
    looks in ``data_dir`` only: an outbox kept elsewhere through a link, which 0.24.0 followed, passed the doctor
    the upgrade ran before its restart, and the new start was refused (probe updown33)."""
    found = []
    for p in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
        try:
            mode = os.lstat(p).st_mode
        except OSError:
            continue
        if not stat.S_ISREG(mode):
            found.append((p, mode))
    if not found:
        return None
    shown = ", ".join(f"{p} ({_kind(mode)})" for p, mode in found)
    fix = ("with the agent stopped, move the file it leads to over the link (its -wal too) or set mqtt.outbox.path "
           "to where it leads: removing the link alone starts an empty outbox, the events queued in the old one "
           "never sent" if any(stat.S_ISLNK(mode) for _, mode in found) else "remove it")
    return f"mqtt.outbox.path: not a file the agent wrote: {shown}; `run` refuses to start with it: {fix}"


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device"


def _rel(p: Path, data: Path) -> str:
    try:
        owner = p.owner()
    except (KeyError, OSError):
        owner = str(p.stat().st_uid) if p.exists() else "?"
    return f"{p.relative_to(data).as_posix() if p != data else '.'} (owner {owner})"
