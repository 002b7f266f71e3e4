"""Camera settings (owned by the camera stage).

``source`` is one string so an installer can paste whatever they have: an RTSP/HTTP URL,
a USB index (``"0"``) or its device path (``/dev/video0``), a video file or a folder of images (replayed in name order).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator

from edge_agent.config.base import StrictModel, problems_at
from edge_agent.config.hosts import host_problem
from edge_agent.config.limits import MAX_FPS
from edge_agent.config.polygon import Point, mask_problem
from edge_agent.config.suggest import suggest_value

MAX_MASKS = 32  # camera.masks: a few text lines, a logo, a privacy block or two; not a picture traced out
MAX_MASK_POINTS = 64  # as a bay's outline

# What a camera is read over (OpenCV's FFmpeg backend). A source with "://" is a stream: with another scheme, no
# host or no valid port it can never open, and the agent retried it for ever with only "cannot open" in its log.
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "srt", "tcp", "udp", "rtp")
LISTEN_SCHEMES = ("udp", "rtp")  # may name no host (udp://@:1234 listens for a multicast or pushed stream)


# OpenCV reads a GStreamer pipeline only into an appsink: "… ! appsink [props]". Told apart by that, not by any "!":
# "!" is a common character in a camera password, and every such URL was waved through unchecked as a "pipeline".
_PIPELINE = re.compile(r"!\s*appsink\b")
_SPACE = re.compile(r"[\s\x00-\x1f\x7f]")
_ENCODE = "percent-encode it (/ is %2F, ? %3F, # %23, @ %40, a space %20)"


def is_pipeline(source: str) -> bool:
    """``source`` is a GStreamer pipeline (``… ! appsink``), which OpenCV opens as it is."""
    return _PIPELINE.search(source) is not None


def is_device(source: str) -> bool:
    """A camera's device node (``/dev/video0``, ``/dev/v4l/by-id/…``, or a link to one): a live camera, not a file.

    Why: read as a file it was played by its timestamps (V4L2's count from boot: a wait of the
    uptime after the first frame), and unplugging it ended the "file", so ``run`` exited. Not every
    path under ``/dev`` is one: ``/dev/shm/clip.mp4`` is a recording on a RAM disk (``is_recording``). Only a
    camera's own names may be absent (unplugged: its node comes back with the camera)."""
    if source.isdigit() or "://" in source or is_pipeline(source):
        return False
    try:
        return still_a_device(source)
    except OSError:  # unplugged, or a name the file system refuses
        return source.startswith(DEVICE_NAMES)


DEVICE_NAMES = ("/dev/video", "/dev/v4l/")  # a camera's node, and udev's by-id / by-path links to it


def still_a_device(path: str) -> bool:
    """``path`` is a character device now (following links); ``OSError`` when there is nothing there. One stat: the
    camera's opener asks it at each (re)open, so a device name a local user replaced by a video file is not played."""
    return stat.S_ISCHR(os.stat(path).st_mode)


def is_path(source: str) -> bool:
    """``source`` names a file, folder or device node: not a USB index (``0``: digits only), not a URL (``://``),
    not a GStreamer pipeline (``… ! appsink``). Only a path is resolved against the config file's folder."""
    return not (source.isdigit() or "://" in source or is_pipeline(source))


# said wherever a missing path is: after the upgrade to 0.15.0 a relative source that worked from the working folder
# is looked up beside the config
RELATIVE_HINT = ("a relative camera.source is the config file's folder's, not the working folder's: a file elsewhere "
                 "is named by its absolute path")


def missing_path(source: str) -> str | None:
    """``"no file or folder PATH"`` when ``source`` is a path (not an index, URL, pipeline or a camera's device name)
    with nothing there, else None: ``check-config``'s note and the camera's "cannot open" say the same."""
    if not is_path(source) or is_device(source) or os.path.lexists(source):
        return None
    return f"no file or folder {source}"


