"""argparse types for numbers on the command line, checked as the config checks its numbers, the check of
an output's folders before a command's work, and what a command does when its reader goes away or a file fails it.

Why one module: every ``--threads``, ``--port``, ``--fps`` … is a number that reaches a decision or a
library, and ``int()`` / ``float()`` alone take 100000 threads (onnxruntime hung starting them), port 70000
(the config model's traceback), "nan", "inf" and 1e9 fps (rendered until the kernel killed it). argparse
turns the ``ArgumentTypeError`` into its usage line and exit 2.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
from pathlib import Path
from typing import IO, Callable


def whole_number(lo: int, hi: int, says: str = "must be") -> Callable[[str], int]:
    """A whole number from ``lo`` to ``hi``; the error reads "{says} {lo} to {hi}, not {n}"."""
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not lo <= n <= hi:
            raise argparse.ArgumentTypeError(f"{says} {lo} to {hi}, not {n}")
        return n
    return parse


#: ``bench --repeat``: 0 or -1 was a ``statistics`` traceback after the models loaded (``occupancy bench`` quietly
#: took them as 1 and printed a median "of 1").
repeat_arg = whole_number(1, 10000)


def whole_numbers(lo: int, hi: int) -> Callable[[str], list[int]]:
    """A comma list of whole numbers, each ``lo`` to ``hi`` (``bench --sizes 640,960``): checked before the
    work, not a traceback after the minutes of it that come first."""
    one = whole_number(lo, hi)

    def parse(text: str) -> list[int]:
        values = [one(part.strip()) for part in text.split(",") if part.strip()]
        if not values:
            raise argparse.ArgumentTypeError(f"no number in {text!r}")
        return values
    return parse


def positive_number(ceiling: float) -> Callable[[str], float]:
    """A finite number above 0 and at most ``ceiling``."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and 0 < value <= ceiling):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number above 0 and at most {ceiling:g}")
        return value
    return parse


def output_ready(command: str, option: str, value: object, *folders: Path | None) -> bool:
    """Make the folders an output goes to before the work (minutes of ``eval``, a scenario, a camera grab): a path
    that cannot hold it was a traceback after the work, the result lost. False after one line on stderr."""
    try:
        for folder in folders:
            if folder:
                folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"{command}: cannot write {option} {value}: {exc.strerror or exc} ({exc.filename})", file=sys.stderr)
        return False
    return True


def stdout_gone() -> None:
    """The reader of stdout went away (``| head``): what is still printed goes nowhere, and Python does not
    report the pipe again when it flushes at exit."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def os_error_text(exc: OSError) -> str:
    """``PATH: why`` for an ``OSError`` (``PATH -> OTHER: why`` for a rename; the bare reason when it names no
    file), as the shell's own tools say it."""
    if exc.filename is None:
        return str(exc.strerror or exc)
    where = str(exc.filename) + (f" -> {exc.filename2}" if exc.filename2 is not None else "")
    return f"{where}: {exc.strerror or exc}"


def file_id(path: Path | str) -> tuple[int, int] | None:
    """(device, inode) of a file that exists: the same file under any name or link; None otherwise."""
    import os

    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def output_over_input(command: str, option: str, out: Path | str | None, inputs: dict[str, Path | str | None]) -> bool:
    """True, after one line on stderr, when the output ``out`` is one of the command's inputs (``{name: path}``)
    under any name or link. Why: ``replay site.yaml clip.mp4 -o clip.mp4`` emptied the recording before it was
    read, ``-o site.yaml`` the config, and ``eval-visits … --json EVENTS`` / ``occupancy eval L.csv --json L.csv``
    wrote their report over what they had just read."""
    target = file_id(out) if out else None
    if target is None:
        return False
    for name, path in inputs.items():
        if path and file_id(path) == target:
            print(f"{command}: {option} {out} is the {name}: it would be written over; write elsewhere",
                  file=sys.stderr)
            return True
    return False



class OpenedAtFirstWrite(io.TextIOBase):
    """A command's streamed text output (``replay -o EVENTS``), opened (emptied) at its first write, not before
    the work: every input — the config, its models and calibration, the clip — is then opened and checked before
    the old file is touched. Why: ``replay site.yaml missing.mp4 -o ev.jsonl`` emptied the events of the last
    replay, then said the clip was missing. Lines are written as they come (a reader may follow them)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._file: IO[str] | None = None

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self._file is None:
            self._file = self.path.open("w", encoding="utf-8")
        return self._file.write(text)

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        super().close()  # flushes first
        if self._file is not None:
            self._file.close()


class Terminated(BaseException):
    """SIGTERM, raised in the main thread as Ctrl-C raises ``KeyboardInterrupt`` (not an ``Exception``: no
    ``except Exception`` swallows it): the command unwinds through its clean-up instead of dying where it stood.
    ``cli.main`` raises it for every command; here, below the commands, so that one may say how it stopped."""
