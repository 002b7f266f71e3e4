"""Start-up failures an operator can fix, said in one line with an exit code — never a traceback.

Why: under systemd a traceback scrolls past in the journal on every restart and hides the one
thing to fix. ``run`` checks the data folder before anything opens files in it, and turns the
errors of building the agent into the words ``edge-agent doctor`` uses: exit 2 for what the
config points at (``data_dir``, ``perception.models_dir``, a secret's env var or file, a lock driver
this machine cannot run, an address ``web`` or ``ops.metrics`` cannot listen on), 1 for anything else — among
them a full disk, which a restart may outlive (nothing is moved aside for it). Starting counts too: what fails
after the agent is built (the review page's or the metrics' port) stops what already started first.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path

from edge_agent.config.models import AgentConfig
from edge_agent.sqlite_damage import is_no_space


class StartupError(Exception):
    """``str()`` is the one line to print; ``code`` the exit status."""

    def __init__(self, line: str, code: int) -> None:
        super().__init__(line)
        self.code = code


def check_data_dir(cfg: AgentConfig) -> None:
    """The data folder exists (or can be made) and a file can be written in it, else exit 2."""
    data = Path(cfg.data_dir)
    try:
        data.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=data)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise StartupError(f"data_dir {data.resolve()}: not writable ({exc.strerror or exc}); "
                           "`edge-agent doctor` checks this", 2) from None
    denied = not_writable(data)
    if denied:
        shown = ", ".join(denied[:3]) + (f" (+{len(denied) - 3} more)" if len(denied) > 3 else "")
        raise StartupError(f"data_dir {data.resolve()}: not writable by this user (uid {os.geteuid()}): {shown}; "
                           f"give the folder back to the agent's user (`chown -R USER: {data.resolve()}`), as a "
                           "backup restored or a command run as root leaves it", 2)


WRITTEN_FOLDERS = ("evidence", "camera", "notify-dead", "config-backups")  # folders the agent writes in
_WRITTEN_SUFFIXES = (".db", ".sqlite", "-wal", "-shm", ".reserve", ".jsonl", ".jsonl.1", ".lock")


def not_writable(data: Path) -> list[str]:
    """The paths under ``data`` the agent writes that this user cannot: the folders it creates, replaces and
    deletes files in (with the evidence's day folders, where retention deletes photos), and the files it
    writes in place (SQLite databases and their WAL, the events log, the instance lock). Relative to ``data``.

    Why: only ``data`` itself was checked. A backup restored as root, or a tool run with ``sudo``, leaves
    root-owned files in a folder the agent owns; SQLite then opens a database read-only without a word, and
    the agent ran with every evidence save, violation, decision and run-ledger write failing, in tracebacks.
    Folders the agent only reads from (``labels/``, written by ``occupancy label``) are not its to judge."""
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
        out += [_rel(p, data) for p in entries
                if p.name.endswith(_WRITTEN_SUFFIXES) and p.is_file() and not os.access(p, os.W_OK)]
    return out


def _rel(p: Path, data: Path) -> str:
    try:
        owner = p.owner()
    except (KeyError, OSError):
        owner = str(p.stat().st_uid) if p.exists() else "?"
    return f"{p.relative_to(data).as_posix() if p != data else '.'} (owner {owner})"


def explain(exc: BaseException) -> StartupError | None:
    """The one-line form of an error raised while the agent was built, or None (a bug: let it show)."""
    from edge_agent.config.errors import ListenError
    from edge_agent.config.mqtt import SecretError
    from edge_agent.locks.driver import DriverUnavailable
    from edge_agent.perception.sessions import ModelLoadError, ModelMissingError

    if isinstance(exc, (ModelMissingError, ModelLoadError)):
        return StartupError(f"perception.models_dir: {exc}", 2)
    if isinstance(exc, SecretError):  # names its key: mqtt.password_env, notify.sinks[0].secret_file …
        return StartupError(str(exc), 2)
    if isinstance(exc, DriverUnavailable):  # names locks[i].driver: no GPIO here, Jetson.GPIO missing …
        return StartupError(str(exc), 2)
    if isinstance(exc, ListenError):  # names web.host / web.port or ops.metrics.*
        return StartupError(str(exc.strerror), 2)
    if is_no_space(exc):  # before OSError: ENOSPC is one
        return StartupError(f"cannot start: disk full ({exc}): free space under data_dir; nothing was moved aside "
                            "and the outbox keeps its events (systemd starts the agent again)", 1)
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return StartupError(f"cannot start: {exc.strerror or exc}{where}", 1)
    if isinstance(exc, sqlite3.Error):
        return StartupError(f"cannot start: database error: {exc}", 1)
    return None