def live_camera_problem(source: str) -> str | None:
    """Why ``source`` is no live camera a real arm may rise on, or None: a USB index, a stream URL, a device node
    (present, or one of a camera's names while unplugged) or a GStreamer pipeline from a live element is one.
    A recording is refused (:func:`is_recording`); so is a path with nothing there — a recording to come, or a
    typo: retried as a camera, the clip copied there later was played — and one that is no file, folder or
    device (a FIFO, a socket: fed by whatever writes into it)."""
    if is_recording(source):
        return "a recording (a file or folder on disk)"
    if not is_path(source) or is_device(source):
        return None
    if not os.path.lexists(source):
        return (f"{source} does not exist (a recording to come, or a typo; a camera's device is /dev/video* or "
                "/dev/v4l/by-id/…)")
    return f"{source} is not a camera (no file, folder or device node: a pipe or socket, fed by whatever writes to it)"


# a GStreamer pipeline that reads a file: its source element (``filesrc``, ``multifilesrc`` for numbered pictures) or
# a ``uri=file:…`` (``uridecodebin``, ``playbin``)
_FILE_PIPELINE = re.compile(r"(?i)(?:^|!)\s*(?:multi)?filesrc\b|\buri\s*=\s*[\"']?file:")


def is_recording(source: str) -> bool:
    """``source`` is a recording on disk now: a folder of images or a regular file (``camera.source.recording``, the
    same rule), or a GStreamer pipeline that reads a file; a USB index, a device node, a stream URL or another
    pipeline is a camera. Why the device rule is :func:`is_device` and not "under /dev": ``run`` played
    ``/dev/shm/frames`` as the recording it is, while this took it for a camera and let a real arm rise on it; and
    ``filesrc location=clip.mp4 ! decodebin ! videoconvert ! appsink`` is the same clip as ``clip.mp4``."""
    if is_pipeline(source):
        return _FILE_PIPELINE.search(source) is not None
    if not is_path(source) or is_device(source):
        return False
    p = Path(source)
    try:
        return p.is_dir() or p.is_file()
    except OSError:  # a name the file system refuses (too long): no file there
        return False


def stream_url_problem(url: str) -> str | None:
    """Why ``url`` (a source with "://") cannot be a camera stream, or None. A GStreamer pipeline (``… ! appsink``)
    is left to OpenCV. Never quotes a part of the URL: a misparsed one may put the password anywhere (a ``#`` in it
    once ended the host, and the error quoted the password's first characters as "the port")."""
    if is_pipeline(url):
        return None
    rest = url.split("://", 1)[1]
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    if "@" in rest[end:]:  # a user name or password holding / ? or #: the host would be read from inside it
        return f"an @ after the host: the user name or password holds a / ? or # that ends it early; {_ENCODE}"
    if _SPACE.search(rest[:max(rest.rfind("@", 0, end), 0)]):  # shown by no mask: the whole password in the open
        return f"a space or control character in the user name or password: {_ENCODE}"
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is no number or outside 0..65535
        host = parts.hostname
    except ValueError as exc:  # the authority ends before any "@" now: what it quotes is the host or port
        return f"not a URL a camera can be read at ({exc})"
    scheme = parts.scheme.lower()
    if scheme not in STREAM_SCHEMES:
        hint = " (a file is given by its path)" if scheme == "file" else ""
        meant = suggest_value(scheme, STREAM_SCHEMES) if scheme else None
        hint += f": did you mean {meant!r}?" if meant else ""
        return f"{scheme or 'no'} scheme: a camera stream is one of {', '.join(STREAM_SCHEMES)}{hint}"
    if port == 0:
        return "port 0: a camera's port is 1 to 65535"
    if scheme in LISTEN_SCHEMES:
        return None
    if not host:
        return f"no host in the URL: {scheme}://HOST[:PORT]/PATH"
    problem = host_problem(host)
    return f"{problem} in the URL" if problem else None


