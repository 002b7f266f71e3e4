"""A cut in the picture: the whole view jumped to another moment (``picture_cut``).

A lot changes a bay or two at a time: cars come and go one by one, and each bay moves on the frames before its car is
in. When on one frame many bays leap from stillness to a car's worth of change at once, the picture itself jumped:
an NVR or camera replaying its buffer after a reconnect (the frames of minutes ago, then a jump back to live), a
switch between streams, a PTZ preset recalled, a camera swapped for another. Each bay then shows another moment than the one it is read at, and a parked car that was not there in the
replayed frames read confidently empty — with a car's worth of change in the bay, so the still-bay rule
(``Hysteresis``) believed it at once: on the live-like 2013-03-19 PKLot clip a 10 s replay of the frames of 3
minutes before left 18 parked cars confidently empty for up to 9.5 s, 242 bay-seconds in which a lock could rise
under a car (probe nvrcut27).

After such a cut the camera's evidence starts over: no bay vouches for an empty bay until the picture has run on
without another cut for ``CUT_SETTLE_S`` — a replayed buffer then has ended (the jump back to live is a cut too)
and the bays have been read on live frames since. Only the lock evidence waits; the occupancy story is the
classifier's as before (a cut changes no event).

The change a cut makes in a bay is the picture's jump, not a car's motion: once the cut has settled, a bay that
shows what it showed before the cut (under ``FIRM_CHANGE`` of it changed), and had not moved since its verdict was
last backed before it, has had nothing move in it meanwhile
(``Hysteresis.no_motion_until``), and a verdict turned "empty" since on it was reached with nothing moving, confident
only once something moves there. That picture follows the view through a camera shift and a reload meanwhile
(``ChangeGate.follow``, ``ChangeGate.adopt``; dropped until probe cutkeep28, every bay counted as unchanged and a car
gone on the cut's frame was not believed gone for ``still_confirm_s``). The story meanwhile is the classifier's as before. Before (until 2026-12-06, probe raise28)
the cut was the motion that let a still parked car's misread (dusk, held by the still-bay rule) be believed at
once: confidently empty once the cut settled, and the arm rose under the car 50 s after the cut.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from edge_agent.bays.occupancy import FIRM_CHANGE

CUT = "picture_cut"
CUT_MIN_BAYS = 3  # never fewer bays than this at once: two cars leaving together, a van across two bays
CUT_SHARE = 1 / 3  # …and at least this share of the bays compared (the most the live-like PKLot clips showed on one
#                   frame: 7 of 43, three cars pulling in together; 22 of 43 at a replayed buffer 3 minutes old)
CUT_STILL_S = 1.0  # a bay counts towards a cut only if nothing moved in it this long before the frame: a car drives
#                   into a bay over seconds, so its bay moves on the frames before it is in; a replayed or switched
#                   picture leaps from a still bay to a car's worth on one frame
CUT_LEAP = 4.0  # …or changed this many times more than on any frame in that second: rain, snow, a flickering lamp or
#                 night noise open the gate of most bays on every frame, so none was ever still and a replayed buffer
#                 went uncaught (probe review28); their frame-to-frame change stays far under a car's worth
CUT_SETTLE_S = 30.0  # the picture runs on this long without a cut before a bay vouches again: an NVR's replayed
#                      buffer (seconds to tens of seconds) is over by then; as long as camera.frozen_after_s's
#                      default, the time a picture must misbehave to be called frozen


def leaps(changes: Mapping[str, float], still: Collection[str], before: Mapping[str, float] | None = None) -> int:
    """How many bays leapt: changed by a car's worth (``FIRM_CHANGE``; a car coming or going changes a median
    0.4–0.55 of its bay) on this frame, out of stillness (in ``still``: nothing moved in them for ``CUT_STILL_S``
    before it) or out of a far smaller stir (``before``: bay → its largest change on the frames of that second;
    this frame's is ``CUT_LEAP`` times that or more)."""
    stir = before or {}
    return sum(1 for b, c in changes.items()
               if c >= FIRM_CHANGE and (b in still or c >= CUT_LEAP * stir.get(b, float("inf"))))


def is_cut(changes: Mapping[str, float], still: Collection[str], before: Mapping[str, float] | None = None) -> bool:
    """``changes``: bay → the share of it changed since the classifier last looked at it (bays with a picture to
    compare with only); ``still``: the bays nothing moved in for ``CUT_STILL_S`` before this frame. A cut:
    ``CUT_MIN_BAYS`` or more, and ``CUT_SHARE`` of them, leapt (``leaps``). Why out of stillness: cars pulling in
    together, or one driving along a row, change a car's worth of several bays at once too, but each bay moved on
    the frames before as the car came in; on a camera over a few bays (3–6 of a row) counting every bay changed by
    a car's worth made such traffic a cut for up to a third of the live-like clips (probe cutsmall28). Why a leap
    over ``before`` too: in rain, snow, a flickering lamp's light or night noise the gate opens on most bays every
    frame, and a cut in such weather was missed where the rule before it caught it (probe review28)."""
    n = leaps(changes, still, before)
    return n >= CUT_MIN_BAYS and n >= CUT_SHARE * len(changes)


class CutWatch:
    """When the picture last jumped (``is_cut``), and whether the bays' evidence is still settling from it."""

    def __init__(self) -> None:
        self.at: float | None = None  # monotonic time of the last cut
        self.open = False  # a cut's episode not settled yet (``BayMonitor`` compares each bay with before it then)
        # bay → its verdict before the episode's first cut, and whether it had moved since that verdict was last backed
        self.held: dict[str, tuple[bool | None, bool]] = {}

    def adopt(self, old: CutWatch) -> None:
        """(A reload's new monitor.) A cut the old one saw is no less recent for it."""
        self.at, self.open, self.held = old.at, old.open, old.held

    def see(self, changes: Mapping[str, float], still: Collection[str], now: float,
            before: Mapping[str, float] | None = None) -> bool:
        """Note one frame's changes, still bays and stir before (``is_cut``) at ``now``; True: the picture jumped."""
        if not is_cut(changes, still, before):
            return False
        self.at = now
        return True

    def settling(self, now: float) -> bool:
        """Less than ``CUT_SETTLE_S`` since the last cut (a NaN or a clock stepped back counts as settling)."""
        return self.at is not None and not now - self.at >= CUT_SETTLE_S
