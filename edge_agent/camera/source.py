"""OpenCV frame sources read in their own thread, keeping only the newest frame.

The agent is slower than the camera at times (a detector run); a queue would grow and
the bays would judge the past. So the reader overwrites one slot and the agent takes
whatever is newest. A source that fails is reopened with exponential backoff; a corrupt
frame is counted, never raised. A live stream (RTSP, HTTP) is read with a deadline: no frame for
``camera.lost_after_s`` and its connection is given up and reopened (OpenCV's own limit is 30 s); one
that does not open within ``camera.open_timeout_s`` is tried again the same way.
Still images (folder and single-file sources) go through the one decode path
(:mod:`edge_agent.camera.decode`): a huge image is reduced or refused before it is decoded, a
truncated JPEG is used with its missing rows grey; each is counted in ``decode_counts`` for the
agent to announce.

Recorded footage is sampled at ``camera.fps`` by its own timestamps (``sample``): a 30 fps
file gives every sixth frame and plays in its real duration, so every timer keeps its
meaning. A folder of images (or one image) is frames at ``camera.fps`` (frame i at i / fps).

A recording played by ``run`` (``open_source``: a file or folder) is played whole: each frame waits until the agent
took the one before, and the frames after it keep their spacing from the time it went out, so a recording plays in
its real duration or longer, never faster, and never loses a frame. Why: a camera cannot wait, a recording can; the
newest-frame rule dropped the frames an agent on a loaded CPU had no time for, so the same folder told a different
story (no arrival, no identification) by how busy the machine was. ``replay`` plays it on clip time instead.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, Protocol

import cv2
import numpy as np

from edge_agent import imfile
from edge_agent.camera.decode import MAX_PIXELS, REDUCE_LIMIT, ImageReadError, ImageTooLarge, decode_file
from edge_agent.camera.unopened import why_unopened
from edge_agent.clock import Clock
from edge_agent.config.camera import is_device, is_pipeline, is_recording, still_a_device
from edge_agent.durable import write_durably

log = logging.getLogger(__name__)

MAX_DAMAGED_S = 30.0  # a damaged stretch of a video file is read over up to this long (its own frame rate)
MAX_FILE_FPS = 1000.0  # no camera records faster: a header or timestamps saying more are not the recording's time
DENIED_PASSES = 2  # a looping folder's passes in a row none of whose files may be read: a lost camera (one is a flicker)
DENSE_FRAMES = 3  # this many frames in a row closer than 1 / MAX_FILE_FPS: the file's timestamps are not used
# MPEG transport / program stream timestamps are 33 bits of a 90 kHz clock: known only modulo this (26.5 h). FFmpeg
# reads one more than 60 s below the file's first as wrapped and adds the period, so a clock that went back (two
# recordings joined with cat) came out as a step 23.9 h forward (see ``sample``).
PTS_WRAP_S = 2**33 / 90_000
SNIFF_BYTES = 2048  # read to tell an MPEG stream: a maker's header before its first pack, ten 188-byte packets
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}  # what the decode path reads


@dataclass(frozen=True)
class Frame:
    image: np.ndarray
    seq: int  # increases by one per frame the source produced (gaps = frames skipped)
    t: float  # the clock's monotonic time when it was captured
    # When a live source first decoded this very picture (``Shown``), if earlier than ``t``: a picture sent again
    # (a camera's or NVR's buffer resent after a reconnect) shows the world as it was then. None: new.
    shown: float | None = None


#: How long a live source remembers the pictures it decoded (``Shown``: seconds of frames flowing), and at most how many.
SHOWN_KEEP_S = 600.0
SHOWN_MAX = 20_000


class Shown:
    """When each picture a live camera sent was first decoded, for ``SHOWN_KEEP_S``: a picture sent again is as old
    as its first arrival. Why: a camera or NVR that resends its buffer after a reconnect sends the frames of a
    minute ago as live ones (probe lock39: a 35 s resend of the empty bay, after a stall in which a car parked,
    gave fresh confident "empty" readings, and a ``lock`` 25 s after the reconnect raised the arm under the car;
    a resend longer than 30 s changes too few bays at once for ``picture_cut``). A live sensor's noise never
    sends the same picture twice, so no live picture is caught. Kept by a digest of a 32 × 32 sample grid of
    every decoded frame (the sampled ones and those drained between), across reconnects.

    Forgotten after ``keep_s`` of frames flowing (a pause between two frames counts ``FLOW_GAP_S`` at most), or at
    ``most``: never by the time the camera was away. Forgotten by the clock, a camera hung for 11 minutes (a car
    parked meanwhile) that resent its buffer of before the hang sent pictures already forgotten: each new, fresh
    evidence of the empty bay (probe review77).

    Kept over a restart too (``path``: the digests, appended every ``SAVE_EVERY_S``; no picture): an agent restarted
    while a car parked, sent the buffer of before by its camera on the new connection, took 36 s of the empty bay as
    fresh and raised the arm under the car (probe locks40). A picture known from the last run is as old as ``keep_s``
    before this start; the last ``SAVE_EVERY_S`` before a crash or power cut may be lost."""

    FLOW_GAP_S = 1.0
    SAVE_EVERY_S = 2.0
    RECORD = 16  # bytes a digest

    def __init__(self, keep_s: float = SHOWN_KEEP_S, most: int = SHOWN_MAX, path: Path | None = None,
                 now: float = 0.0, open_file: Callable[[Path, int, str], BinaryIO] | None = None) -> None:
        """``open_file``: how the file is opened for an append (``_own_file``; a test's stalls)."""
        self.keep_s, self.most, self.path = keep_s, most, path
        self._open = open_file or _own_file
        self._first: dict[bytes, tuple[float, float]] = {}  # (first arrival, flow time then); insertion order
        self._flow = 0.0  # seconds of frames flowing so far (pauses capped at FLOW_GAP_S)
        self._last: float | None = None
        self._lock = threading.Lock()  # the reader thread sees; stop() saves
        self._unsaved: list[bytes] = []
        self._writing: threading.Thread | None = None  # the write in flight (``_take``), beside the reader
        self._whole = False  # more digests than ``most`` waited behind a stalled write: the next one rewrites
        self._saved_at = now
        self._on_file = 0  # digests in the file (it is rewritten with the kept ones past twice ``most``)
        if path is not None:
            for key in self._load(path):  # as old as keep_s before this start: stale, whatever the age rule
                self._first[key] = (now - keep_s, 0.0)

    def _load(self, path: Path) -> list[bytes]:
        """The last ``most`` digests on file (a record torn by a crash at its end left out)."""
        try:
            fh = _own_file(path, os.O_RDONLY)
        except FileNotFoundError:
            return []
        except OSError as exc:
            log.warning("camera: the pictures seen by the last run could not be read (%s): a buffer the camera "
                        "resends now counts as new", exc)
            if isinstance(exc, _NotOwn):  # a link or FIFO planted there: never written through either
                self.path = None
            return []
        with fh:
            size = fh.seek(0, os.SEEK_END)
            whole = size // self.RECORD
            fh.seek(max(0, whole - self.most) * self.RECORD)
            data = fh.read(min(whole, self.most) * self.RECORD)
        self._on_file = whole
        if size % self.RECORD:  # torn: appends after it would be out of step
            try:
                with _own_file(path, os.O_WRONLY, "wb") as out:
                    os.ftruncate(out.fileno(), whole * self.RECORD)
            except OSError:
                self._on_file = 2 * self.most + 1  # the next save rewrites it whole
        return [data[i:i + self.RECORD] for i in range(0, len(data) - len(data) % self.RECORD, self.RECORD)]

    def see(self, img: np.ndarray, now: float) -> float | None:
        """Record ``img`` decoded at ``now``; its first arrival if it was decoded before (None: new)."""
        if not isinstance(img, np.ndarray) or img.ndim < 2 or img.size == 0:
            return None
        small = np.ascontiguousarray(img[:: max(1, img.shape[0] // 32), :: max(1, img.shape[1] // 32)])
        key = hashlib.blake2b(small.tobytes() + bytes(str(img.shape), "ascii"), digest_size=self.RECORD).digest()
        with self._lock:
            if self._last is not None:
                self._flow += min(max(0.0, now - self._last), self.FLOW_GAP_S)
            self._last = now
            while self._first and (
                len(self._first) >= self.most or next(iter(self._first.values()))[1] < self._flow - self.keep_s
            ):
                del self._first[next(iter(self._first))]  # the oldest first
            first = self._first.get(key)
            if first is None:
                self._first[key] = (now, self._flow)
                if self.path is not None:
                    self._unsaved.append(key)
                    if len(self._unsaved) > self.most:  # the kept ones are all the file needs
                        self._unsaved, self._whole = [], True
            if now - self._saved_at >= self.SAVE_EVERY_S and (self._writing is None or not self._writing.is_alive()):
                self._saved_at = now
                if (write := self._take()) is not None:
                    self._writing = threading.Thread(target=write, name="shown-save", daemon=True)
                    self._writing.start()
            return None if first is None else first[0]

    def save(self, now: float, wait_s: float = 5.0) -> None:
        """Write the digests not yet on file (at a stop), once the write in flight is done (``wait_s`` at most: a
        card still stalled then keeps the rest in memory)."""
        if (writing := self._writing) is not None:
            writing.join(wait_s)
            if writing.is_alive():
                return
        with self._lock:
            self._saved_at = now
            write = self._take()
        if write is not None:
            write()

    def _take(self) -> Callable[[], None] | None:
        """(Under ``_lock``.) The write of the digests not yet on file (the file rewritten with the kept ones past
        twice ``most``), to be run outside the lock. Why beside the reader: run on the reader thread, an SD card
        stalling the append held the frames behind it (probe locks41: a 1.5 s stall at 25 fps made 4 frames 1.5 s
        late each; 101 of 234 frames in 10 s); a stall is time for a car to park unseen."""
        if self.path is None or not (self._unsaved or self._whole):
            return None
        path, keys = self.path, self._unsaved
        whole = b"".join(self._first) if self._whole or self._on_file + len(keys) > 2 * self.most else None
        self._unsaved, self._whole = [], False

        def write() -> None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                if whole is not None:
                    write_durably(path, whole, sync=False)
                else:
                    with self._open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, "ab") as fh:
                        fh.write(b"".join(keys))
                with self._lock:
                    self._on_file = len(whole) // self.RECORD if whole is not None else self._on_file + len(keys)
            except OSError as exc:
                log.warning("camera: the pictures seen could not be saved for the next start (%s): kept in memory "
                            "only", exc)
                with self._lock:
                    self.path = None
                    self._unsaved.clear()

        return write


class _NotOwn(OSError):
    """A name in the data dir that is no regular file (a link, a FIFO, a device): planted, never the agent's."""


def _own_file(path: Path, flags: int, mode: str = "rb") -> BinaryIO:
    """``path`` opened (``flags``) through no link and never waited on: a FIFO or device is refused (``_NotOwn``), as
    for every file the agent keeps in its data dir (``datadir.planted_problem`` at a start; review85: a FIFO at
    ``camera/shown.bin`` hung the start for ever, a link had the digests appended, a torn tail cut, where it led)."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
            raise _NotOwn(exc.errno, "not a file the agent wrote (planted?)", str(path)) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _NotOwn(errno.EINVAL, "not a file the agent wrote (planted?)", str(path))
    os.set_blocking(fd, True)
    return os.fdopen(fd, mode)


class FrameSource(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...

    def latest(self) -> Frame | None:
        """The newest frame not yet returned, or None when nothing new arrived."""

    @property
    def reconnects(self) -> int: ...


class DecodeCounts:
    """What the decode path reported for still images, thread-safe (the reader thread writes,
    the agent's loop reads). Kinds: ``truncated``, ``reduced``, ``too_large``, ``unreadable``."""

    KINDS = ("truncated", "reduced", "too_large", "unreadable")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._n = dict.fromkeys(self.KINDS, 0)
        self.last: dict[str, str] = {}  # kind → the last file and what was wrong with it

    def add(self, kind: str, detail: str) -> None:
        with self._lock:
            self._n[kind] += 1
            self.last[kind] = detail
            first = self._n[kind] == 1
        (log.warning if first else log.debug)("camera: %s", detail)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._n)


def _special(p: Path) -> bool:
    """Whether ``p`` exists and is no regular file (what a missing file is, ``decode_file`` says)."""
    try:
        return not stat.S_ISREG(os.stat(p).st_mode)
    except OSError:
        return False


class _ImageFolder:
    """Still images (a folder's, in name order, or one file) as a ``cv2.VideoCapture``-like reader.

    A looping folder is listed again at each pass: files replaced under new names are played, and
    a folder emptied or removed is an ``OSError`` (the source reconnects with backoff) instead of
    a list of vanished names read as "no such file" for ever. A name gone in the middle of a pass has the
    folder listed again at once (``_vanished``): the pass goes on with what is there, and a folder removed or
    emptied is that ``OSError`` now, a lost camera, like a USB camera unplugged. Before, the rest of the old
    list was played as bad frames (no reconnect, no frame): a folder of 500 images at 5 fps went 100 s
    without either, and ``run``'s watchdog (90 s) took the camera loop for stuck and ended the agent (exit 1).
    A single image that is gone is that ``OSError`` too (before: its "no such file" at every frame, for ever).
    A folder whose files may not be opened any more (``chmod a-x`` on it: its names still list, no file opens) is
    lost the same way, saying "permission denied": before, every name was a bad frame, for ever, with no lost
    camera and no reconnect; so is one that may not be listed any more (``a-r``) at its next pass, a single
    image that may not be read, and a looping folder none of whose files may be read (each file's mode) at the last
    file of such a pass (``_all_denied``): one such file among readable ones stays a bad frame."""

    def __init__(self, source: Path, loop: bool, counts: DecodeCounts | None = None,
                 max_pixels: int = MAX_PIXELS, folder: bool | None = None) -> None:
        self.source = source
        self.folder = source.is_dir() if folder is None else folder  # the opener knows, even once it is gone
        self._why = ""  # why the last listing found nothing, when it is not plain absence
        self.files = self._list()
        self.loop = loop
        self.counts = counts or DecodeCounts()
        self.max_pixels = max_pixels
        self.i = 0
        # this pass's files: how many this user may not read, and whether any other came (a frame, another fault)
        self._denied, self._other = 0, False
        self._denied_passes = 0  # passes in a row none of whose files this user might read

    def _list(self) -> list[Path]:
        if not self.folder:
            return [self.source]
        try:
            return folder_frames(self.source)
        except PermissionError:  # no longer readable by this user: nothing to play, said as such
            self._why = " (permission denied: this user may not list the folder any more)"
            return []
        except OSError:  # removed, or no longer a folder
            self._why = ""
            return []

    def isOpened(self) -> bool:  # noqa: N802 - VideoCapture's name
        return bool(self.files)

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.i >= len(self.files):
            if not self.loop:
                return False, None
            self.i = 0
            if self.folder:
                self.files = self._list()
                if not self.files:
                    raise OSError(f"no images left in {self.source}{self._why}")
        if self.i == 0:
            if self._other:
                self._denied_passes = 0
            self._denied, self._other = 0, False
        p = self.files[self.i]
        self.i += 1
        if self.folder and _special(p):  # opening a FIFO waits for a writer: the reader (and replay) hung
            self.counts.add("unreadable", f"not an image file (a FIFO, device or folder): {p}")
            self._other = True
            return True, None
        try:
            d = decode_file(p, self.max_pixels)
        except ImageReadError as exc:
            self._unreachable(p, exc)  # raises OSError when nothing is left to play
            self._all_denied(exc)  # raises OSError when this user may read none of a looping folder's files
            self.counts.add("too_large" if isinstance(exc, ImageTooLarge) else "unreadable", str(exc))
            return True, None  # None → corrupt frame, counted by the source
        except Exception as exc:  # noqa: BLE001 - whatever a decoder throws is a bad frame, not a dead reader
            self.counts.add("unreadable", f"cannot decode {p}: {exc}")
            self._other = True
            return True, None
        self._other = True
        for kind in d.warnings:
            self.counts.add(kind, f"{kind} image: {p}" + (f" (decoded at 1/{d.factor})" if kind == "reduced" else ""))
        return True, d.image

    def _unreachable(self, p: Path, exc: ImageReadError) -> None:
        """``p`` did not open: raise ``OSError`` (a lost camera) when the source is gone or may not be read any more;
        return when only ``p`` is bad (one bad frame). Why: a folder that lost its x bit lists its names but opens
        none of them, and ``lexists`` says False there as for a removed name, so the folder was listed again with
        the same names and played them all as bad frames, for ever."""
        if not self.folder and isinstance(exc.__cause__, PermissionError):
            raise OSError(f"permission denied: this user may not read {self.source} any more") from None
        try:
            os.lstat(p)
        except PermissionError:  # a folder on the way may not be entered: no file in it opens
            raise OSError(f"permission denied: the images in {self.source} may not be opened any more (this user may "
                          "not enter the folder or one above it: its x bit)") from None
        except OSError:
            self._vanished(p)  # raises OSError when nothing is left to play

    def _all_denied(self, exc: ImageReadError) -> None:
        """At the last file of a looping folder's pass: raise ``OSError`` (a lost camera) when every file of it, and
        of the pass before, was "permission denied" (each file's mode; the folder itself fine). Why: they were played
        as counted bad frames, for ever, with no lost camera and no reconnect. A single unreadable file among
        readable ones stays a bad frame; so does one pass denied alone (review24: a one-image folder whose uploader
        renames the new file in before it makes it readable was a lost camera and a reconnect at each such read)."""
        if not (self.folder and self.loop):
            return
        if isinstance(exc.__cause__, PermissionError):
            self._denied += 1
        else:
            self._other = True
        if self.i >= len(self.files) and self._denied and not self._other:
            self._denied_passes += 1
        if self._denied_passes >= DENIED_PASSES:
            raise OSError(f"permission denied: this user may read none of the images in {self.source} (each "
                          "file's mode)")

    def _vanished(self, p: Path) -> None:
        """``p`` was listed and is gone: a single image source is lost (``OSError``); a folder is listed again, and
        the pass goes on with the names after ``p`` (its own slot is one bad frame), or, with no image left (the
        folder removed or emptied), it is lost (``OSError``: the source reconnects with backoff)."""
        if not self.folder:
            raise OSError(f"{self.source} is gone")
        files = self._list()
        if not files:
            raise OSError(f"no images left in {self.source}{self._why or ' (it was removed or emptied while played)'}")
        after = frame_order(p)
        self.files, self.i = files, next((k for k, f in enumerate(files) if frame_order(f) > after), len(files))

    def release(self) -> None:
        pass


def folder_frames(folder: Path) -> list[Path]:
    """A folder's frames in play order (``frame_order``): image names only, hidden ones left out. Raises OSError.
    Not filtered by file type: a FIFO or device there is read (and counted unreadable) by the source, not skipped."""
    return sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".")),
                  key=frame_order)


