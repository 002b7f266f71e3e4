"""``edge-agent review`` (the page on stored evidence, no camera loop) and ``edge-agent users``."""

from __future__ import annotations

import argparse
import getpass
import os
import pwd
import signal
import sys
import threading
from pathlib import Path
from zoneinfo import ZoneInfo

from edge_agent.cliargs import os_error_text, whole_number
from edge_agent.config.datadir import data_dir_problem, planted_problem
from edge_agent.config.errors import ListenError
from edge_agent.config.hosts import bind_host
from edge_agent.web.roles import ROLES


def _bind_address(text: str) -> str:
    """``--host`` checked as ``web.host`` is: ``--host 'h ost'`` was a pydantic traceback."""
    try:
        return bind_host(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("review", help="serve the review web page on the stored evidence (no camera loop)")
    p.add_argument("--config", "-c", required=True, help="agent YAML config")
    p.add_argument("--host", type=_bind_address, help="bind address (default: web.host from the config)")
    p.add_argument("--port", type=whole_number(0, 65535, "a port is"),
                   help="port, 0-65535 (default: web.port from the config)")
    p.set_defaults(func=_review)

    u = sub.add_parser("users", help="manage review page users (argon2 hashes in web.users_file)")
    us = u.add_subparsers(dest="users_cmd", metavar="ACTION", required=True)
    cfg = argparse.ArgumentParser(add_help=False)
    cfg.add_argument("--config", "-c", required=True, help="agent YAML config (names the users file)")
    a = us.add_parser("add", parents=[cfg], help="add a user or set a new password (prompts unless --password-file)")
    a.add_argument("name")
    a.add_argument("--password-file", help="read the password from the first line of this file ('-': stdin)")
    a.add_argument("--role", choices=ROLES, default=None,
                   help="reviewer: decide violations and edit the allow/deny lists; installer: draw bays, take "
                        "snapshots, confirm the camera view; admin: both (default for a new user; an existing "
                        "user keeps theirs). Everyone may look.")
    a.set_defaults(func=_users)
    r = us.add_parser("remove", parents=[cfg], help="remove a user")
    r.add_argument("name")
    r.set_defaults(func=_users)
    ls = us.add_parser("list", parents=[cfg], help="list user names and roles")
    ls.set_defaults(func=_users)


def _users(args: argparse.Namespace) -> int:
    from edge_agent.config.load import load_config
    from edge_agent.web.auth import UsersFile

    cfg = load_config(args.config)
    users = UsersFile(cfg.web.file(cfg.web.users_file, cfg.source_path))
    try:
        users.entries()
    except OSError as exc:  # a folder, no permission, not text: was a traceback; nothing is changed
        print(f"web.users_file {os_error_text(exc)}", file=sys.stderr)
        return 2
    return {"add": _users_add, "remove": _users_remove, "list": _users_list}[args.users_cmd](users, args)


MAX_PASSWORD = 1024  # what the login form takes (routes_auth: password max_length)


def _read_password(args: argparse.Namespace) -> str | None:
    if args.password_file == "-" and sys.stdin is None:  # `<&-`: was a TypeError traceback
        raise EOFError
    if args.password_file:
        f = sys.stdin if args.password_file == "-" else open(args.password_file, encoding="utf-8")
        where = "stdin" if args.password_file == "-" else args.password_file
        try:
            with f:
                line = f.readline(MAX_PASSWORD + 2)  # bounded: /dev/zero or a disk image has no line end to stop at
        except UnicodeDecodeError:  # a key file, a UTF-16 export: was a traceback
            raise OSError(f"{where} is not UTF-8 text") from None
        password = line.rstrip("\r\n")
        if len(password) > MAX_PASSWORD:
            raise OSError(f"{where}: its first line is over {MAX_PASSWORD} characters, more than the login form takes")
        return password
    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        print("passwords differ; nothing changed", file=sys.stderr)
        return None
    return first


def _users_add(users, args: argparse.Namespace) -> int:  # noqa: ANN001 - UsersFile
    try:
        password = _read_password(args)
    except OSError as exc:
        print(f"cannot read the password file: {os_error_text(exc)}", file=sys.stderr)
        return 2
    except EOFError:  # no terminal and nothing on stdin (a script, ssh without -t): was getpass's traceback
        print(f"{args.name}: no password typed (stdin closed): give one with --password-file FILE "
              "('-': stdin)", file=sys.stderr)
        return 2
    if password is None:
        return 1
    try:
        users.set(args.name, password, args.role)
    except ValueError as exc:  # quoted when it is no name: a line end or a control character in it is shown
        from edge_agent.web.auth import NAME_RE

        print(f"{args.name if NAME_RE.match(args.name) else repr(args.name)}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        return _cannot_write(users, exc)
    print(f"{args.name} ({users.role(args.name)}): saved in {users.path}")
    return 0


def _cannot_write(users, exc: OSError) -> int:  # noqa: ANN001 - UsersFile
    """``users add`` / ``remove`` without the right to write the file (no ``sudo`` on ``/etc/edge-agent``, a
    path under a file) was a traceback; one line naming the key, nothing changed."""
    print(f"web.users_file {users.path}: cannot write ({exc.strerror or exc}): nothing changed; run it as the "
          "file's owner (on a device: sudo) or fix the path", file=sys.stderr)
    return 2


def _users_remove(users, args: argparse.Namespace) -> int:  # noqa: ANN001
    try:
        removed = users.remove(args.name)
    except OSError as exc:
        return _cannot_write(users, exc)
    if not removed:
        print(f"{args.name}: no such user in {users.path}", file=sys.stderr)
        return 1
    print(f"{args.name}: removed (their open sessions on the page end at once)")
    return 0


def _users_list(users, args: argparse.Namespace) -> int:  # noqa: ANN001
    entries = sorted(users.entries().items())
    if not entries:  # said nothing at all: a wrong config, a users_file relative to it, or none added yet (newuser37)
        print(f"no users in {users.path}: add one with `edge-agent users add NAME --config "
              f"{args.config}`", file=sys.stderr)
    for name, (_hash, role) in entries:
        print(f"{name}\t{role}")
    return 0


def _other_owner(data_dir: Path) -> str | None:
    """The user ``data_dir`` belongs to when this process is root and that is someone else (None otherwise).
    ``review`` makes the session key and the evidence database when they are missing: made by root, they
    stopped the agent's next start (``attempt to write a readonly database``, then the key's
    ``Permission denied``)."""
    try:
        uid = data_dir.stat().st_uid
    except OSError:
        return None
    if os.geteuid() != 0 or uid == 0:
        return None
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _this_command() -> str:
    """How this program was started, when that was the ``edge-agent`` script (sudo's PATH lacks the venv)."""
    return sys.argv[0] if Path(sys.argv[0]).name == "edge-agent" else "edge-agent"


def _review(args: argparse.Namespace) -> int:
    from edge_agent.clock import SystemClock
    from edge_agent.config.load import load_config
    from edge_agent.config.mqtt import SecretError
    from edge_agent.config.secretmodes import open_secret_files
    from edge_agent.events.bus import EventBus
    from edge_agent.evidence.store import EvidenceStore
    from edge_agent.evidence.violations import ViolationLog
    from edge_agent.perception.lists import PlateLists
    from edge_agent.web.auth import UsersFile
    from edge_agent.web.offline import OfflineControl
    from edge_agent.web.server import build_web
    from edge_agent.web.views import FLUSH_S

    cfg = load_config(args.config)
    log_setup = getattr(args, "log_setup", None)
    if log_setup is not None:  # the cli's (web may not import ops): the site's format, level and zone, as `run` logs
        log_setup(cfg.ops.logging, verbose=getattr(args, "verbose", False), tz=ZoneInfo(cfg.site.timezone))
    if args.host:
        cfg.web.host = args.host
    if args.port is not None:
        cfg.web.port = args.port
    owner = _other_owner(Path(cfg.data_dir))
    if owner is not None:
        print(f"review: data_dir {cfg.data_dir} belongs to {owner}; as root, review would leave files there that "
              f"the agent cannot open (its session key, the evidence database) and it would not start: run "
              f"`sudo -u {owner} {_this_command()} review --config {args.config}`", file=sys.stderr)
        return 2
    problem = data_dir_problem(Path(cfg.data_dir))
    if problem is not None:  # a backup on a read-only mount, a card turned read-only: was a traceback
        print(f"review: {problem}; the page writes its session key, sessions, decisions and audit log there: "
              "review a copy in a writable folder", file=sys.stderr)
        return 2
    planted = planted_problem(Path(cfg.data_dir))
    if planted is not None:  # the page opens evidence.db by name: through a link, another file; a FIFO: an error
        print(f"review: {planted}", file=sys.stderr)
        return 2
    users = UsersFile(cfg.web.file(cfg.web.users_file, cfg.source_path))
    try:
        named = users.load()
    except OSError as exc:  # a folder, no permission, not text: was a traceback
        print(f"review: web.users_file {os_error_text(exc)}", file=sys.stderr)
        return 2
    if not named:
        print(f"no users in {users.path}: add one with "
              f"`edge-agent users add NAME --config {args.config}`", file=sys.stderr)
        return 2
    for problem in open_secret_files(cfg):  # named, not refused: as ``run`` does
        print(f"review: warning: {problem}", file=sys.stderr)
    clock = SystemClock(ZoneInfo(cfg.site.timezone))
    # the config's budget: it sizes the snapshots' share too (review runs no retention of its own)
    store = EvidenceStore(Path(cfg.data_dir) / "evidence", clock, cfg.evidence.max_age_days,
                          int(cfg.evidence.max_mb * 1024 * 1024), int(cfg.evidence.min_free_mb * 1e6))
    vlog = ViolationLog(store.db_path, clock)
    lists = PlateLists(cfg.lists.allow, cfg.lists.deny)
    try:
        server = build_web(cfg, store, vlog, OfflineControl(cfg, store, lists, clock), lists, EventBus(), clock,
                           args.config)
    except SecretError as exc:  # names web.session_secret_file
        vlog.close()
        store.close()
        print(f"review: {exc}", file=sys.stderr)
        return 2
    try:
        server.start()
    except ListenError as exc:
        print(f"review: {exc.strerror}", file=sys.stderr)
        return 2
    except (OSError, RuntimeError) as exc:
        print(f"cannot serve on {cfg.web.host}:{cfg.web.port}: {exc}", file=sys.stderr)
        return 1
    print(f"review page on {server.url} (Ctrl-C stops)", flush=True)
    stop = threading.Event()
    # Our own handlers, not KeyboardInterrupt: a process started with SIGINT ignored (inherited) would
    # never see one; SIGTERM (systemd, kill) closes the databases cleanly too.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(FLUSH_S):  # no agent loop here: the coalesced looks written as its minute would
            server.app.state.ctx.views.flush_due()
    finally:
        server.stop()
        vlog.close()
        store.close()
    return 0
