"""``edge-agent eval``: score the Pipeline on a labels file (plates-dev format).

Why these metrics: the product question is "NEV or not", so besides detection and text the
report counts the two costly mistakes separately — blue plates called NEV and green
non-NEV plates (civil aviation, agricultural: labels whose note says "NOT an NEV") called NEV.
Labelled plates without a box are matched to the remaining detection that reads most alike.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import math
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_agent.csvcell import repeated_column, text_cell
from edge_agent.perception.colour import COLOURS
from edge_agent.perception.detector import iou
from edge_agent.perception.imageio import ImageReadError, read_image_scaled
from edge_agent.perception.types import PlateRead
from edge_agent.plates import normalise_plate, parse_plate

NEV_COLOURS = ("green", "yellow_green")
# Under this share of its area inside the image, a labelled box is not in the picture (as occupancy eval's bays).
MIN_INSIDE_SHARE = 0.5


@dataclass
class Label:
    file: str
    text: str
    colour: str
    box: tuple[float, float, float, float] | None
    note: str
    line: int = 0  # the labels file's line, for messages

    @property
    def double_row(self) -> bool:
        return "double" in self.note.lower()

    @property
    def nev(self) -> bool:
        return self.colour in NEV_COLOURS and "not an nev" not in self.note.lower()

    @property
    def trap(self) -> bool:
        return self.colour in NEV_COLOURS and not self.nev


@dataclass
class Outcome:
    label: Label
    read: PlateRead | None  # the matched detection, None when missed


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (image, why it could not be read)
    skipped: list[tuple[Label, str]] = field(default_factory=list)  # labels not scored: their box is not in the image

    def metrics(self) -> dict:
        o = self.outcomes
        found = [x for x in o if x.read is not None]
        single = [x for x in o if x.label.text and not x.label.double_row]
        exact = [x for x in single if x.read is not None and x.read.text == x.label.text]
        double = [x for x in o if x.label.text and x.label.double_row]  # scored apart: few, and read another way
        noprov = [x for x in single if x.read is not None and x.read.text[-len(x.label.text) + 1:] == x.label.text[1:]
                  and len(x.read.text) in (len(x.label.text), len(x.label.text) - 1)]
        per_colour = {}
        for c in sorted({x.label.colour for x in o if x.label.colour != "unknown"}):
            rows = [x for x in found if x.label.colour == c]
            per_colour[c] = {"n": len(rows), "correct": sum(x.read.colour == c for x in rows),
                             "accuracy": _ratio(sum(x.read.colour == c for x in rows), len(rows))}
        coloured = [x for x in found if x.label.colour != "unknown"]
        nev = [x for x in o if x.label.nev]
        blue = [x for x in o if x.label.colour == "blue"]
        traps = [x for x in o if x.label.trap]
        lat = np.array(self.latencies_ms or [0.0])
        return {
            "plates": len(o), "images": len(self.latencies_ms), "errors": len(self.errors), "skipped": len(self.skipped),
            "detection_recall": _ratio(len(found), len(o)),
            "exact_text_single_row": _ratio(len(exact), len(single)), "single_row_plates": len(single),
            "text_ignoring_province": _ratio(len(noprov), len(single)),
            "exact_text_double_row": _ratio(sum(x.read is not None and x.read.text == x.label.text for x in double),
                                            len(double)), "double_row_plates": len(double),
            "colour_accuracy": _ratio(sum(x.read.colour == x.label.colour for x in coloured), len(coloured)),
            "colour_per_class": per_colour,
            "nev_plates": len(nev), "nev_recall": _ratio(sum(x.read is not None and x.read.nev is True for x in nev), len(nev)),
            "blue_called_nev": sum(x.read is not None and x.read.nev is True for x in blue),
            "green_non_nev_called_nev": sum(x.read is not None and x.read.nev is True for x in traps),
            "green_non_nev_plates": len(traps),
            "partial_reads": sum(x.read is not None and not x.read.complete for x in o),
            "partial_wrong": sum(x.read is not None and not x.read.complete and _contradicts(x.read.text, x.label.text)
                                 for x in single),
            "latency_ms_median": round(float(np.median(lat)), 1), "latency_ms_p90": round(float(np.percentile(lat, 90)), 1),
        }

    def failures(self) -> list[tuple[Outcome, str]]:
        out = []
        for x in self.outcomes:
            lab, r = x.label, x.read
            if r is None:
                out.append((x, "missed"))
            elif lab.text and not lab.double_row and r.text != lab.text:
                out.append((x, "text"))
            elif lab.colour != "unknown" and r.colour != lab.colour:
                out.append((x, "colour"))
            elif (r.nev is True) != lab.nev:
                out.append((x, "nev"))
        return out


def _contradicts(partial: str, truth: str) -> bool:
    """A partial read is honest when every position it claims matches the plate."""
    return len(partial) != len(truth) or any(p != "?" and p != t for p, t in zip(partial, truth))


def _ratio(a: int, b: int) -> float:
    return round(a / b, 4) if b else 0.0


LABEL_COLOURS = COLOURS  # plate_color: what the pipeline reports (plates-dev's README lists the same)
BOX_COLUMNS = ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2")


class LabelError(ValueError):
    """A plate labels file that cannot be scored; the message names the file, line and column."""


# the columns ``load_labels`` reads: one named twice in a header is refused (the reader kept the last)
LABEL_COLUMNS = ("file", "plate_text", "plate_color", "scene", *BOX_COLUMNS, "note")


def load_labels(csv_path: Path, scene: str | None = "full", root: Path | None = None) -> dict[str, list[Label]]:
    """The labelled plates of ``csv_path`` (plates-dev format) by image file, rows of ``scene`` only
    (a blank or absent ``scene`` is a full scene). Every problem is a ``LabelError`` naming the file, line
    and column: a missing ``file`` column, text that is not UTF-8, a box with a blank, non-numeric,
    non-finite or inverted coordinate, a colour the pipeline never reports, a plate labelled twice in
    one image (same box, or same text). Why: each was a traceback, or worse a score moved silently — a
    duplicated row halved the recall, a misspelt colour was a colour failure, a box of ``nan`` a miss.
    An image is its path under ``root`` (default: the labels file's folder), not its spelling: ``./img/a.png``,
    ``img\\a.png`` or the absolute path beside ``img/a.png`` (labels merged from two tools) is the same photo, kept
    under the name it first had (it was two images, decoded and scored twice)."""
    csv_path = Path(csv_path)
    root = Path(root) if root is not None else csv_path.parent
    by_file: dict[str, list[Label]] = {}
    first: dict[tuple, int] = {}  # (image path, box or text) → the line that labelled it
    named: dict[str, str] = {}  # image path → the name it was first given
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f, skipinitialspace=True)
            columns = set(reader.fieldnames or [])
            have = ", ".join(repr(c) for c in reader.fieldnames or []) or "nothing"
            if "file" not in columns:
                raise LabelError(f"{csv_path}: missing column file; the header has: {have}")
            if not ({"plate_text", "plate_color"} & columns or set(BOX_COLUMNS) <= columns):
                # a list of image files (or another tool's CSV with a ``file`` column) labels nothing: every image
                # was one plate of no text, colour or box, and the run printed "detection recall 1.0000", exit 0
                raise LabelError(f"{csv_path}: no column plate_text, plate_color or {', '.join(BOX_COLUMNS)}: it "
                                 f"labels nothing to score; the header has: {have}")
            twice = repeated_column(reader.fieldnames, LABEL_COLUMNS)
            if twice:
                raise LabelError(f"{csv_path}: {twice}")
            for row in reader:
                if not any(isinstance(v, str) and v.strip() for k, v in row.items() if k is not None):
                    continue  # a spreadsheet's empty rows below its table
                where = f"{csv_path}:{reader.line_num}"
                if scene and ((row.get("scene") or "").strip() or "full") != scene:
                    continue
                name = (row.get("file") or "").strip()
                if not name:
                    raise LabelError(f"{where}: column 'file' is empty")
                lab = Label(name, normalise_plate(row.get("plate_text") or ""), _colour(row, where), _box(row, where),
                            row.get("note") or "", reader.line_num)
                unique_text = parse_plate(lab.text).valid  # "", "?" or "unread" may label two plates of one image
                name = named.setdefault(os.path.abspath(image_path(root, name)), name)
                for key in ((name, "box", lab.box) if lab.box else None, (name, "text", lab.text) if unique_text else None):
                    if key is not None and first.setdefault(key, reader.line_num) != reader.line_num:
                        raise LabelError(f"{where}: this plate of {name} is labelled again (same {key[1]} as line "
                                         f"{first[key]}): keep one row per plate")
                by_file.setdefault(name, []).append(lab)
    except UnicodeDecodeError:
        raise LabelError(f"{csv_path}:{first_non_utf8_line(csv_path)}: not UTF-8 text: save the labels file "
                         "as UTF-8") from None
    except csv.Error as exc:  # a cell over 128 KiB, a NUL
        raise LabelError(f"{csv_path}:{reader.line_num + 1}: not a labels CSV here ({exc})") from None
    return by_file


def image_path(root: Path, file: str) -> Path:
    """``file`` under ``root``; a labels file written on Windows separates folders with backslashes, which on
    POSIX are part of a name (every image was unreadable), as ``occupancy eval`` reads them."""
    path = root / file
    if "\\" in file and not path.exists():
        return root / file.replace("\\", "/")
    return path


def _colour(row: dict, where: str) -> str:
    colour = (row.get("plate_color") or "").strip().lower() or "unknown"
    if colour not in LABEL_COLOURS:
        raise LabelError(f"{where}: column 'plate_color' must be one of {', '.join(LABEL_COLOURS)} (or blank), "
                         f"got {row.get('plate_color')!r}")
    return colour


def _box(row: dict, where: str) -> tuple[float, float, float, float] | None:
    """The four ``bbox_*`` cells: all blank (no box) or four finite numbers with x1 < x2 and y1 < y2."""
    cells = [(row.get(k) or "").strip() for k in BOX_COLUMNS]
    if not any(cells):
        return None
    try:
        box = tuple(float(c) for c in cells)
    except ValueError:
        box = (math.nan,) * 4
    if not all(math.isfinite(v) for v in box):
        raise LabelError(f"{where}: columns {', '.join(BOX_COLUMNS)} must be four numbers (pixels), or all blank "
                         f"for a plate without a box; got {', '.join(repr(c) for c in cells)}")
    x1, y1, x2, y2 = box
    if not (x1 < x2 and y1 < y2):
        raise LabelError(f"{where}: the box must have bbox_x1 < bbox_x2 and bbox_y1 < bbox_y2, got {list(box)}")
    return x1, y1, x2, y2


def first_non_utf8_line(path: Path) -> int:
    """The line a decode error is on (the text reader decodes in chunks, so its position says little); the
    occupancy labels reader names its line this way too."""
    for n, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return n
    return 0


def match(labels: list[Label], reads: list[PlateRead]) -> list[Outcome]:
    """Boxed labels take the detection overlapping most (IoU ≥ 0.3 or its centre inside the
    box); box-less labels then take the remaining detection whose text is most alike."""
    free = list(range(len(reads)))
    out: dict[int, Outcome] = {}
    for li, lab in enumerate(labels):
        if lab.box is None:
            continue
        best, best_v = None, 0.0
        for i in free:
            b = reads[i].box
            cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            inside = lab.box[0] <= cx <= lab.box[2] and lab.box[1] <= cy <= lab.box[3]
            v = max(iou(b, lab.box), 0.3 if inside else 0.0)
            if v >= 0.3 and v > best_v:
                best, best_v = i, v
        if best is not None:
            free.remove(best)
        out[li] = Outcome(lab, reads[best] if best is not None else None)
    for li, lab in enumerate(labels):
        if lab.box is not None:
            continue
        best = max(free, default=None, key=lambda i: (difflib.SequenceMatcher(None, reads[i].text, lab.text).ratio(),
                                                      reads[i].det_score))
        if best is not None:
            free.remove(best)
        out[li] = Outcome(lab, reads[best] if best is not None else None)
    return [out[i] for i in range(len(labels))]


def evaluate(process: Callable, labels_csv: Path, root: Path | None = None, progress: bool = True,
             transform: Callable[[np.ndarray], np.ndarray] | None = None) -> Report:
    """Run ``process(frame_bgr) -> list[PlateRead]`` over every image of ``labels_csv``.

    ``transform`` (``degrade.py``) alters each image first; reads on a resized copy, and on a
    photo the decoder reduced (one larger than a 4032×3024 phone photo), are mapped back to
    the file's pixels, which the labelled boxes are in."""
    root = root or labels_csv.parent
    by_file = load_labels(labels_csv, root=root)
    rep = Report()
    for n, (name, labels) in enumerate(by_file.items(), 1):
        if progress:
            _bar(n, len(by_file))
        try:
            img, factor = read_image_scaled(image_path(root, name))
        except ImageReadError as exc:
            rep.errors.append((name, str(exc)))
            rep.outcomes.extend(Outcome(lab, None) for lab in labels)
            continue
        labels = _in_picture(labels, (img.shape[1] * factor, img.shape[0] * factor), rep.skipped)
        frame = transform(img) if transform is not None else img
        t = time.perf_counter()
        reads = process(frame)
        rep.latencies_ms.append((time.perf_counter() - t) * 1000)
        k = factor * img.shape[1] / frame.shape[1]
        if k != 1:
            reads = [_rescale(r, k) for r in reads]
        rep.outcomes.extend(match(labels, reads))
    if progress:
        print(file=sys.stderr)
    return rep


def _in_picture(labels: list[Label], size: tuple[int, int], skipped: list[tuple[Label, str]]) -> list[Label]:
    """The labels whose box is mostly (≥ ``MIN_INSIDE_SHARE`` of its area) inside an image of ``size`` (file
    pixels, after EXIF orientation); the others go to ``skipped`` with why. Why: a box drawn on another
    size or orientation of the photo (or typed wrong) was scored as a missed plate without a word."""
    w, h = size
    kept = []
    for lab in labels:
        if lab.box is not None:
            x1, y1, x2, y2 = lab.box
            inside = max(0.0, min(x2, w) - max(x1, 0)) * max(0.0, min(y2, h) - max(y1, 0))
            if inside < MIN_INSIDE_SHARE * (x2 - x1) * (y2 - y1):
                skipped.append((lab, f"its box {list(lab.box)} is not in the {w}x{h} image"))
                continue
        kept.append(lab)
    return kept


def _rescale(r: PlateRead, k: float) -> PlateRead:
    return dataclasses.replace(r, box=tuple(v * k for v in r.box),
                               corners=tuple((x * k, y * k) for x, y in r.corners))


def degrade_table(rows: list[tuple[str, dict]]) -> str:
    """One line per condition: the numbers that matter beside the clean run."""
    head = f"{'condition':16} {'exact':>6} {'colour':>6} {'NEV rec':>7} {'blue/green-trap called NEV':>27} {'partial':>7}"
    lines = [head]
    for name, m in rows:
        lines.append(f"{name:16} {m['exact_text_single_row']:6.3f} {m['colour_accuracy']:6.3f} {m['nev_recall']:7.3f} "
                     f"{m['blue_called_nev']:>13d} / {m['green_non_nev_called_nev']:<11d} {m['partial_reads']:7d}")
    return "\n".join(lines)


def _bar(n: int, total: int, width: int = 30) -> None:
    done = int(width * n / total)
    print(f"\r[{'#' * done}{'.' * (width - done)}] {n}/{total}", end="", file=sys.stderr, flush=True)


def format_metrics(m: dict) -> str:
    pc = ", ".join(f"{c} {v['accuracy']:.2f} ({v['correct']}/{v['n']})" for c, v in m["colour_per_class"].items())
    return "\n".join([
        f"plates {m['plates']} in {m['images']} images ({m['errors']} unreadable)",
        f"detection recall          {m['detection_recall']:.4f}",
        f"exact text (single-row)   {m['exact_text_single_row']:.4f}  of {m['single_row_plates']}",
        f"text ignoring province    {m['text_ignoring_province']:.4f}",
        f"exact text (double-row)   {m['exact_text_double_row']:.4f}  of {m['double_row_plates']}",
        f"colour accuracy           {m['colour_accuracy']:.4f}  [{pc}]",
        f"NEV recall                {m['nev_recall']:.4f}  of {m['nev_plates']}",
        f"blue called NEV           {m['blue_called_nev']}",
        f"green non-NEV called NEV  {m['green_non_nev_called_nev']}  of {m['green_non_nev_plates']}",
        f"partial reads             {m['partial_reads']}  ({m['partial_wrong']} not matching the plate where read)",
        f"latency ms median / p90   {m['latency_ms_median']} / {m['latency_ms_p90']}",
    ])


#: What ``write_failures`` puts in its folder: ``failures.csv``, ``contact_sheet.jpg``, ``NNN_why.jpg``.
FAILURE_FILES = re.compile(r"failures\.csv|contact_sheet\.jpg|\d{3}_\w+\.jpg")


def failures_folder_problem(out_dir: Path) -> str | None:
    """Why ``out_dir`` cannot be the ``--failures`` folder, or None: it is replaced whole (``write_failures``), so
    it must be new or hold an earlier run's failures only — never a folder of other files (``--failures .``)."""
    if not out_dir.exists():
        return None
    if not out_dir.is_dir():
        return "is not a folder"
    other = sorted(p.name for p in out_dir.iterdir() if not (p.is_file() and FAILURE_FILES.fullmatch(p.name)))
    if other:
        return (f"holds what eval does not write there ({', '.join(other[:3])}{' …' if len(other) > 3 else ''}), "
                "and the folder is replaced whole: name a folder of its own")
    return None


def write_failures(rep: Report, out_dir: Path, root: Path, limit: int = 200) -> int:
    """One annotated crop per failure plus ``contact_sheet.jpg`` and ``failures.csv``, replacing ``out_dir`` whole
    once all are written (``durable.output_folder``): written in place, a Ctrl-C or a full disk left a cut-off
    ``failures.csv`` beside crops of the run before, under the same numbers."""
    from edge_agent.durable import output_folder

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with output_folder(out_dir) as scratch:
        return _write_failures(rep, scratch, root, limit)


def _write_failures(rep: Report, out_dir: Path, root: Path, limit: int) -> int:
    from edge_agent.perception.annotate import annotate, contact_sheet

    fails = rep.failures()
    tiles = []
    with open(out_dir / "failures.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["file", "why", "label_text", "label_colour", "read_text", "read_colour", "nev", "nev_reason"])
        for k, (o, why) in enumerate(fails[:limit]):
            r = o.read
            # for a person, in a spreadsheet, from a labels file from outside: no cell may run as a formula
            w.writerow([text_cell(v) for v in (o.label.file, why, o.label.text, o.label.colour, r.text if r else "",
                                               r.colour if r else "", r.nev if r else "", r.nev_reason if r else "")])
            try:
                img, factor = read_image_scaled(image_path(root, o.label.file))
            except ImageReadError:
                continue
            shown = [_rescale(r, 1 / factor)] if r else []  # reads and labels are in file pixels
            box = o.label.box or (r.box if r else None)
            box = tuple(v / factor for v in box) if box else None
            view = _around(annotate(img, shown), box)
            _written(out_dir / f"{k:03d}_{why}.jpg", view)
            got = f"{r.text or '-'} {r.colour} nev={r.nev}" if r else "not found"
            tiles.append((view, f"{why}: {o.label.text or '?'} {o.label.colour}\n→ {got}"))
    _written(out_dir / "contact_sheet.jpg", contact_sheet(tiles))
    return len(fails)


def _written(path: Path, img: np.ndarray) -> None:
    """``imwrite`` or an ``OSError`` naming ``path``: OpenCV returns False, not an error, when it cannot write."""
    from edge_agent import imfile

    if not imfile.imwrite(path, img):
        raise OSError(0, "not written", str(path))


def _around(img: np.ndarray, box, margin: float = 1.5) -> np.ndarray:
    """The region around a plate (a few plate widths), or the whole image without a box."""
    if box is None:
        return img
    h, w = img.shape[:2]
    bw, bh = box[2] - box[0], box[3] - box[1]
    m = max(bw, bh * 3) * margin
    x1, y1 = int(max(0, box[0] - m)), int(max(0, box[1] - m))
    x2, y2 = int(min(w, box[2] + m)), int(min(h, box[3] + m))
    return img[y1:y2, x1:x2] if x2 > x1 and y2 > y1 else img
