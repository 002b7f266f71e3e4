"""In-process publish/subscribe between the core and its sinks (MQTT, locks, evidence, web).

Synchronous on purpose: a subscriber sees one publisher's events in publication order,
and the MQTT outbox has the event on disk before ``publish`` returns. Handlers run
without the bus's lock held, so a component that publishes from its own thread while
holding its own lock cannot deadlock against the frame loop. A failing subscriber is
logged and never breaks the publisher or the other subscribers.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from edge_agent.events.types import BayState, Event

log = logging.getLogger(__name__)

EventHandler = Callable[[Event], None]
StateHandler = Callable[[BayState], None]


class EventBus:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._event_subs: list[tuple[EventHandler, frozenset[str] | None]] = []
        self._state_subs: list[StateHandler] = []
        self._states: dict[str, BayState] = {}

    def subscribe(self, handler: EventHandler, types: set[str] | None = None,
                  first: bool = False) -> Callable[[], None]:
        """Call ``handler`` for each event (of ``types`` only, if given). Returns an unsubscribe.

        ``first``: before every handler subscribed so far (the violation log: its row is on the card before the
        MQTT outbox, which subscribes as it is built, holds the event; see docs/bays.md "Crashes and power cuts")."""
        entry = (handler, frozenset(types) if types else None)
        with self._lock:
            if first:
                self._event_subs.insert(0, entry)
            else:
                self._event_subs.append(entry)
        return lambda: self._remove(self._event_subs, entry)

    def subscribe_state(self, handler: StateHandler) -> Callable[[], None]:
        with self._lock:
            self._state_subs.append(handler)
        return lambda: self._remove(self._state_subs, handler)

    def publish(self, event: Event) -> None:
        with self._lock:
            subs = list(self._event_subs)
        for handler, types in subs:
            if types is None or event.type in types:
                self._call(handler, event)

    def publish_state(self, state: BayState) -> None:
        """Store ``state`` as the bay's latest and hand it to every state subscriber.

        A bay's state is published from more than one thread (the frame loop; the lock stage's thread when the
        arm moves). Handlers run unlocked, so a thread switched out in one handler could hand its older state
        to the later handlers after another thread had handed them the newer one: the retained MQTT state kept
        the older for good. So after handing a state over, a newer one stored meanwhile is handed over again:
        the last state every subscriber hears for a bay is the one ``states()`` keeps."""
        with self._lock:
            self._states[state.bay_id] = state
            subs = list(self._state_subs)
        while True:
            for handler in subs:
                self._call(handler, state)
            with self._lock:
                latest = self._states.get(state.bay_id)
                if latest is None or latest is state:
                    return
                state, subs = latest, list(self._state_subs)

    def states(self) -> dict[str, BayState]:
        """The latest state of every bay published so far."""
        with self._lock:
            return dict(self._states)

    def _remove(self, lst: list[Any], entry: object) -> None:
        with self._lock:
            if entry in lst:
                lst.remove(entry)

    @staticmethod
    def _call(handler: Callable[[Any], object], arg: object) -> None:
        try:
            handler(arg)
        except Exception:  # a sink's bug must not stop the agent
            log.exception("event subscriber %r failed", handler)
