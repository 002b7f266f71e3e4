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

import sqlite3
from pathlib import Path

from edge_agent.config.datadir import data_dir_problem, planted_problem
from edge_agent.config.models import AgentConfig
from edge_agent.sqlite_damage import is_no_space


class StartupError(Exception):
    """``str()`` is the one line to print; ``code`` the exit status."""

    def __init__(self, line: str, code: int) -> None:
        super().__init__(line)
        self.code = code


def check_data_dir(cfg: AgentConfig) -> None:
    """The data folder exists (or can be made), this user can write it and what the agent writes in it, and
    none of those files is a link or a FIFO, else exit 2 (``config/datadir.py`` holds the rules)."""
    problem = data_dir_problem(Path(cfg.data_dir)) or planted_problem(Path(cfg.data_dir))
    if problem is not None:
        raise StartupError(f"{problem}; `edge-agent doctor` checks this", 2)


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
    from edge_agent.runtime.sinks import NotOwnFile

    if isinstance(exc, NotOwnFile):  # swapped in after check_data_dir looked: refused as that check refuses it
        return StartupError(f"data_dir: {exc.filename}: {exc.strerror}", 2)
    if is_no_space(exc):  # before OSError: ENOSPC is one
        return StartupError(f"cannot start: disk full ({exc}): free space under data_dir; nothing was moved aside "
                            "and the outbox keeps its events (systemd starts the agent again)", 1)
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return StartupError(f"cannot start: {exc.strerror or exc}{where}", 1)
    if isinstance(exc, sqlite3.Error):
        return StartupError(f"cannot start: database error: {exc}", 1)
    return None
