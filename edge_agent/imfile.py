"""Image files by name through OpenCV without handing it a name it cannot take.

Why: on POSIX a file name is bytes; Python turns bytes that are not UTF-8 into lone
surrogates (``x\\udcff.jpg``), and OpenCV's binding segfaults on such a string (exit 139 in
``cv2.imread``, seen with ``recognize`` and the folder camera source) instead of raising.
So OpenCV only ever gets a name that encodes to UTF-8; any other file is read or written
through Python's own bytes (``imdecode`` / ``imencode``), and a video file is opened through
``/proc/self/fd`` (Linux) or refused with a clear error.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from edge_agent.durable import write_durably


def opencv_path(path: str | os.PathLike[str]) -> str | None:
    """``path`` as a string OpenCV can take, or None when its name is not valid UTF-8."""
    s = os.fspath(path)
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: bytes that were not UTF-8
        return None
    return s


def imread(path: str | os.PathLike[str], flags: int = cv2.IMREAD_COLOR) -> np.ndarray | None:
    """``cv2.imread`` for any file name; None when it cannot be read or decoded (as OpenCV)."""
    s = opencv_path(path)
    if s is not None:
        return cv2.imread(s, flags)
    try:
        data = np.fromfile(Path(path), np.uint8)
    except OSError:
        return None
    return cv2.imdecode(data, flags) if data.size else None


def imwrite(path: str | os.PathLike[str], img: np.ndarray, params: list[int] | None = None) -> bool:
    """``cv2.imwrite`` for any file name; False when it could not be encoded or written (no such folder, a
    read-only or full disk), as OpenCV says it.

    Encoded here and written to a scratch file made new beside ``path``, then renamed over it
    (``durable.write_durably``, unsynced): ``cv2.imwrite`` wrote through a link at the name, and root running
    ``occupancy label --out`` into the agent's folder (as deployment.md says) wrote its frame and sheets through a
    link the agent's user had planted there."""
    ok, buf = cv2.imencode(Path(path).suffix or ".png", img, params or [])
    if not ok:
        return False
    try:
        write_durably(Path(path), buf.tobytes(), sync_dir=False, sync=False)
    except OSError:
        return False
    return True


def video_capture(path: str | os.PathLike[str]) -> cv2.VideoCapture:
    """``cv2.VideoCapture`` on a file; one whose name is not UTF-8 is opened through
    ``/proc/self/fd/N`` (the backend opens its own descriptor; ours is closed at once)."""
    s = opencv_path(path)
    if s is not None:
        return cv2.VideoCapture(s)
    if not os.path.isdir("/proc/self/fd"):
        raise ValueError(f"cannot open a video whose file name is not UTF-8 here: {os.fspath(path)!r}")
    fd = os.open(path, os.O_RDONLY)
    try:
        return cv2.VideoCapture(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)
