"""Lines a function runs during a call: cost counted in work done, not seconds, so a test of a bound on work
stays deterministic on a loaded machine."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import CodeType
from typing import Any, TypeVar

T = TypeVar("T")


def lines_run(code: CodeType, call: Callable[[], T]) -> tuple[T, int]:
    """``call()``'s result and the number of lines of ``code`` (a function's ``__code__``) it ran."""
    lines = 0

    def count(frame: Any, event: str, arg: Any) -> Any:
        nonlocal lines
        if frame.f_code is code:
            if event == "line":
                lines += 1
            return count
        return None

    sys.settrace(count)
    try:
        return call(), lines
    finally:
        sys.settrace(None)