def frame_order(p: Path) -> tuple:
    """Sort key of a folder's frames: numbers in names compared as numbers (``frame2`` before ``frame10``),
    the rest as text. Why: a frame dump without zero padding (``ffmpeg -i clip.mp4 frame%d.jpg``) sorted as
    text plays frame 10 after frame 1, and a replay of it scored 0 of 20 arrivals instead of 18.
    Zero-padded names and timestamps sort the same either way. Hidden files (a dot first: macOS's
    ``._frame1.jpg`` resource forks on a copied card) are no frames and are not listed at all: each one took
    a frame's time slot, and a folder holding one per frame played twice as long."""
    parts = re.split(r"(\d+)", p.name)
    return tuple((0, int(x), "") if i % 2 else (1, 0, x) for i, x in enumerate(parts) if x), p.name


def sample(cap: object, kind: str, fps: float, wrap_s: float | None = None) -> Iterator[tuple[np.ndarray | None, float]]:
    """(image, media time in s) of the frames to use from a file or folder, ``fps`` per second of
    media time. Video frames in between are only grabbed, not decoded into images. A file
    without timestamps falls back to frame index / the file's own rate; media time never goes
    back (a clip whose timestamps restart is played on, after what came before). ``wrap_s``: the
    file's timestamps are known only modulo this (``pts_wrap_s``); a step forward of over half of it is
    the clock going back, which FFmpeg took for a wrap."""
    period = 1.0 / fps
    if kind == "folder" or not hasattr(cap, "grab"):  # still images: no timestamps, one frame each
        i = 0
        while True:
            ok, img = cap.read()
            if not ok:
                return
            yield img, i * period
            i += 1
    said = cap.get(cv2.CAP_PROP_FPS) if hasattr(cap, "get") else 0.0
    native = said if said and np.isfinite(said) and 0 < said <= MAX_FILE_FPS else fps
    next_t, i = 0.0, -1
    offset, last = 0.0, None  # media time added after the file's clock went back (see below)
    raw_last, dense, by_index, unwrap = None, 0, False, 0.0  # timestamps packing frames closer than a camera can (see below)
    while True:
        if not cap.grab():
            # A damaged stretch inside the file (a bad sector, a recording cut and spliced) fails a few grabs
            # and the decoder then resumes at the next key frame: taken for the end, it dropped the rest of
            # the clip without a word (half of a 12 s clip with 6 bad frames). While the container says frames
            # remain, read on; each failed grab is a damaged frame (None, counted as corrupt by the caller).
            # Failed grabs do not advance the position, so the frames said to remain bound the tries (and at
            # most MAX_DAMAGED_S of them); where the container does not say, the first failure is the end.
            damaged, resumed = 1, False
            most = min(_frames_left(cap), int(native * MAX_DAMAGED_S))  # a frame count can be wildly wrong
            while not resumed and damaged <= most:
                resumed = bool(cap.grab())
                damaged += not resumed
            if not resumed:
                return
            i += damaged
            yield from ((None, last if last is not None else 0.0) for _ in range(damaged))
        i += 1
        raw = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0 if hasattr(cap, "get") else 0.0
        # A header with an absurd rate (10^6 fps: a time base written as the rate) gives timestamps to match:
        # a 24 s clip of 600 frames "lasted" 0.6 ms and was played as its first frame, without a word. No camera
        # records more than MAX_FILE_FPS frames a second: frames that close in a row are timed by their count
        # (at the header's rate, or camera.fps where the header's is absurd too), once said.
        dense = dense + 1 if raw_last is not None and np.isfinite(raw) and 0 <= raw - raw_last < 1 / MAX_FILE_FPS \
            else 0
        if wrap_s and raw_last is not None and np.isfinite(raw) and raw - raw_last > wrap_s / 2:
            # Two MPEG-TS recordings joined with cat, the second's clock behind: 33 s of clip played as 23.9 h, a
            # day of camera_lost before the second part. The nearer reading of a wrapping clock is a step back.
            unwrap -= wrap_s
        raw_last = raw
        raw += unwrap
        if dense >= DENSE_FRAMES and not by_index:
            by_index = True
            log.warning("video: the file's timestamps put frames under %g ms apart (it says %g fps): timed by "
                        "their count at %g fps instead", 1000 / MAX_FILE_FPS, said, native)
        t = raw
        if by_index or not np.isfinite(t) or (t <= 0 and i > 0 and not unwrap):  # unwrapped below 0: went back
            t = i / native
        t += offset
        if last is not None and t < last - 1.0 / native:
            # Timestamps went back (recordings joined with cat, a stream's clock reset): the rest
            # continues after what was played; waiting for media time to pass ``last`` again
            # dropped the whole later part without a word.
            offset += last + 1.0 / native - t
            t = last + 1.0 / native
        last = t
        if t + 1e-3 < next_t:
            continue
        next_t = max(next_t + period, t)  # a gap in the file is not made up with a burst
        ok, img = cap.retrieve()
        yield (img if ok else None), t


