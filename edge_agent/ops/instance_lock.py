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

from edge_agent.config.datadir import WRITTEN_FOLDERS

LOCK_FILE = "agent.lock"
_held: dict[Path, IO[str]] = {}  # open for the process's life: closing the file would release the lock


class DataDirBusy(Exception):
    """``str()`` is the one line to print."""


def hold_data_dir(data_dir: Path, command: str) -> str | None:
    """Take the lock (once per process and folder) or raise ``DataDirBusy`` naming the holder; the folder is
    closed to other users first (``close_to_others``). Returns the line to show when it was left open to them
    (not an agent's folder), else None."""
    data_dir = Path(data_dir).resolve()
    if data_dir in _held:
        return None
    note = close_to_others(data_dir)
    # a second agent may go elsewhere; a maintenance command (``evidence forget``) says "stop the agent" itself
    advice = "" if command.startswith("evidence") else "; one agent per data_dir: stop it, or give this one its own data_dir"
    _held[data_dir] = _lock(data_dir / LOCK_FILE, data_dir, command, f"data_dir {data_dir}", advice)
    return note


def hold_outbox(outbox: Path, command: str) -> None:
    """Take ``{outbox}.lock`` for the outbox this agent uses, wherever it lies, or raise ``DataDirBusy`` naming the
    holder. Why: two agents on their own data folders but one outbox (a config copied with only ``data_dir``
    changed, the outbox on a partition of its own) both ran and both sent its rows: 6 event_ids twice in 400, and
    each stop's count of the rows left went wrong (probe chaos43). An outbox in the agent's own ``data_dir`` is
    locked too: left to the data folder's lock, a second agent whose ``mqtt.outbox.path`` named that file found
    no lock on it and ran (probe review107)."""
    outbox = Path(outbox).resolve()
    path = outbox.with_name(outbox.name + ".lock")
    if path not in _held:
        try:  # an unusable path stays the config error the outbox's own open says (exit 2), not "cannot start"
            outbox.parent.mkdir(parents=True, exist_ok=True)
            _held[path] = _lock(path, outbox.parent, command, f"mqtt.outbox.path {outbox}",
                                "; one agent per outbox: stop it, or give this one its own mqtt.outbox.path")
        except OSError as exc:
            raise DataDirBusy(f"mqtt.outbox.path: cannot open {outbox}: {exc}") from None


def _lock(path: Path, folder: Path, command: str, what: str, advice: str) -> IO[str]:
    """``path`` opened (never through a link) and ``flock``ed for the process's life, naming this process in it."""
    try:  # never through a link: root's `evidence forget` opened (and emptied) what the agent's user planted here
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DataDirBusy(f"{path} is a link: the agent lock is never opened through one (it may point at any "
                              "file); remove it") from None
        raise
    # nor, as root, through a hard link (O_NOFOLLOW stops only symbolic ones): the pid below overwrote the linked
    # file and ``_agents_own`` gave it to the folder's owner. Not refused to the agent's user, who may write it anyway
    # (a `cp -al` backup leaves its lock with two names)
    if os.geteuid() == 0 and os.fstat(fd).st_nlink > 1:
        os.close(fd)
        raise DataDirBusy(f"{path} has another name (a hard link): root never writes or hands over a lock file that "
                          "may be any file of the device; remove it while the agent is stopped (it makes a new one)")
    _agents_own(fd, folder)
    f = os.fdopen(fd, "a+", encoding="utf-8")  # kept open on purpose
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "unknown pid"
        f.close()
        raise DataDirBusy(f"{what} is in use by another edge-agent (pid {holder}){advice}") from None
    f.truncate(0)
    f.write(f"{os.getpid()} {command}\n")
    f.flush()
    return f


def _agents_own(fd: int, data_dir: Path) -> None:
    """A lock file root just made (``evidence forget`` on a folder the agent never ran in, a backup restored without
    it) goes to the folder's owner: a ``root:root`` 0644 one stopped the agent's next start ("not writable by this
    user: agent.lock")."""
    if os.geteuid() != 0 or os.fstat(fd).st_uid != 0:
        return
    folder = os.stat(data_dir)
    if folder.st_uid != 0:
        os.fchown(fd, folder.st_uid, folder.st_gid)


