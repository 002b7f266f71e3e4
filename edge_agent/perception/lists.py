"""The operator's allow / deny lists: the site's word overrides format and colour.

Shared by the verdict (reads), the MQTT ``set-lists`` command and the web page (write),
so it is one small thread-safe object passed to all of them.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any

from edge_agent.plates import normalise_plate

WORDS_KEPT = 1000  # the page's list edits remembered (``words_since``): a held ``set-lists`` waits 2 s at most


class PlateLists:
    def __init__(self, allow: Iterable[str] = (), deny: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        # held across a read of the lists and the write built on it (the page's list edit, a held MQTT
        # ``set-lists``'s merge): one landing between another's read and write was overwritten by it
        self.editing = threading.RLock()
        self._allow = frozenset(normalise_plate(p) for p in allow)
        self._deny = frozenset(normalise_plate(p) for p in deny)
        # the page's list edits, numbered (``listed``): a held ``set-lists`` keeps those made since it came
        self._words: deque[tuple[int, str, str]] = deque(maxlen=WORDS_KEPT)
        self._said = 0

    def listed(self, plate: str, which: str) -> None:
        """The page put ``plate`` on ``which`` and off the other (applied with ``update``). Noted because the lists
        alone cannot tell it where the plate was there already: a held ``set-lists`` taking it off, applied after,
        kept it off (review76)."""
        with self._lock:
            self._said += 1
            self._words.append((self._said, normalise_plate(plate), which))

    def words_since(self, number: int | None) -> tuple[int, list[tuple[str, str]]]:
        """The number of the page's last list edit, and the (plate, which) of those after ``number``, in order
        (None: none)."""
        with self._lock:
            return self._said, [] if number is None else [(p, w) for n, p, w in self._words if n > number]

    def update(self, allow: Iterable[str] | None = None, deny: Iterable[str] | None = None) -> None:
        """Replace either list (``None`` keeps it)."""
        with self._lock:
            if allow is not None:
                self._allow = frozenset(normalise_plate(p) for p in allow)
            if deny is not None:
                self._deny = frozenset(normalise_plate(p) for p in deny)

    def add(self, plate: str, which: str) -> None:
        p = normalise_plate(plate)
        with self._lock:
            if which == "allow":
                self._allow |= {p}
                self._deny -= {p}
            elif which == "deny":
                self._deny |= {p}
                self._allow -= {p}
            else:
                raise ValueError(f"unknown list {which!r}")

    def lookup(self, plate: str) -> str | None:
        """``"deny"`` (wins), ``"allow"`` or ``None``. A partial read (``?`` marks a position it
        lacks) never matches: the operator listed a plate, not a plate's tail."""
        p = normalise_plate(plate)
        if "?" in p:
            return None
        with self._lock:
            if p in self._deny:
                return "deny"
            if p in self._allow:
                return "allow"
        return None

    @property
    def allow(self) -> list[str]:
        with self._lock:
            return sorted(self._allow)

    @property
    def deny(self) -> list[str]:
        with self._lock:
            return sorted(self._deny)


class ListsControl:
    """``AgentControl``'s three reads of the lists, for a control that holds them as ``lists`` (the agent and review
    mode's control alike): written once, not in each."""

    lists: PlateLists

    def plate_lists(self) -> tuple[list[str], list[str]]:
        return list(self.lists.allow), list(self.lists.deny)

    def lists_lock(self) -> AbstractContextManager[Any]:
        return self.lists.editing

    def plate_words(self, since: int | None) -> tuple[int, list[tuple[str, str]]]:
        return self.lists.words_since(since)
