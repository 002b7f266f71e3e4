"""The commands waiting for the command thread: a lock's command first, floods of the dear ones bounded.

One thread runs the commands, one at a time (a lock move may take seconds). With one first-in-first-out queue a
``lock`` or ``unlock`` waited behind every command queued before it: 1,000 queued ``snapshot`` commands (each writes
a photo; anyone allowed to publish to the command topic can send them, signed or not, as fast as the broker takes
them) made an ``unlock`` wait 24.5 s in a real run. So:

- the lock commands (``URGENT``) wait in a lane of their own, taken first, with room of their own (a flood of other
  commands never makes one ``busy``), in the order they came. A simulated lock's ``sim/…`` commands (its inputs: a
  car, a stuck switch) share the lane, so a lock command never runs on the inputs before those sent ahead of it (half
  its room at most, ``SIM_WAITING``: a flood of them must not make a lock command ``busy`` either). A
  bigger payload on their topics than such a command has (``URGENT_MAX_BYTES``) has no place here
  (``lock_kind_too_big``: the link answers it ``too_large``, unread): sent to wait with the rest, a valid
  ``unlock`` padded with whitespace was overtaken by the ``lock`` sent after it (the bay ended down when the
  backend's last word was up), and had the lock commands after it waited behind it, one such payload would have
  put every lock command behind a flood again;
- of each command dear to serve (``caps``: a snapshot writes a photo, a set-lists rewrites ``overrides.yaml`` and
  re-decides the open visits, a reload-config loads models: seconds) only a few wait at once; more are refused
  (``busy``) while they do, so every other command waits behind a few of them at most.

The rest keep their order, bounded by count and by payload bytes.
"""

from __future__ import annotations

import threading
from collections import deque

from edge_agent.events.command_handler import Command

URGENT = frozenset({"lock", "unlock", "lock-reset", "maintenance"})
URGENT_MAX_BYTES = 64 * 1024  # the largest lock command (every field at its longest, in \uXXXX pairs) is 18.3 KB
URGENT_WAITING = 100
# of that room, at most this many ``sim/…`` commands: they share the lane's order, not all its room — a flood of them
# (unknown names too, refused only when run) made the next ``unlock`` ``busy`` (review66)
SIM_WAITING = URGENT_WAITING // 2


def lock_kind(cmd: Command) -> bool:
    """A lock command, or a simulated lock's input (``sim/…``): the lane's, kept in the order they came."""
    return (cmd.namespace == "cmd" and cmd.name in URGENT) or cmd.namespace == "sim"


def lock_kind_too_big(cmd: Command) -> bool:
    """A payload on a lock command's topic bigger than any lock command (refused ``too_large``, never queued)."""
    return lock_kind(cmd) and len(cmd.payload) > URGENT_MAX_BYTES


class CommandQueue:
    def __init__(self, maxsize: int, max_bytes: int, caps: dict[str, int], urgent: int = URGENT_WAITING) -> None:
        self._max, self._max_bytes, self._caps, self._max_urgent = maxsize, max_bytes, dict(caps), urgent
        self._urgent: deque[Command] = deque()
        self._rest: deque[Command] = deque()
        self._bytes = 0  # payload bytes waiting in ``_rest``
        self._waiting: dict[str, int] = dict.fromkeys(self._caps, 0)  # of each capped command
        self._sims = 0  # ``sim/…`` commands waiting in ``_urgent`` (at most ``SIM_WAITING``, a share of its room)
        self._max_sims = min(SIM_WAITING, urgent // 2)
        self._closed = False
        self._cv = threading.Condition()

    def _capped(self, cmd: Command) -> str | None:
        return cmd.name if cmd.namespace == "cmd" and cmd.name in self._caps else None

    def offer(self, cmd: Command) -> bool:
        """Queue ``cmd``; False when its room is full (the sender is told ``busy``), when the queue is closed (the
        link is stopping: ``shutting_down``; queued, it would wait for a command thread that has ended, unanswered),
        or when it is a lock command's payload bigger than any (``lock_kind_too_big``: answered ``too_large``)."""
        size = len(cmd.payload)
        with self._cv:
            if self._closed:
                return False
            if lock_kind(cmd):
                sim = cmd.namespace == "sim"
                if len(self._urgent) >= self._max_urgent or size > URGENT_MAX_BYTES \
                        or (sim and self._sims >= self._max_sims):
                    return False
                self._urgent.append(cmd)
                self._sims += sim
            else:
                capped = self._capped(cmd)
                if (
                    len(self._rest) >= self._max
                    or (self._bytes and self._bytes + size > self._max_bytes)
                    or (capped is not None and self._waiting[capped] >= self._caps[capped])
                ):
                    return False
                self._rest.append(cmd)
                self._bytes += size
                if capped is not None:
                    self._waiting[capped] += 1
            self._cv.notify()
            return True

    def get(self, timeout: float) -> Command | None:
        """The next command, a lock command first; None when none came within ``timeout`` or the queue is closed
        and empty."""
        with self._cv:
            if not self._urgent and not self._rest and not self._closed:
                self._cv.wait(timeout)
            if self._urgent:
                cmd = self._urgent.popleft()
                self._sims -= cmd.namespace == "sim"
                return cmd
            if self._rest:
                cmd = self._rest.popleft()
                self._bytes -= len(cmd.payload)
                if (capped := self._capped(cmd)) is not None:
                    self._waiting[capped] -= 1
                return cmd
            return None

    def close(self) -> None:
        """No more commands (``offer`` refuses them): ``get`` returns None once those waiting are taken."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()

    def take_all(self) -> list[Command]:
        """Every command still waiting, taken (lock commands first): at the stop's end, answered unrun."""
        taken: list[Command] = []
        while (cmd := self.get(0)) is not None:
            taken.append(cmd)
        return taken

    @property
    def closed(self) -> bool:
        return self._closed

    def qsize(self) -> int:
        with self._cv:
            return len(self._urgent) + len(self._rest)

    def full(self) -> bool:
        """The room of the commands that are not lock commands is full."""
        with self._cv:
            return len(self._rest) >= self._max

    def bytes_waiting(self) -> int:
        with self._cv:
            return self._bytes
