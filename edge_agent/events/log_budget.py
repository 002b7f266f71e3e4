"""A token bucket for one kind of log line: a burst, then one line every so often; the rest at debug, counted.

Why: each refused command (the agent) or refused message (the reference consumer) was a log line, so whoever may
publish to the topic wrote as many lines as messages (a backend retrying a bad command every second: 3,600 an hour;
a device's credentials sending one-byte heartbeats: 45,204 lines in 5 s). The sender is still told each time (a
reply, a count); the log keeps the first ``burst`` and then one every ``every_s``, and the next line said names how
many were left out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable


class LogBudget:
    """Lines of one kind on ``clock`` (monotonic seconds): ``say`` logs at ``level`` while the budget allows."""

    def __init__(self, logger: logging.Logger, clock: Callable[[], float], burst: int, every_s: float, level: int,
                 left_out: str) -> None:
        """``left_out``: what the count of lines left out is of, for the next line (``refused command(s)``)."""
        self._log, self._clock, self._burst, self._every, self._level = logger, clock, burst, every_s, level
        self._left_out = left_out
        self._lock = threading.Lock()  # called from the network thread and the worker's
        self._tokens = float(burst)
        self._unsaid = 0  # lines left out since the last one said
        self._at: float | None = None

    def say(self, fmt: str, *args: object) -> None:
        """Log at the budget's level while it allows, else at debug (counted, and told in the next line said)."""
        now = self._clock()
        with self._lock:
            if self._at is not None:
                self._tokens = min(float(self._burst), self._tokens + max(0.0, now - self._at) / self._every)
            self._at = now
            if self._tokens < 1:
                self._unsaid += 1
                self._log.debug(fmt, *args)
                return
            self._tokens -= 1
            unsaid, self._unsaid = self._unsaid, 0
        if unsaid:  # the budget as it is: "over 20 a minute" was said of a sender refused 3 times a minute
            fmt += (f"; %d {self._left_out} before this one were not logged (the log keeps a burst of %d, then one "
                    f"every %s: see -v)")
            args = (*args, unsaid, self._burst, _every(self._every))
        self._log.log(self._level, fmt, *args)


def _every(seconds: float) -> str:
    """``60.0`` → ``"minute"``, ``90.0`` → ``"90 s"``: the refill period as a person reads it."""
    if seconds == 60:
        return "minute"
    return f"{seconds:g} s"
