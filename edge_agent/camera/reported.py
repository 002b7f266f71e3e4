"""What the agent last told the backend about the camera's placement, kept over a restart.

``camera_moved`` opens an episode (the backend's "camera moved" banner, any alarm it raised) and ``camera_aligned``
closes it. The episode open is kept in ``{data_dir}/camera/reported.json``, beside the camera's reference, from the
``camera_moved`` that opened it until the ``camera_aligned`` that closes it (then the file is removed).

Why: a run knew only what it had published itself. A camera knocked (``camera_moved``), the agent restarted (an
update, a power cut, the watchdog), the camera put back: the new run found the view in place and said nothing, and
the backend's banner stayed up for good while the live page showed none. A camera still knocked at the restart was
published ``camera_moved`` again under a new ``event_id``: a second episode to a backend consuming each event once.

The file only ever adds blindness: a run that reads an episode from it holds the bays as moved until a view is
seen in place (``CameraWatch``); one that cannot read it (missing, damaged, another program's or another version's)
takes nothing as reported, with a log line, and judges the camera as 0.11.0 did.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from edge_agent.durable import fsync_dir, read_small, write_durably
from edge_agent.ids import is_uuid
from edge_agent.jsondepth import too_deep

log = logging.getLogger(__name__)

FILE = "reported.json"
VERSION = 1  # the file's format; another is another program's, read as nothing reported
#: what kind of move the episode's ``camera_moved`` said (its data's key): the next run restores it as such
KINDS = ("shift", "turned", "reference_lost", "unmatched", "frame_size")
MAX_BYTES = 1 << 20  # the file is a few hundred bytes (an episode and the bays' outlines): more is not ours


def kind_of(data: dict[str, Any]) -> str:
    """The kind of a ``camera_moved``'s data (``CameraWatch``: one key says which)."""
    return next((k for k in KINDS[1:] if k in data), "shift")


@dataclass(frozen=True)
class Episode:
    """A ``camera_moved`` not yet closed by a ``camera_aligned``."""

    event_id: str  # the ``camera_moved`` that opened it: what the backend keyed its banner on
    ts: str
    kind: str  # ``KINDS``
    data: dict[str, Any]
    bays: list = field(default_factory=list)  # ``[id, outline]``: the bays it was reported for
    earlier: bool = False  # reported by an earlier run (read from the file at the start)


class ReportedState:
    """``FILE`` in ``store`` (the camera folder of the data dir)."""

    def __init__(self, store: Path) -> None:
        self.path = store / FILE

    def load(self) -> Episode | None:
        """The episode an earlier run left open, or None: nothing reported (no file, as 0.11.0 left the data dir),
        or a file this version cannot vouch for (logged)."""
        try:
            raw = read_small(self.path, MAX_BYTES)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return self._refused(f"unreadable ({exc})")
        # a huge file was read whole, and one nested deeper than the parser's stack was json's RecursionError out
        # of CameraWatch(): the agent did not start while it was there (review13)
        if len(raw) > MAX_BYTES:
            return self._refused(f"too large (over {MAX_BYTES} bytes)")
        if too_deep(raw):
            return self._refused("nested too deep")
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            return self._refused(f"not JSON ({exc})")
        if not isinstance(doc, dict) or doc.get("version") != VERSION:
            return self._refused(f"not a version-{VERSION} camera state")
        event_id, ts, kind, data, bays = (doc.get(k) for k in ("event_id", "ts", "kind", "data", "bays"))
        if doc.get("state") != "moved" or not is_uuid(event_id) \
                or not isinstance(ts, str) or kind not in KINDS or not isinstance(data, dict) \
                or not isinstance(bays, list):
            return self._refused("fields missing or of the wrong type")
        return Episode(event_id, ts, kind, data, bays, earlier=True)

    def _refused(self, why: str) -> None:
        log.warning("camera state %s %s: nothing taken as reported (the camera is judged on what it shows; a "
                    "camera_moved an earlier run published may stay open at the backend)", self.path, why)
        return None

    def save(self, episode: Episode) -> None:
        """Kept durably; a disk that refuses is logged (a restart then forgets the episode, as before)."""
        doc = {"version": VERSION, "state": "moved", "event_id": episode.event_id, "ts": episode.ts,
               "kind": episode.kind, "data": episode.data, "bays": episode.bays}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_durably(self.path, json.dumps(doc, ensure_ascii=False, sort_keys=True).encode())
        except OSError as exc:
            log.warning("camera state not kept in %s (%s): a restart forgets the camera_moved %s",
                        self.path, exc, episode.event_id)

    def rebays(self, episode: Episode, bays: list) -> Episode:
        """The episode now names ``bays`` (a reload kept it over a hand edit): a restart compares with them."""
        if episode.bays == bays:
            return episode
        episode = replace(episode, bays=bays)
        self.save(episode)
        return episode

    def clear(self) -> None:
        """The episode is closed (``camera_aligned`` published)."""
        try:
            self.path.unlink(missing_ok=True)
            fsync_dir(self.path.parent)
        except OSError as exc:  # the next start closes it again: a second camera_aligned naming the same event
            log.warning("camera state %s not removed (%s)", self.path, exc)
