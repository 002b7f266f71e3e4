"""The labels file ``occupancy calibrate`` reads, as ``occupancy label`` and the installer page write it.

One writer for both (``append_rows``): rows are appended under a lock on the file's folder, after reading the file
again, so a ``label`` run and a page adding a frame at the same time keep each other's rows, and rows already there
(an installer's corrections) are never replaced.
"""

from __future__ import annotations

import csv
import io
import os
import re
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_agent.csvcell import kept_cell, read_cell
from edge_agent.durable import folder_lock, write_output
from edge_agent.occupancy.dataset import FRAME_COLUMNS

COLUMNS = (*FRAME_COLUMNS, "p_occupied", "model")
# the installer page's labelled pictures: ``{data_dir}/labels/frames/<evidence id>.jpg``, rows in labels.csv; each
# file's modification time is the picture's own (when the camera took it), which ``evidence forget`` goes by
PAGE_LABELS = "labels"
PAGE_FRAMES = "frames"
PAGE_PICTURE = re.compile(r"[0-9a-f-]{36}")  # an evidence id (uuid4), the labelled picture's file name


class LabelInputError(ValueError):
    """An image or labels file that cannot be labelled against this config; ``str()`` says which and why."""


@dataclass(frozen=True)
class Guess:
    bay_id: str
    p: float
    occupied: str  # "1", "0" or "" (unsure: the installer decides)
    unseen: str = ""  # "bay_flat" / "bay_clipped" / "bay_overlay" (bays.blank): nothing to label, no row


def guess(probs: Mapping[str, float], enter_p: float, exit_p: float,
          unseen: Mapping[str, str] | None = None) -> list[Guess]:
    """The classifier's verdict per bay with the agent's own hysteresis thresholds: sure only beyond them."""
    out = []
    for b, p in probs.items():
        flag = "1" if np.isfinite(p) and p >= enter_p else "0" if np.isfinite(p) and p <= exit_p else ""
        out.append(Guess(b, float(p), flag, (unseen or {}).get(b, "")))
    return out


def read_existing(path: Path) -> list[dict[str, str]]:
    """The labels file's rows ([] when there is none); ``LabelInputError`` for one that is not a labels file. Opened
    without waiting: a FIFO at its name (``{data_dir}/labels/labels.csv``, a folder others may write in) held every
    request of the teach page, which reads it for its counts, until the web server had no thread left."""
    if not path.exists():
        return []
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            raise LabelInputError(f"{path}: cannot read it (Is a directory)" if stat.S_ISDIR(mode) else
                                  f"{path}: not a regular file (a FIFO, a device), so not a labels file")
        os.set_blocking(fd, True)
        with open(fd, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in FRAME_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise LabelInputError(f"{path}: not a labels file (missing column(s) {', '.join(missing)})")
            return [{k: read_cell(v) if isinstance(v, str) else v for k, v in row.items()} for row in reader]
    except UnicodeDecodeError:  # --out named a photo or a UTF-16 export: was a traceback
        raise LabelInputError(f"{path}: not UTF-8 text, so not a labels file to append to") from None
    except csv.Error as exc:  # a NUL, a cell over 128 KiB
        raise LabelInputError(f"{path}: not a labels file ({exc})") from None
    except OSError as exc:  # a folder, no permission: was a traceback
        raise LabelInputError(f"{path}: cannot read it ({exc.strerror or exc})") from None


def append_rows(out: Path, rows: Sequence[dict[str, str]]) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Append ``rows`` to the labels file ``out`` (made with its header when missing), skipping any whose
    (file, bay_id) is already there. Returns (the rows added, the rows that were there)."""
    with folder_lock(out.parent):  # read again and written under the lock: another writer meanwhile is kept
        existing = read_existing(out)
        kept = {(r["file"], r["bay_id"]) for r in existing}
        new = [r for r in rows if (r["file"], r["bay_id"]) not in kept]
        _write(out, existing + new)
    return new, existing


def remove_rows(out: Path, drop: Callable[[dict[str, str]], bool]) -> list[dict[str, str]]:
    """Remove the rows ``drop`` picks from the labels file ``out``, under the writers' folder lock (the file as it
    is then: a ``label`` run meanwhile is kept). Returns the rows removed."""
    with folder_lock(out.parent):
        existing = read_existing(out)
        gone = [r for r in existing if drop(r)]
        if gone:
            _write(out, [r for r in existing if not drop(r)])
    return gone


def _write(out: Path, rows: Sequence[dict[str, str]]) -> None:
    """The labels file as ``rows`` (our columns first, any an installer added kept after them); under the lock."""
    fields = list(dict.fromkeys(list(COLUMNS) + [c for r in rows for c in r if c not in COLUMNS]))
    text = io.StringIO(newline="")
    w = csv.DictWriter(text, fieldnames=fields, extrasaction="ignore")
    w.writeheader()
    # a cell a spreadsheet would run (a bay id "-A1", a frame "=1+2.jpg") gets a quote, which the readers take off
    w.writerows({k: kept_cell(v) if isinstance(v, str) else v for k, v in r.items()} for r in rows)
    write_output(out, text.getvalue())


def refuse_linked(folder: Path) -> None:
    """``LabelInputError`` when ``folder`` (``labels/``) or its ``frames/`` is a symbolic link. Why: the page writes
    its pictures there and deletes every ``<uuid>.jpg`` there on Forget, and the data folder may be written by others:
    a ``labels/frames`` linked to a day of evidence photos (named the same way) had Forget delete that day's
    evidence, and one linked elsewhere had the page's pictures written there."""
    for f in (folder, folder / PAGE_FRAMES):
        if f.is_symlink():
            raise LabelInputError(f"{f}: a symbolic link where the page keeps its labelled pictures (planted by "
                                  "whoever writes the data folder?): remove it; nothing written or deleted")


def page_frames(folder: Path) -> list[Path]:
    """The pictures the installer page labelled under ``folder`` (``labels/``): ``frames/<evidence id>.jpg``, none
    that is a link or a folder (nothing else there is the page's); ``LabelInputError`` for a linked folder."""
    refuse_linked(folder)
    try:
        entries = list((folder / PAGE_FRAMES).iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [e for e in entries if e.suffix == ".jpg" and PAGE_PICTURE.fullmatch(e.stem) and not e.is_symlink()
            and e.is_file()]


def forget_page_frames(folder: Path, pick: Callable[[Path], bool] = lambda _: True) -> int:
    """Delete the page's labelled pictures ``pick`` chooses (all by default) and their rows in ``labels.csv``; rows
    ``occupancy label`` wrote (their own images) stay. Returns how many pictures went. Why: the pictures are whole
    camera views (every parked car's plate), kept outside the evidence's index and retention."""
    gone = {f"{PAGE_FRAMES}/{p.name}" for p in page_frames(folder) if pick(p)}
    rows = remove_rows(folder / "labels.csv", lambda r: r.get("file", "") in gone) if gone else []
    names = gone | {r["file"] for r in rows}
    for name in names:
        (folder / name).unlink(missing_ok=True)
    return len(names)


def taken_within(spans: Sequence[tuple[float, float]]) -> Callable[[Path], bool]:
    """A ``pick`` for pictures taken (their modification time) within one of ``spans`` (epoch from, to)."""
    def pick(p: Path) -> bool:
        t = p.stat().st_mtime
        return any(a <= t <= b for a, b in spans)
    return pick
