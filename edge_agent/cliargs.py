"""argparse types for numbers on the command line, checked as the config checks its numbers, and the check of
an output's folders before a command's work.

Why one module: every ``--threads``, ``--port``, ``--fps`` … is a number that reaches a decision or a
library, and ``int()`` / ``float()`` alone take 100000 threads (onnxruntime hung starting them), port 70000
(the config model's traceback), "nan", "inf" and 1e9 fps (rendered until the kernel killed it). argparse
turns the ``ArgumentTypeError`` into its usage line and exit 2.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Callable


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
