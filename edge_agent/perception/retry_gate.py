"""How often the incomplete-read retry (``retry.Completer.complete``) runs for one plate the camera keeps seeing.

Why: a plate found but read only in part (a far 47–51 px plate, a character under mud) keeps its bay on the fast
read pace (issue 14's back-off: every frame for 8 s, then once a second), and the retry — a re-detection and ~6
widened crops read in one batch, 0.8 s a call on a loaded 2-core board — ran on every one of those reads: 6.6 % →
41 % of a core on a 1080p clip (docs/perception.md). A retry that found nothing finds nothing again on the next
frame of the same view, so after one that failed the retry waits for a change in what the camera sees of the
plate: another partial text, the plate's box moved or resized (``MOVED_IOU``: a new car, the car moved), or
``AGAIN_S`` passed (light, a wiper, a person stepping away). A retry that completed the read is not held back:
it is how such a visit is identified, and the read pace slows once it is. The ordinary read is untouched.

Only the agent's reader has a gate (its clock, scenario time in a replay); ``recognize`` / ``eval`` read each photo
as new, every retry run.
"""

from __future__ import annotations

from collections.abc import Callable

from edge_agent.perception.detector import iou

AGAIN_S = 30.0  # a failed retry is tried again on the same view after this long
MOVED_IOU = 0.6  # a box overlapping the failed one less than this is another view of the plate (or another plate)

Box = tuple[float, float, float, float]


class RetryGate:
    """``due(box, text)``: whether the retry should run for a partial ``text`` read at ``box``; ``failed`` records
    one that found no complete read. ``clock``: monotonic seconds (``Clock.monotonic``)."""

    def __init__(self, clock: Callable[[], float], again_s: float = AGAIN_S) -> None:
        self.clock = clock
        self.again_s = again_s
        self._failed: list[tuple[Box, str, float]] = []
        self.skipped = 0  # retries not run (the held-back ones), for probes and tests

    def due(self, box: Box, text: str) -> bool:
        now = self.clock()
        self._failed = [f for f in self._failed if now - f[2] < self.again_s and f[2] <= now]
        if any(t == text and iou(b, box) >= MOVED_IOU for b, t, _ in self._failed):
            self.skipped += 1
            return False
        return True

    def failed(self, box: Box, text: str) -> None:
        self._failed.append((tuple(box), text, self.clock()))  # type: ignore[arg-type]
