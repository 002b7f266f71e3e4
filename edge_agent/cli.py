"""``edge-agent``: one command, one subcommand per job.

Each stage registers its own subcommands (``register(subparsers)`` in its ``commands``
module), so this file only wires them together and owns exit codes:
0 ok, 1 the job ran but something failed, 2 bad usage or invalid config (a ``ConfigError``
raised by any command is reported here, with every problem and its key path).
A stop signal (SIGINT: Ctrl-C; SIGTERM: systemd, ``kill``, ``timeout``) unwinds every command, from its first
line, through its clean-up (``finally`` blocks: no scratch file, no half output, the stop plan of ``run``): a
service (``SERVICES``: a stop is how it ends) exits 0 once stopped, also while it is still starting; every other
command is a job the signal cut short, exit 128 + the signal (130 Ctrl-C, 143 SIGTERM).
Two more for every command, so no command has to remember them: a reader of stdout that went away
(``| head -1``) ends the command quietly, exit 1; and a file the command could not read or write (a folder
given for a file, no permission, a path under a file) is one line naming it, exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import signal
import sys
import threading
from typing import NoReturn

from edge_agent import __version__
from edge_agent.cliargs import Terminated, os_error_text, stdout_gone
from edge_agent.config.errors import ConfigError
from edge_agent.ops.logging_setup import PlainFormatter, setup_logging
from edge_agent.perception.heap import heap_returns_large_blocks

# Modules that add subcommands; each has ``register(subparsers) -> None``.
COMMAND_MODULES = (
    "edge_agent.runtime.check_config",
    "edge_agent.perception.commands",
    "edge_agent.events.commands",
    "edge_agent.runtime.commands",
    "edge_agent.web.commands",
    "edge_agent.ops.evidence_commands",
    "edge_agent.stats.commands",
    "edge_agent.ops.commands",
    "edge_agent.consumer.commands",
    "edge_agent.occupancy.commands",
    "edge_agent.runtime.occupancy_commands",  # eval-visits and label join the ``occupancy`` group
)


#: Commands whose normal end is a stop signal (``run`` under systemd, ``review``, ``consume``): stopped, at any
#: moment, is success, exit 0 — what ``run`` does once running, and what systemd expects of a unit it stops (an
#: exit 143 is a failure to it). Before, a SIGTERM while one was still starting (imports, models, databases: some
#: seconds on a Pi) killed it outright, and a Ctrl-C then was a ``KeyboardInterrupt`` traceback.
SERVICES = frozenset({"run", "review", "consume"})


def _terminate(_signum: int, _frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: a second SIGTERM must not cut the clean-up short
    raise Terminated


EXITS = "exit status: 0 done, 1 the job ran but failed, 2 bad input or an invalid config (each problem named)"


_INVALID_CHOICE = re.compile(r"invalid choice: (?P<value>'.*?'|\S+) \(choose from (?P<choices>.*)\)$")


class _Parser(argparse.ArgumentParser):
    """argparse's, with "did you mean 'reviewer'?" after an invalid choice (``--role reviwer``, ``usres``), as the
    config's choices have. Every subcommand's parser is one too (``add_subparsers`` makes its parsers this class)."""

    def error(self, message: str) -> NoReturn:
        found = _INVALID_CHOICE.search(message)
        # a word only (argparse quotes a text, not a number): `--rotate 100` was told '180', nearest by its digits,
        # where 90 is the nearest angle (probe review108)
        if found and found["value"].startswith("'"):
            from edge_agent.config.suggest import suggest_value

            choices = [c.strip().strip("'") for c in found["choices"].split(",")]
            meant = suggest_value(found["value"].strip("'"), choices)
            message += f": did you mean {meant!r}?" if meant else ""
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="edge-agent", description="One command, one subcommand per job.",
                                     epilog=f"{EXITS}. `edge-agent COMMAND --help` for each.")
    parser.add_argument("--version", action="version", version=f"edge-agent {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:  # a missing module is a broken install: fail, never a shorter menu
        importlib.import_module(name).register(sub)
    _name_commands(parser)
    return parser


def _name_commands(parser: argparse.ArgumentParser) -> None:
    """Each subcommand's parser leaves its full name (``edge-agent occupancy eval``) in ``args.prog``, for the
    one-line reports ``_main`` writes for every command."""
    parser.set_defaults(prog=parser.prog)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            # each command's --help opens with what it does (the menu's line), and its exits: `run --help` listed
            # options only, nothing of what run is for (probe newuser36)
            said = {a.dest: a.help for a in action._choices_actions}
            for name, child in action.choices.items():
                child.description = child.description or said.get(name)
                child.epilog = child.epilog or (EXITS if not any(
                    isinstance(a, argparse._SubParsersAction) for a in child._actions) else None)
            for child in dict.fromkeys(action.choices.values()):  # an alias names the same parser again
                _name_commands(child)


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    command = next((w for w in words if not w.startswith("-")), None)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None  # before the modules load
    early = None
    if command == "run":  # before the command modules load (about a second here): a SIGHUP meanwhile ended `run`
        from edge_agent.ops.signals import hold_early_hangups

        early = hold_early_hangups()
    try:
        return _main(argv)
    except (KeyboardInterrupt, Terminated) as exc:  # also while the command modules load, before any handler
        sig = signal.SIGINT if isinstance(exc, KeyboardInterrupt) else signal.SIGTERM
        return 0 if command in SERVICES else 128 + sig
    finally:
        if early is not None:
            early.restore()
        if previous is not None:  # a test process that called ``cli.main`` keeps its own
            signal.signal(signal.SIGTERM, previous)


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """``parse_args``, but the files of a command whose last positional is a list of them (``more=(dest, type)``
    in its defaults) may also follow its options: ``occupancy label site.yaml --out labels.csv frames/`` and
    ``recognize a.jpg --json b.jpg`` were "unrecognized arguments" (argparse takes such a list only up to the
    first option)."""
    args, extra = parser.parse_known_args(argv)
    more = getattr(args, "more", None)
    if extra and more is not None and not any(w.startswith("-") for w in extra):
        dest, kind = more
        setattr(args, dest, [*getattr(args, dest), *map(kind, extra)])
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = _parse(parser, argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(PlainFormatter())  # times with their offset; run's setup_logging puts them in the site's zone
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, handlers=[handler])
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    heap_returns_large_blocks()
    args.log_setup = setup_logging  # injected: `review` logs as the config says (its package may not import ops)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:  # any command: one readable report naming the keys, exit 2
        print(exc.report(), file=sys.stderr)
        return 2
    except BrokenPipeError:  # `users list | head -1`, `stats --csv | head`: was a traceback on stderr
        stdout_gone()
        return 1
    except OSError as exc:  # a file the command could not open: was a traceback (`eval --labels` owned by root)
        if exc.filename is None:
            raise
        print(f"{args.prog}: {os_error_text(exc)}", file=sys.stderr)
        return 2