#: what only an agent leaves in its data folder (``events.jsonl`` is no sign: ``replay -o`` writes one anywhere)
AGENT_FILES = (LOCK_FILE, "mqtt-outbox.sqlite", "evidence/evidence.db")
#: the other names an agent's folder holds: the folders it writes (and the labels and models an installer puts
#: there) and its files' kinds — databases, logs, state, keys, the users file, scratch files
_AGENT_FOLDERS = frozenset({*WRITTEN_FOLDERS, "labels", "models"})
_AGENT_SUFFIXES = (".sqlite", ".db", "-wal", "-shm", ".reserve", ".jsonl", ".jsonl.1", ".json", ".yaml", ".yml",
                   ".key", ".lock", ".txt", ".tmp", ".old")


def close_to_others(data_dir: Path) -> str | None:
    """Take every access for other users off the data folder (its owner's and group's stay), when it is an
    agent's: empty (made for it now, or by ``mkdir`` for a bind mount) or holding an agent's files
    (``AGENT_FILES``) and nothing else (``_agents_folder``). Another folder — a home or project folder given to ``replay --data-dir`` by mistake — keeps
    its mode: the returned line names it and the ``chmod`` to run (None: nothing to say).

    Why: it holds plates, their photos and the events (personal data), and the unit's ``UMask=0027`` /
    ``StateDirectoryMode=0750`` are the only things that kept them private: run by docker (the Jetson image,
    a bind-mounted ``/var/lib/edge-agent`` made by ``mkdir``, umask 022) or from a shell, the folder was 0755 and
    every file in it 0644 — any account on the device read ``evidence.db`` and the photos, and a world-writable
    folder let it plant links there. One ``chmod`` of the folder covers every file under it, whatever mode each
    was written with. But the chmod was of any folder this user owns: ``replay --data-dir ~`` closed the home
    folder to everyone else (their access to a shared project folder too), which the user asked for nowhere.
    A folder this user does not own (it may still write it through its group) is left as it is: ``chmod`` is
    its owner's; so is a shared one (sticky, as ``/tmp``: ``data_dir: /tmp`` run as root)."""
    try:
        st = os.stat(data_dir)
        if not st.st_mode & 0o007 or st.st_uid != os.geteuid() or st.st_mode & stat.S_ISVTX:
            return None
        if not _agents_folder(data_dir):
            return (f"data_dir {data_dir}: other users may read it (mode {stat.S_IMODE(st.st_mode):04o}) and it "
                    "holds other files than an agent's: its mode is left as it is; the agent writes plates and "
                    f"their photos there — give it a folder of its own, or run `chmod o-rwx {data_dir}`")
        os.chmod(data_dir, stat.S_IMODE(st.st_mode) & ~0o007)
    except OSError:  # missing or unreadable: the lock's open says so in its own words
        pass
    return None


def _agents_folder(data_dir: Path) -> bool:
    """Empty (made for the agent), or holding an agent's files and nothing else: a folder of the agent's kinds of
    file (``_AGENT_FOLDERS``, ``_AGENT_SUFFIXES``; a hidden one only as its scratch files). A home folder (its
    dotfiles) or a project folder (its sources) is not, also after a replay into it left the agent's files."""
    names = os.listdir(data_dir)
    if not names:
        return True
    if not any(os.path.lexists(data_dir / name) for name in AGENT_FILES):
        return False
    for name in names:
        path = data_dir / name
        if path.is_symlink():
            return False
        if path.is_dir():
            if name not in _AGENT_FOLDERS:
                return False
        elif not name.endswith(_AGENT_SUFFIXES) or (name.startswith(".") and not name.endswith((".tmp", ".old"))
                                                     and not name.startswith(".write-probe-")):
            return False
    return True


def release_all() -> None:
    """Tests only: a process releases its locks by ending."""
    for f in _held.values():
        f.close()
    _held.clear()
