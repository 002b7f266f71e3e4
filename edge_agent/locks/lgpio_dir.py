"""Where lgpio (gpiozero's pin factory on a Raspberry Pi 5) makes its notification pipe.

Why: ``import lgpio`` creates a FIFO ``.lgd-nfyN`` in its working directory — ``$LG_WD``, else the process's
current directory — and ``chdir()``s the whole process there. In a folder the user may not write (an operator's
0700 home, a source checkout, ``/``) the import fails with ``No such file or directory: '.lgd-nfy-3'`` and
gpiozero falls back to factories a Pi 5 does not have: ``BadPinFactory``. The shipped unit starts the agent
in its data dir (``WorkingDirectory=``), so the service works; the doctor that ``install.sh`` runs as the
service user from wherever ``sudo`` was typed, or ``sudo -u edge-agent … doctor`` from a home folder, did not
(gpio FAIL on a device whose locks then work), and neither did ``run`` started by hand there.

The rule: when lgpio is not loaded yet, ``$LG_WD`` is unset and the current folder is not writable, lgpio's
folder is the agent's data dir (the one folder it may write, as under the unit), and the process's current
folder is given back once lgpio is loaded, so relative paths keep their meaning. lgpio reads ``$LG_WD`` once,
at its first use; setting it is the only way it offers.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ENV = "LG_WD"


@contextmanager
def lgpio_workdir(data_dir: str | Path) -> Iterator[None]:
    """Around the first creation of a gpiozero pin factory (which imports lgpio)."""
    if "lgpio" in sys.modules or os.environ.get(ENV):
        yield
        return
    try:
        cwd = os.getcwd()
    except OSError:  # the folder was removed: lgpio would fall back to /tmp, which a unit's PrivateTmp keeps
        yield
        return
    folder = Path(data_dir).resolve()
    if _can_make_pipe(Path(cwd)) or not _can_make_pipe(folder):
        yield
        return
    os.environ[ENV] = str(folder)
    try:
        yield
    finally:
        try:
            os.chdir(cwd)  # lgpio chdir()ed into LG_WD; its pipe is open by now
        except OSError:
            pass


def _can_make_pipe(folder: Path) -> bool:
    """What lgpio does there, tried: ``access()`` says yes to root on /proc or a folder a mount refuses."""
    probe = folder / f".edge-agent-pipe-probe-{os.getpid()}"
    try:
        os.mkfifo(probe, 0o600)
    except OSError:
        return False
    try:
        probe.unlink()
    except OSError:
        pass
    return True
