"""Can this user write the data folder, and what the agent writes in it? The one rule for ``run`` and ``review``.

Why: only the folder was checked, by ``run``. A backup restored as root, or a tool run with ``sudo``, leaves
root-owned files in a folder the agent owns: SQLite then opens a database read-only without a word, and the
agent ran with every evidence save, violation, decision and run-ledger write failing, in tracebacks (or failed
to start on ``attempt to write a readonly database``, naming no file). And ``review`` on a read-only folder (a
backup on a read-only mount, a card the kernel remounted read-only) was a traceback on the session key.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

WRITTEN_FOLDERS = ("evidence", "camera", "notify-dead", "config-backups")  # folders the agent writes in
_WRITTEN_SUFFIXES = (".db", ".sqlite", "-wal", "-shm", ".reserve", ".jsonl", ".jsonl.1", ".lock")
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


def _rel(p: Path, data: Path) -> str:
    try:
        owner = p.owner()
    except (KeyError, OSError):
        owner = str(p.stat().st_uid) if p.exists() else "?"
    return f"{p.relative_to(data).as_posix() if p != data else '.'} (owner {owner})"
