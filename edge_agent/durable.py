"""Files that hold all of their new content or all of their old, also after a power cut.

Written beside the target, synced, renamed over it, and the folder synced so the rename itself is
on the card: SD cards and their page cache lose unsynced writes. Used for evidence photos, the
installer's overrides and the locks' latched faults.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_durably(path: Path, data: bytes, tmp: Path | None = None, sync_dir: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically; ``tmp`` is the scratch file beside it (default
    ``.{name}.{pid}.tmp``). ``sync_dir=False`` skips the folder's sync where a lost rename is already
    recovered from (evidence photos: the orphan sweep; one sync less per photo on the frame loop).
    Raises OSError, leaving ``path`` as it was."""
    tmp = tmp or path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_dir(path.parent)


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