def pts_wrap_s(source: str) -> float | None:
    """``PTS_WRAP_S`` for an MPEG transport stream (188- or 192-byte packets) or program stream file, else None
    (other containers' timestamps do not wrap; a gap of hours in them is a gap). Found as FFmpeg finds them, not
    only at the first byte: a transport stream cut mid-packet (``tail -c``), a program stream after a camera
    maker's header (Hikvision's 40-byte ``IMKH``) were taken for other containers."""
    try:  # without blocking: a FIFO named as the source waits for a writer
        with os.fdopen(os.open(source, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:
            head = f.read(SNIFF_BYTES) if stat.S_ISREG(os.fstat(f.fileno()).st_mode) else b""
    except (OSError, ValueError):  # a pipeline's text, a name with a NUL
        return None
    ts = any(len(head) > start + 2 * size and all(head[k] == 0x47 for k in range(start, len(head), size))
             for size in (188, 192) for start in range(size))  # the sync byte at every packet read
    return PTS_WRAP_S if ts or _pack_header(head) else None


def _pack_header(head: bytes) -> bool:
    """An MPEG program stream's pack header (``00 00 01 BA`` and the marker bits of MPEG-2's or MPEG-1's layout) in
    ``head``: the start code's four bytes alone are also an MP4 table's 442."""
    at = head.find(b"\x00\x00\x01\xba")
    while 0 <= at <= len(head) - 14:
        b = head[at + 4:at + 14]
        if (b[0] & 0xC4 == 0x44 and b[2] & b[4] & 0x04 and b[5] & 0x01 and b[8] & 0x03 == 0x03) or \
                (b[0] & 0xF1 == 0x21 and b[2] & b[4] & b[7] & 0x01 and b[5] & 0x80):
            return True
        at = head.find(b"\x00\x00\x01\xba", at + 1)
    return False


def _frames_left(cap: object) -> int:
    """Frames the container says remain after the position (0 when it does not say)."""
    if not hasattr(cap, "get"):
        return 0
    count, pos = cap.get(cv2.CAP_PROP_FRAME_COUNT), cap.get(cv2.CAP_PROP_POS_FRAMES)
    if not (np.isfinite(count) and np.isfinite(pos)) or count <= 0:
        return 0
    return max(0, int(count - pos))


def describe_source(source: str) -> str:
    """``usb``, ``stream``, ``file`` or ``folder``: how the reader plays ``source``. A GStreamer pipeline is a
    ``stream`` (reconnected when it stops) unless it reads a file: a live one (``v4l2src``, a Jetson CSI camera's
    ``nvarguscamerasrc``) was taken for a file, so its first hiccup was the file's end and ``run`` stopped for good."""
    if is_pipeline(source):
        return "file" if is_recording(source) else "stream"
    if source.isdigit() or is_device(source):
        return "usb"
    if "://" in source:
        return "stream"
    p = Path(source)
    return "folder" if p.is_dir() else "file"


FFMPEG_LOG_LEVEL_ENV = "OPENCV_FFMPEG_LOGLEVEL"  # read by OpenCV's FFmpeg backend when its first capture opens
AV_LOG_FATAL = 8


def quiet_decoder_log(verbose: bool = False) -> None:
    """Keep FFmpeg's own messages out of the agent's stderr, unless ``verbose`` (``-v``) or the operator set
    ``OPENCV_FFMPEG_LOGLEVEL`` themselves. Call before the first capture opens (OpenCV reads it once).

    Why: FFmpeg writes one or two lines straight to stderr for every frame it cannot decode (``[h264 @ …] error
    while decoding MB …``) and at every failed connect: a camera sending damaged frames put tens of lines a
    second into the journal, past the log's filter and its once-per-episode rules. The reader counts those
    frames (the heartbeat's ``extra.camera_corrupt_frames``) and logs the first; a failed open is told with its cause."""
    if not verbose:
        os.environ.setdefault(FFMPEG_LOG_LEVEL_ENV, str(AV_LOG_FATAL))


def default_opener(source: str, loop: bool, counts: DecodeCounts | None = None,
                   max_pixels: int = MAX_PIXELS, read_timeout_s: float | None = None,
                   open_timeout_s: float | None = None) -> Callable[[], object]:
    """A function that opens ``source`` → object with ``isOpened/read/release``.

    ``read_timeout_s``: how long one read of a stream may wait for its frame before it fails. Without
    it OpenCV's FFmpeg backend waits 30 s: a camera that keeps the connection open and stops sending
    left the reader blind that long before it even tried to reconnect. ``open_timeout_s``: the same for
    opening a stream URL (a GStreamer pipeline gets neither: it is opened as OpenCV opens it). Without it a camera that
    accepts the connection and never answers (one booting, a hung RTSP server) held each open 30 s, and
    OpenCV's FFmpeg backend opens one capture at a time in a process (an open with a 1 s deadline started
    beside a hung one returned after 31 s), so nothing else in it could open a capture meanwhile."""
    kind = describe_source(source)
    still = kind == "folder" or (kind == "file" and Path(source).suffix.lower() in IMAGE_EXTS)

    def open_() -> object:
        if still:
            return _ImageFolder(Path(source), loop, counts, max_pixels, folder=kind == "folder")
        if kind == "usb":
            if not source.isdigit() and _no_longer_a_device(source):
                return _Unopened()  # fail closed: camera lost, reconnect with backoff, no frame played
            return cv2.VideoCapture(int(source) if source.isdigit() else source)
        # A stream URL goes to OpenCV as is; a file through imfile (a non-UTF-8 name crashes OpenCV).
        if kind != "stream":
            return _sized(imfile.video_capture(source), source, max_pixels * REDUCE_LIMIT)
        if is_pipeline(source):  # opened as OpenCV opens it, no parameters: a GStreamer backend that knows
            cap = cv2.VideoCapture(source)  # no timeout refuses the open for an unknown one (older OpenCV builds)
        else:
            params = [] if read_timeout_s is None else \
                [cv2.CAP_PROP_READ_TIMEOUT_MSEC, max(1, round(read_timeout_s * 1000))]
            if open_timeout_s is not None:
                params += [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, max(1, round(open_timeout_s * 1000))]
            cap = cv2.VideoCapture(source, cv2.CAP_ANY, params)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        return cap

    return open_


def _no_longer_a_device(source: str) -> bool:
    """``source``, taken for a camera's device when the opener was made, is something else now: a regular file a
    local user put in its name (OpenCV's FFmpeg backend would play it as the live camera, and a real arm rise on
    it). Absent is still a device (unplugged): OpenCV fails to open it as before."""
    try:
        return not still_a_device(source)
    except OSError:
        return False  # the reader's log says why (``why_unopened``), once per outage and then every REMIND_S


class _Unopened:
    """A capture that did not open (``isOpened`` false), for a source refused before OpenCV saw it."""

    def isOpened(self) -> bool:  # noqa: N802 - VideoCapture's name
        return False

    def read(self) -> tuple[bool, None]:
        return False, None

    def release(self) -> None:
        pass


def _sized(cap: cv2.VideoCapture, source: str, limit: int) -> cv2.VideoCapture:
    """``cap``, or ``ValueError`` when its header says frames over ``limit`` pixels (they would be decoded whole,
    each one). Why: FFmpeg takes frames up to 268 MP; a 5 MB MJPEG file of 12000x12000 frames took ``replay``
    to 1.4 GB at its first frame, where opening it costs nothing. No camera sends more than 8K (33 MP)."""
    w, h = cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)
    if cap.isOpened() and w * h > limit:
        cap.release()
        raise ValueError(f"video frames of {w:.0f}x{h:.0f} = {w * h / 1e6:.0f} MP, over the {limit / 1e6:.0f} MP "
                         f"a frame may have: {source}")
    return cap


class OpenCVSource:
    """Reads ``source`` in a daemon thread at up to ``fps`` frames per second.

    A live source (stream, USB) is read frame by frame. One failed read is one frame the decoder could
    not use (a truncated or garbled JPEG, a broken slice): it is counted as corrupt and the next read
    follows. The connection is given up — closed and reopened with backoff — when reads fail
    ``FAILED_READS_IN_A_ROW`` times in a row (a connection that is gone fails every read at once) or no
    good frame came for ``stall_s`` (``camera.lost_after_s``: the camera is lost by then anyway)."""

    FAILED_READS_IN_A_ROW = 5
    # A camera that stays away (unplugged, powered off, on another network for hours) is told at its first
    # failure, then once every REMIND_S with the attempts so far, and when frames come again; the retries
    # between go to debug. Why: at the default 30 s backoff every retry was a warning, 120 lines an hour
    # (and as many again from FFmpeg) into a Pi's journal on its SD card for as long as the camera was away.
    REMIND_S = 600.0
    STOP_WAIT_S = 0.5  # stop() waits this long for the reader; one stuck in a driver's call is left to end on its own

    def __init__(self, source: str, clock: Clock, fps: float = 5.0, loop: bool = False,
                 reconnect_min_s: float = 1.0, reconnect_max_s: float = 30.0,
                 opener: Callable[[], object] | None = None,
                 sleep: Callable[[float], object] | None = None, max_pixels: int = MAX_PIXELS,
                 stall_s: float | None = None, whole: bool = False, open_timeout_s: float | None = None,
                 shown_path: Path | None = None) -> None:
        """``shown_path``: where a live camera's pictures seen are kept for the next start (``Shown``)."""
        self.source = source
        self.whole = whole  # a file or folder waits for the agent to take each frame (the module's docstring)
        self.clock = clock
        self.period = 1.0 / fps
        self.kind = describe_source(source)
        self.loop = loop
        self.stall_s = stall_s
        self.decode_counts = DecodeCounts()
        self._open = opener or default_opener(source, loop, self.decode_counts, max_pixels, read_timeout_s=stall_s,
                                                open_timeout_s=open_timeout_s)
        self._diagnose = opener is None  # the real driver: say why it did not open (name, port, device)
        self._open_timeout_s = open_timeout_s
        self._stop = threading.Event()
        # A file's wait for its next frame ends at stop(): at a low fps or across a gap in the file's
        # timestamps a plain sleep outlasted stop()'s join, and SIGTERM's plan logged it as hung.
        self._sleep = sleep or self._stop.wait
        self._min, self._max = reconnect_min_s, reconnect_max_s
        self._slot: Frame | None = None
        self._taken = threading.Event()  # the slot is empty (``whole``: the next frame may go); stop() sets it too
        self._taken.set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._seq = 0
        self._reconnects = 0
        self.corrupt = 0
        self.finished = False  # a non-looping file or folder reached its end
        self._left_running = False  # stop() did not wait for a reader stuck in a driver's call
        self._outage: tuple[float, int] | None = None  # (since, failed attempts) while no frame came
        self._outage_told = False  # this outage was logged at warning: its end is told too
        self._warned_at: float | None = None  # the last failure logged at warning (monotonic)
        self._untold = 0  # outages begun and ended since then without a warning (a camera dropping often)
        # a live camera's pictures, kept across reconnects and restarts: one sent again is no news
        self._shown = Shown(path=shown_path, now=clock.monotonic())

    @property
    def reconnects(self) -> int:
        return self._reconnects

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"camera:{self.kind}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the reader to end, and wait a moment for it. A reader inside a driver's call (a stream
        that stopped sending, an open that hangs) cannot be interrupted: it is not waited for — it is a
        daemon thread, and it closes its capture itself when the call returns. Waiting for it held
        SIGTERM's stop plan: "stop frames" and "stop sinks" ran out of time on every such stop."""
        self._stop.set()
        self._taken.set()  # a recording's reader waiting for the agent ends too
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout=self.STOP_WAIT_S)
            if t.is_alive() and not self._left_running:
                self._left_running = True
                log.warning("camera %s: the reader is still inside a read or open of the camera; not waiting for "
                            "it", self.kind)
        self._shown.save(self.clock.monotonic())  # the last pictures seen, for the next start

    def latest(self) -> Frame | None:
        """The newest frame not yet returned. A recording's (``whole``) is as old as its taking: its reader waits
        for the agent to take each frame, so the time it sat in the slot is the agent's (a start held 20 s by an
        ``evidence.db`` another program locked made it look 20 s old: ``camera_lost``, probe chaos40). A live
        camera's keeps its capture time: the slot holds its newest, and one left there is the camera's silence."""
        with self._lock:
            f, self._slot = self._slot, None
            self._taken.set()
        if f is not None and self.whole:
            f = replace(f, t=max(f.t, self.clock.monotonic()))
        return f

    def _run(self) -> None:
        delay = self._min
        while not self._stop.is_set():
            cap, seq = None, self._seq
            try:
                began = time.monotonic()  # wall time of the driver's open, only to say why it failed
                cap = self._open()
                if not cap.isOpened():
                    limit = self._open_timeout_s
                    gave_up = limit if limit is not None and time.monotonic() - began >= 0.9 * limit else None
                    why = why_unopened(self.source, self.kind, gave_up_s=gave_up) if self._diagnose else ""
                    raise OSError(f"cannot open: {why}" if why else "cannot open")
                self._pump(cap)
                if self.finished:
                    return
                if self.kind == "file":
                    continue  # a looping video played to its end: from the start again, no backoff
            except Exception as exc:  # any driver error → reconnect, never a dead thread
                if self._seq > seq:  # it delivered frames: a new outage starts at the shortest delay
                    delay = self._min  # (one that opens and fails at once keeps backing off)
                self._failed(exc, delay)
            finally:
                if cap is not None:
                    try:
                        cap.release()
                    except Exception:  # noqa: BLE001 - releasing a broken capture
                        pass
            if self._stop.wait(delay):
                return
            delay = min(self._max, delay * 2)
            self._reconnects += 1

    def _failed(self, exc: Exception, delay: float) -> None:
        """Log a failed open or a lost stream: a warning at an outage's first failure and then once every
        ``REMIND_S`` (with the attempts so far), debug between."""
        now = self.clock.monotonic()
        since, attempts = self._outage or (now, 0)
        attempts += 1
        self._outage = (since, attempts)
        if self._warned_at is not None and now - self._warned_at < self.REMIND_S:
            log.debug("camera %s: %s; retrying in %.1f s (attempt %d)", self.kind, exc, delay, attempts)
            return
        self._warned_at, self._outage_told = now, True
        untold, self._untold = self._untold, 0
        more = f"; {untold} short outage(s) since the last warning, each at debug" if untold else ""
        if attempts == 1:
            log.warning("camera %s: %s; retrying in %.1f s (said again every %.0f min while it lasts)%s",
                        self.kind, exc, delay, self.REMIND_S / 60, more)
        else:
            log.warning("camera %s: still no frame after %d attempts in %.0f s: %s; retrying in %.1f s%s",
                        self.kind, attempts, now - since, exc, delay, more)

    def _recovered(self, now: float) -> None:
        """The first frame after failures: its outage ends (told when its start was)."""
        if self._outage is None:
            return
        since, attempts = self._outage
        self._outage = None
        if self._outage_told:
            self._outage_told = False
            log.info("camera %s: frames again after %d failed attempt(s) in %.0f s", self.kind, attempts, now - since)
        else:
            self._untold += 1

    def _pump(self, cap: object) -> None:
        if self.kind in ("file", "folder"):
            return self._play(cap)
        next_t = last_good = self.clock.monotonic()
        failed = 0  # failed reads since the last good frame
        while not self._stop.is_set():
            ok, img = cap.read()
            now = self.clock.monotonic()
            if not ok:
                failed += 1
                if self.stall_s is not None and now - last_good >= self.stall_s:
                    raise OSError(f"no frame for {now - last_good:.1f} s (the stream stalled)")
                if failed >= self.FAILED_READS_IN_A_ROW:
                    raise OSError(f"read failed {failed} times in a row (stream ended)")
                continue
            if failed:  # frames lost between good ones; the failures before a give-up are not counted
                if not self.corrupt:
                    log.warning("camera %s: a frame could not be decoded; the stream goes on (counted in the "
                                "heartbeat's extra.camera_corrupt_frames)", self.kind)
                self.corrupt += failed
            failed, last_good = 0, now
            shown = self._shown.see(img, now)
            if now < next_t:
                continue  # drain the driver's buffer; keep only what we sample
            next_t = max(next_t + self.period, now)
            self._put(img, now, shown)

    def _play(self, cap: object) -> None:
        """A file or folder at its own pace: each sampled frame when its media time has come."""
        start = self.clock.monotonic()
        played = 0
        wrap = pts_wrap_s(self.source) if self.kind == "file" else None
        for img, t in sample(cap, self.kind, 1.0 / self.period, wrap):
            if self._stop.is_set():
                return
            wait = start + t - self.clock.monotonic()
            if wait > 0:
                self._sleep(wait)
                if self._stop.is_set():
                    return
            if self.whole:
                self._taken.wait()  # the agent took the frame before (or stop() was called)
                if self._stop.is_set():
                    return
                start = max(start, self.clock.monotonic() - t)  # late for the agent: the rest keeps its spacing
            self._put(img, self.clock.monotonic())
            played += 1
        # Still images loop inside their reader; a video is opened again by the caller.
        if not self.loop:
            if self.whole:  # ``finished`` once the last frame is taken: the loop ends at it, it must not miss it
                self._taken.wait()
            self.finished = True
        elif not played:
            raise OSError("no frame in the file")  # looping it would spin: reconnect with backoff instead

    def _put(self, img: object, now: float, shown: float | None = None) -> None:
        if img is None or not isinstance(img, np.ndarray) or img.size == 0:
            self.corrupt += 1
            return
        self._seq += 1
        if self._outage is not None:
            self._recovered(now)
        with self._lock:
            self._slot = Frame(img, self._seq, now, shown)
            self._taken.clear()


def open_source(cfg, clock: Clock, shown_path: Path | None = None) -> OpenCVSource:  # noqa: ANN001 - CameraConfig
    """``shown_path``: a live camera's pictures seen, kept for the next start (``Shown``); never a recording's."""
    whole = recording(cfg.source)
    return OpenCVSource(cfg.source, clock, fps=cfg.fps, loop=cfg.loop,
                        reconnect_min_s=cfg.reconnect_min_s, reconnect_max_s=cfg.reconnect_max_s,
                        stall_s=cfg.lost_after_s, whole=whole, open_timeout_s=cfg.open_timeout_s,
                        shown_path=None if whole else shown_path)


def recording(source: str) -> bool:
    """A folder, or a file on disk: played whole by ``run``. Never a camera: a stream, a device, or a GStreamer
    pipeline (even one reading a file is not held back: its appsink would queue frames without bound)."""
    kind = describe_source(source)
    return kind == "folder" or (kind == "file" and Path(source).is_file())