class CameraConfig(StrictModel):
    source: str = Field(..., min_length=1, description="rtsp://…, a USB index like '0', a video file, or a folder of images")
    fps: float = Field(5.0, gt=0, le=MAX_FPS, description="frames sampled per second")
    width: int | None = Field(None, gt=0, le=16384, description="frame width in pixels after rotate, the size "
                              "the bays are drawn on (unset: learned from the first frame)")
    height: int | None = Field(None, gt=0, le=16384, description="frame height in pixels after rotate")
    loop: bool = Field(False, description="replay a file or folder forever (demos)")
    rotate: Literal[0, 90, 180, 270] = Field(0, description="turn every frame this many degrees clockwise "
                                             "(a camera mounted upside down: 180); bays are drawn on the turned view")
    flip: Literal["none", "horizontal", "vertical"] = Field("none", description="mirror every frame after rotate "
                                                            "(a camera or lens that mirrors its picture)")
    reconnect_min_s: float = Field(1.0, gt=0, le=60, description="first reconnect delay; doubles up to reconnect_max_s")
    reconnect_max_s: float = Field(30.0, gt=0, le=600, description="longest reconnect delay")
    lost_after_s: float = Field(5.0, ge=1, le=60, description="no frame for this long → camera_lost")
    open_timeout_s: float = Field(15.0, ge=1, le=60, description="a stream that does not open within this long "
                                  "is given up and opened again with backoff (OpenCV's own wait is 30 s)")
    frozen_after_s: float = Field(30.0, ge=2, le=300, description="identical frames, or frames changed only inside one "
                                  "small box (a ticking on-screen clock), for this long → frozen")
    black_level: float = Field(8.0, ge=6, le=48, description="mean grey below this is a black frame")
    flat_level: float = Field(2.0, ge=1, le=24, description="grey spread (std) below this is a uniform frame: "
                              "lens covered, blinded, or a decoder's grey fill")
    track_shift: bool = Field(True, description="measure camera shift against the reference picture")
    shift_tolerance_px: float = Field(24.0, gt=0, le=1000, description="how far a bay corner may move with the view "
                                      "(a shift, a small turn or zoom): the bay outlines follow it; beyond it is "
                                      "camera_moved and the camera's verdicts stop counting")
    shift_every_s: float = Field(1.0, ge=0, le=60, description="match a frame against the reference this often")
    moved_confirm_s: float = Field(2.0, ge=0, le=600, description="a shift, or frames of another shape, held this long is reported")
    masks: list[Annotated[list[Point], Field(max_length=MAX_MASK_POINTS)]] = Field(
        default_factory=list, max_length=MAX_MASKS,
        description="areas of the picture the bays' eyes never judge, each a polygon in the pixels the bays are drawn "
        "on (a box is its 4 corners): text the camera burns in that does not tick (its name, a logo, a privacy "
        "block). Filled in from their edges for the bays' classifier and change gate; a bay more than "
        "a twentieth under them vouches for no empty bay (bay_overlay)")

    @field_validator("source")
    @classmethod
    def _stream_url(cls, v: str, info: ValidationInfo) -> str:
        """A stream URL that can be opened, its scheme in lower case: ``RTSP://`` (as some camera manuals
        print it; schemes are case-insensitive) was handed to OpenCV as is, which cannot open it. A relative path
        is the config file's folder's, as every path in the file: looked up in the working folder, ``check-config``
        (run in the install folder) and ``run`` (in ``/var/lib/edge-agent``) read two different files."""
        if "://" not in v:
            base = (info.context or {}).get("base_dir") if info.context else None
            if base is not None and is_path(v) and not os.path.isabs(v):
                return os.path.join(base, v)
            return v
        problem = stream_url_problem(v)
        if problem:
            raise ValueError(problem)
        scheme, rest = v.split("://", 1)
        return scheme.lower() + "://" + rest if not is_pipeline(v) else v

    @model_validator(mode="after")
    def _sizes(self) -> "CameraConfig":
        if (self.width is None) != (self.height is None):
            raise ValueError("width and height go together (give both or neither)")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be ≥ reconnect_min_s")
        problems: list[tuple[tuple[str | int, ...], str]] = [
            (("masks", i), why) for i, m in enumerate(self.masks) if (why := mask_problem(m, self.width, self.height))]
        if problems:
            raise problems_at(type(self).__name__, problems)
        return self
