"""Why a camera did not open, in words an installer can act on.

OpenCV says only that a capture is not opened. ``run`` logged "camera stream: cannot open" at every retry and
``doctor``'s camera row said "cannot open", whether the camera's name did not resolve, nothing listened on its
port, or a USB camera was unplugged or unreadable by the service user; the cause was at best a raw FFmpeg line
on stderr. This asks the network (name, then port) or the device node the same question the driver did, and a
video file its own first bytes.
"""

from __future__ import annotations

import os
import socket
import stat
from typing import BinaryIO
from urllib.parse import urlsplit

from edge_agent.config.camera import RELATIVE_HINT, is_pipeline, missing_path

DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "rtmp": 1935, "rtmps": 443, "http": 80, "https": 443}


def why_unopened(source: str, kind: str, timeout_s: float = 3.0, gave_up_s: float | None = None) -> str:
    """A short cause for ``source`` (of ``describe_source`` ``kind``) not opening; "" when none is found.
    ``gave_up_s``: the open ran into ``camera.open_timeout_s`` (a server that takes the connection and says nothing
    was blamed on the URL's path or the password)."""
    if kind == "usb":
        return _device(source)
    if kind in ("file", "folder") and (missing := missing_path(source)):
        # "camera file: cannot open" named neither the path nor why (the frames never came, camera_lost)
        return f"{missing} ({RELATIVE_HINT})"
    if kind == "file" and not is_pipeline(source):
        return _recording(source)
    if kind != "stream" or is_pipeline(source):  # a file there but no video, a GStreamer pipeline: OpenCV says
        return ""
    try:
        parts = urlsplit(source)
        host, port = parts.hostname, parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return ""
    if not host or port is None:  # listening (udp://@:1234) or a scheme without a usual port
        return ""
    try:
        addrs = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        return f"the camera's host name {host} does not resolve ({getattr(exc, 'strerror', None) or exc})"
    last: OSError | None = None
    for family, kind_, proto, _, addr in addrs:
        try:
            with socket.socket(family, kind_, proto) as s:
                s.settimeout(timeout_s)
                s.connect(addr)
            if gave_up_s is not None:
                return f"the camera answered on its port but sent no stream within {gave_up_s:g} s " \
                       "(camera.open_timeout_s; a hung camera, or a slow one: raise the limit)"
            return "the camera answered on its port but no stream opened (the URL's path, the user and password, " \
                   "or the stream's codec)"
        except OSError as exc:  # refused, timed out, unreachable: the last address's answer is said
            last = exc
    if isinstance(last, ConnectionRefusedError):
        return f"nothing listens on {host} port {port} (connection refused)"
    if isinstance(last, TimeoutError):
        return f"no answer from {host} port {port} within {timeout_s:g} s (camera off, another network, a firewall)"
    return f"{host} port {port} cannot be reached ({last.strerror if last is not None else 'no address'})"


# Top-level boxes looked at in an MP4 / MOV before its index (moov): a recording has a handful (ftyp, mdat, free) there;
# a fragmented one has its index first (then a pair per fragment, not read)
MAX_BOXES = 4096


def _recording(path: str) -> str:
    """Why a video file that is there did not open, when its own bytes say; "" when they do not (OpenCV's call).
    Why: a camera or recorder that loses power while writing an MP4 leaves its frames without the index written
    at the end (the ``moov`` box); such a file opens nowhere, and "cannot open" sent its owner looking for a codec."""
    try:  # without blocking: a FIFO named as the source waits for a writer, and this runs in the reader's thread
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO or a device: OpenCV's call, and not opened here (that
            return ""  # woke a writer blocked until a reader came, and broke its stream at the close)
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):  # a FIFO or a device: OpenCV's call
                return ""
            if st.st_size == 0:
                return f"{path} is empty (0 bytes)"
            boxes = _top_boxes(f, st.st_size)
    except FileNotFoundError:  # gone since it was looked for: said as it opens next
        return ""
    except OSError as exc:
        return f"{path} cannot be read ({exc.strerror or exc})"
    if boxes[:1] == [b"ftyp"] and b"moov" not in boxes and len(boxes) < MAX_BOXES:  # at the limit: not known
        return (f"{path} is an MP4 / MOV recording without its index (no moov box): it was cut off before it was "
                "closed (power lost, disk full, the recorder stopped); it plays nowhere as it is (a repair tool such "
                "as untrunc rebuilds it from a whole recording of the same camera)")
    return ""


def _top_boxes(f: BinaryIO, size: int) -> list[bytes]:
    """The types of an ISO media file's top-level boxes up to its index (``moov``), read header by header (the data
    between is skipped); only the first when it is no file type (``ftyp``): not an MP4 / MOV."""
    types: list[bytes] = []
    at = 0
    while at + 8 <= size and len(types) < MAX_BOXES:
        f.seek(at)
        head = f.read(16)
        length, kind = int.from_bytes(head[:4], "big"), head[4:8]
        if length == 1 and len(head) == 16:  # a 64-bit size follows the type
            length = int.from_bytes(head[8:16], "big")
        types.append(kind)
        if kind == b"moov" or types[0] != b"ftyp":  # all that is asked: is there an index after the file type
            break
        if length == 0:  # the last box, to the end of the file
            break
        if length < 8:
            break  # damaged: what was read so far is all that is known
        at += length
    return types


def _device(source: str) -> str:
    path = f"/dev/video{source}" if source.isdigit() else source
    if not os.path.exists(path):
        return f"no device {path} (camera unplugged, or another index: ls /dev/video*)"
    try:
        node = os.stat(path).st_mode
    except OSError:
        node = stat.S_IFCHR  # gone between the two looks: said as it opens next
    if not stat.S_ISCHR(node):  # not opened at all (source.default_opener): no file is a camera
        return f"{path} is no camera device now (a file or another kind of node in its name): not opened"
    if not os.access(path, os.R_OK | os.W_OK):
        return f"{path} exists but this user may not open it (add the service user to the 'video' group)"
    return f"{path} exists but did not open (in use by another program, or no video capture device)"
