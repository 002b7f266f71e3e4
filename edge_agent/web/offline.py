"""``AgentControl`` for ``edge-agent review``: the page without the camera loop.

Decisions, exports and list edits work on the stored evidence; the installer still gets a
fresh picture by opening the camera once per snapshot. Lock commands are refused (no agent
is driving the locks in this mode).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from edge_agent.clock import Clock
from edge_agent.config.models import AgentConfig
from edge_agent.control import ControlError, ControlResult, InstallerView
from edge_agent.perception.lists import ListsControl, PlateLists

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)


class OfflineControl(ListsControl):
    def __init__(self, cfg: AgentConfig, store, lists: PlateLists, clock: Clock) -> None:  # noqa: ANN001
        self.cfg = cfg
        self.store = store
        self.lists = lists
        self.clock = clock

    def bay_ids(self) -> list[str]:
        return [b.id for b in self.cfg.bays]

    def lock(self, bay_id: str, reason: str, operator: str) -> ControlResult:
        return ControlResult(False, "review mode: no agent drives the locks")

    def unlock(self, bay_id: str, reason: str, operator: str) -> ControlResult:
        return ControlResult(False, "review mode: no agent drives the locks")

    def snapshot(self, bay_id: str | None) -> str:
        """Open the camera, take one frame, store it as ``snapshot`` evidence."""
        import cv2

        from edge_agent.camera.source import default_opener

        c = self.cfg.camera  # a camera that accepts and never answers holds the page's request no longer than this
        cap = default_opener(c.source, False, read_timeout_s=c.lost_after_s, open_timeout_s=c.open_timeout_s)()
        try:
            ok, frame = cap.read() if cap.isOpened() else (False, None)
        finally:
            cap.release()
        if not ok or frame is None:
            # not the source itself: an RTSP URL carries the camera's password, and this text reaches the page
            raise ControlError("no_frame", "no frame from the camera (camera.source; `edge-agent doctor` checks it)")
        frame = self._as_bays_see(frame)
        bay = next((b for b in self.cfg.bays if b.id == bay_id), None)
        if bay is not None and self.cfg.evidence.photo == "bay":
            # the bay card shows it to every reviewer: the bay, not the whole view (as the agent's; newuser36)
            from edge_agent.evidence.annotate import around_bay

            cut = around_bay(frame, bay.polygon, None)[0]
            if cut is frame:  # the bay lies off this picture (a camera stream of another size): never the whole view
                raise ControlError("bay_not_in_view", f"bay {bay_id} is not in the camera's picture "
                                   f"({frame.shape[1]}x{frame.shape[0]}): no snapshot (the whole view is not put in its place)")
            frame = cut
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 88])
        if not ok:
            raise ControlError("camera", "could not encode the frame")
        return self.store.save(bay_id, None, "snapshot", buf.tobytes(), None, None, {"source": "review"})

    def installer_view(self) -> InstallerView:
        """A fresh picture; the bays as drawn (no camera loop here measures how the view moved since)."""
        return InstallerView(self.snapshot(None))

    def _as_bays_see(self, frame: np.ndarray) -> np.ndarray:
        """The frame as the running agent's bays see it (``Agent`` and ``CameraWatch`` do the same): turned by
        ``camera.rotate`` / ``flip``, then scaled to ``camera.width`` / ``height`` when only the resolution
        differs. The installer draws on this picture and saves its size: the raw frame of a 4K camera under
        bays drawn on 1080p set ``camera.width`` to 3840 under the old polygons at one save, and a camera hung
        on its side showed the bays over a picture they do not fit."""
        from edge_agent.camera.frame_size import FrameSize  # OpenCV: loaded when a picture is taken
        from edge_agent.camera.orient import Orientation

        c = self.cfg.camera
        configured = (c.width, c.height) if c.width is not None and c.height is not None else None
        return FrameSize(configured, []).fit(Orientation.of(c).apply(frame)).image

    def confirm_camera(self) -> ControlResult:
        return ControlResult(False, "review mode: no camera loop tracks the view; confirm it on the running agent")

    def reload_config(self, installer: bool = False) -> ControlResult:
        return ControlResult(True, "saved; review mode has no running agent to reload")

    def set_lists(self, allow: list[str] | None, deny: list[str] | None) -> ControlResult:
        self.lists.update(allow, deny)
        return ControlResult(True, "lists updated")

    def charger_status(self, bay_id: str, status: str) -> ControlResult:
        return ControlResult(False, "review mode: no bay state machine")

    def charger_warnings(self) -> dict[str, list[dict]]:
        return {}  # review mode runs no charger health tracker
