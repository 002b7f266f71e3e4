"""The time retention measures age against: a synchronised wall clock's, or no later than the records allow.

Why: age is the wall clock's (it must survive restarts), and a restart with the clock 40 days ahead — a wrong RTC, a
hand-set clock, before NTP — deleted the photos and took the plates out of the events of 3 visits minutes old (probe
chaos37); what the running process saved is also timed on the monotonic clock, what earlier runs saved has only its
stamps. So an unsynchronised clock (or one nobody can vouch for) is believed no further than the newest record the
file held at the start plus the time the monotonic clock has counted since. The cost of that doubt: after a real stop
of N days on a clock NTP has not synced, records are kept up to N days longer, until it syncs.
"""

from __future__ import annotations

import logging

from edge_agent.clock import Clock, iso

log = logging.getLogger(__name__)

DOUBT_SAID_S = 86400.0  # a clock this far past the bound is said (once per episode): ordinary downtime is not


class AgeClock:
    """``now()``: epoch seconds for retention's cutoffs; ``newest``: the newest record's epoch at the start (None:
    none, the wall clock is all there is)."""

    def __init__(self, clock: Clock, newest: float | None, what: str) -> None:
        self._clock = clock
        self._newest = newest
        self._mono0 = clock.monotonic()
        self._what = what
        self._doubted = False

    def now(self) -> float:
        now = self._clock.now().timestamp()
        if self._newest is None or self._clock.synced() is True:
            self._doubted = False
            return now
        bound = self._newest + max(0.0, self._clock.monotonic() - self._mono0)
        doubted = now > bound + DOUBT_SAID_S
        if doubted and not self._doubted:
            log.warning(
                "%s: the wall clock (%s) is %.1f days past the newest record plus this run's uptime and is not "
                "synchronised: ages are measured from that record until NTP syncs",
                self._what,
                iso(self._clock.now()),
                (now - bound) / 86400,
            )
        self._doubted = doubted
        return min(now, bound)
