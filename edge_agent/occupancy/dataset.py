"""Labelled bays from a bays-dev style folder: frame labels (``frames.csv``) and patch labels
(``patches.csv``), read into one record type and cropped with the agent's own crop code.

Frames and patches go through the same crop steps (``bay_crop`` / ``patch_crop``), so a model
trained on patches sees frame bays the way the agent will show them.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from edge_agent.bays.crop import bay_crop, bay_quad, patch_crop
from edge_agent.camera.frame_size import same_shape
from edge_agent.csvcell import read_cell, repeated_column
from edge_agent.perception.evaluate import first_non_utf8_line, image_path
from edge_agent.perception.imageio import ImageReadError, read_image_scaled
from edge_agent.quad import MAX_COORD_PX, quad_problem

# Scenes that are one lot seen by several cameras: held out together, never split.
LOTS: dict[str, tuple[str, ...]] = {"cnrpark": ("cnrpark_camA", "cnrpark_camB")}
# Scenes whose licence allows committing a model trained on them (bays-dev README, "Sources and licences").
SHIPPABLE = ("cnrpark_camA", "cnrpark_camB")
# Scenes whose images allow it (PKLot: CC BY 4.0) but whose dataset labels carry no licence: shippable only
# with this project's own annotations of the frames (``models/labels/``), which replace the dataset's.
SHIPPABLE_WITH_OWN_LABELS = ("pklot_ufpr05",)
OWN_LABELS_DIR = Path(__file__).resolve().parents[2] / "models" / "labels"
FRAME_COLUMNS = ("file", "bay_id", "polygon", "occupied")
PATCH_COLUMNS = ("file", "occupied")
READ_COLUMNS = ("file", "bay_id", "polygon", "occupied", "scene", "weather", "daypart", "width", "height")
# How datasets write the flag: PKLot's XML says occupied="1", CNRPark's folders busy/free.
_OCCUPIED = ("1", "true", "yes", "occupied", "busy")
_EMPTY = ("0", "false", "no", "empty", "free")
# Under this share of its polygon inside the image, a labelled bay is not in the picture (the agent's rule for a
# bay mostly outside the frame, ``bays.occupancy.MIN_MASK_SHARE``): scoring its crop scores the image's edge.
MIN_INSIDE_SHARE = 0.5


class LabelError(ValueError):
    """A labels file that cannot be used; the message names the file, row and column."""


@dataclass(frozen=True)
class BayLabel:
    """One labelled bay: a patch file (``polygon`` None) or a bay of a frame file."""

    file: str  # as written in the CSV (relative to its folder)
    path: Path
    scene: str
    bay_id: str
    occupied: bool
    weather: str = "unknown"
    daypart: str = "unknown"
    polygon: tuple[tuple[float, float], ...] | None = None
    own: bool = False  # labelled by this project (models/labels/), not taken from the dataset
    line: int = 0  # the labels file's line, for messages
    drawn: tuple[int, int] | None = None  # (width, height) the polygon was drawn on: frames.csv's optional columns


def expand_scenes(names: Iterable[str]) -> list[str]:
    """Lot names (``cnrpark``) to their scenes; scene names pass through."""
    out: list[str] = []
    for n in names:
        for s in LOTS.get(n, (n,)):
            if s not in out:
                out.append(s)
    return out


def _flag(value: str, where: str) -> bool:
    v = (value or "").strip().lower()
    if v in _OCCUPIED:
        return True
    if v in _EMPTY:
        return False
    try:  # a spreadsheet or pandas writes a 0/1 column as 0.0 / 1.0
        number = float(v)
    except ValueError:
        number = math.nan
    if number in (0.0, 1.0):
        return number == 1.0
    if not v:
        raise LabelError(f"{where}: column 'occupied' is blank: look at this bay and write 1 (a vehicle) or 0 (empty)")
    raise LabelError(f"{where}: column 'occupied' must be 0 or 1 (true/false, yes/no, occupied/empty, busy/free "
                     f"are read too), got {value!r}")


def _polygon(value: str, where: str) -> tuple[tuple[float, float], ...]:
    try:
        pts = json.loads(value)
        poly = tuple((_number(x), _number(y)) for x, y in pts)
    except (ValueError, TypeError, RecursionError) as exc:
        raise LabelError(f"{where}: column 'polygon' must be a JSON list of [x, y] pairs, got {value!r}") from exc
    if len(poly) < 3 or not all(math.isfinite(c) for p in poly for c in p):
        raise LabelError(f"{where}: column 'polygon' needs >= 3 finite points, got {value!r}")
    problem = quad_problem(poly)  # the crop's own rule, checked here so a bad row is named, not a traceback
    if problem:
        raise LabelError(f"{where}: column 'polygon': {problem}")
    return poly


def _number(v: object) -> float:
    """A JSON number as a coordinate: ``true`` or ``"1"`` is none (``float()`` took them as pixel 1), as in the config."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"not a number: {v!r}")
    return float(v)


def _drawn(row: dict, where: str) -> tuple[int, int] | None:
    """frames.csv's optional ``width`` / ``height``: the image size the polygon's pixels belong to."""
    w, h = (row.get("width") or "").strip(), (row.get("height") or "").strip()
    if not w and not h:
        return None
    try:
        size = float(w), float(h)
    except ValueError:
        size = (math.nan, math.nan)
    if not all(math.isfinite(v) and v == int(v) and 1 <= v <= MAX_COORD_PX for v in size):
        raise LabelError(f"{where}: columns 'width' and 'height' (the image size the polygon was drawn on) must "
                         f"both be whole numbers of pixels, got {w!r}, {h!r}")
    return int(size[0]), int(size[1])


def _text(row: dict, column: str, where: str) -> str:
    """A required cell, stripped; blank or missing (a short row) is an error naming it."""
    v = (row.get(column) or "").strip()
    if not v:
        raise LabelError(f"{where}: column {column!r} is empty")
    return v


def blank_row(row: dict) -> bool:
    """A row with every cell blank (``,,,``): a spreadsheet exports the formatted but empty rows below its table
    so, and each was an error ("column 'file' is empty"); it holds nothing to read."""
    return not any(v.strip() for k, v in row.items() if k is not None and isinstance(v, str))


def header_note(fieldnames: Sequence[str] | None) -> str:
    """What the header does hold, for a missing-column message (a capitalised or otherwise spelt header, or
    another delimiter, is then seen at once)."""
    return f"; the header has: {', '.join(repr(f) for f in fieldnames or []) or 'nothing'}"


def _extra_cells_why(raw: dict) -> str:
    """The likely cause of a row with cells past the header's: a polygon written without quotes leaves its cell
    unclosed (``[[608``); else a cell typed beside the table. Why: a note right of a patches file's table (no
    polygon there) was blamed on a polygon."""
    polygon = raw.get("polygon")
    if isinstance(polygon, str) and polygon.strip().startswith("[") and not polygon.strip().endswith("]"):
        return "a polygon written without quotes? its commas split it"
    return "a cell beside the table, a note? name its column in the header, or remove it"


def _read_rows(csv_path: Path, images_root: Path | None, columns: Sequence[str],
               label: Callable[[dict, str, str, Path], BayLabel]) -> list[BayLabel]:
    """Every row of a labels CSV through ``label(row, where, file, image path)``: the required ``columns``
    checked, each problem named by file and line, a bay labelled twice refused. Image paths are relative to
    ``images_root`` (default: the CSV's folder); a spreadsheet's UTF-8 byte-order mark is accepted."""
    csv_path = Path(csv_path)
    root = Path(images_root) if images_root is not None else csv_path.parent
    out: list[BayLabel] = []
    first_line: dict[tuple[str, str], tuple[int, str]] = {}  # (image path, bay) → the line that labelled it, its file
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh, skipinitialspace=True)  # "file, bay_id, …" typed by hand
            header = list(reader.fieldnames or [])
            missing = [c for c in columns if c not in header]
            if missing:
                raise LabelError(f"{csv_path}: missing column(s) {', '.join(missing)}{header_note(reader.fieldnames)}")
            twice = repeated_column(header, READ_COLUMNS)
            if twice:
                raise LabelError(f"{csv_path}: {twice}")
            for raw in reader:
                if blank_row(raw):
                    continue
                extra = raw.get(None)  # cells past the header's (DictReader files them under None)
                if extra and any(isinstance(v, str) and v.strip() for v in extra):
                    raise LabelError(f"{csv_path}:{reader.line_num}: {len(extra)} more cells than the header's "
                                     f"{len(header)} ({_extra_cells_why(raw)})")
                # labels.csv's cells that a spreadsheet would run carry a quote (``occupancy.labels``): taken off
                row = {k: read_cell(v) if isinstance(v, str) else v for k, v in raw.items()}
                where = f"{csv_path}:{reader.line_num}"
                file = _text(row, "file", where)
                if "\0" in file:  # no file name holds one (os.open raises ValueError): was eval's traceback
                    raise LabelError(f"{where}: column 'file' holds a NUL character (\\0): no file name can")
                b = replace(label(row, where, file, image_path(root, file)), line=reader.line_num)
                # keyed by the image itself, not its spelling: ``./img/a.png``, ``img\\a.png`` or an absolute path
                # beside ``img/a.png`` (labels merged from two tools) scored the bay twice, silently
                first, spelt = first_line.setdefault((os.path.abspath(b.path), b.bay_id), (reader.line_num, b.file))
                if first != reader.line_num:  # scored twice, or against two flags: every figure moves silently
                    also = f", as {spelt}" if spelt != b.file else ""
                    raise LabelError(f"{where}: bay {b.bay_id!r} of {b.file} is labelled again (first at line "
                                     f"{first}{also}): keep one row per bay and image")
                out.append(b)
    except UnicodeDecodeError:
        raise LabelError(f"{csv_path}:{first_non_utf8_line(csv_path)}: not UTF-8 text: save the labels file "
                         "as UTF-8") from None
    except csv.Error as exc:  # a cell over 128 KiB: was a traceback from the csv module
        # line_num counts the lines read before the one it failed on
        raise LabelError(f"{csv_path}:{reader.line_num + 1}: not a labels CSV here ({exc})") from None
    return out


def read_frame_labels(csv_path: Path, images_root: Path | None = None) -> list[BayLabel]:
    """Bays of frames (bays-dev ``frames.csv`` format): bays drawn as polygons on whole camera images."""
    def label(row: dict, where: str, file: str, path: Path) -> BayLabel:
        return BayLabel(file=file, path=path, scene=row.get("scene") or "unknown",
                        bay_id=_text(row, "bay_id", where), occupied=_flag(row["occupied"], where),
                        weather=row.get("weather") or "unknown", daypart=row.get("daypart") or "unknown",
                        polygon=_polygon(row["polygon"], where), drawn=_drawn(row, where))
    return _read_rows(csv_path, images_root, FRAME_COLUMNS, label)


def read_patch_labels(csv_path: Path, images_root: Path | None = None) -> list[BayLabel]:
    """Bay patches (bays-dev ``patches.csv`` format): each image is one bay, cropped by ``patch_crop``.
    Rows without a ``bay_id`` are told apart by their file."""
    def label(row: dict, where: str, file: str, path: Path) -> BayLabel:
        return BayLabel(file=file, path=path, scene=row.get("scene") or "unknown",
                        bay_id=(row.get("bay_id") or "").strip() or file, occupied=_flag(row["occupied"], where),
                        weather=row.get("weather") or "unknown", daypart=row.get("daypart") or "unknown")
    return _read_rows(csv_path, images_root, PATCH_COLUMNS, label)


def read_labels(csv_path: Path, images_root: Path | None = None) -> list[BayLabel]:
    """A labels file in either bays-dev format, told apart by its header: with a ``polygon`` column it is
    frames (``frames.csv``: bays drawn on whole camera images), without one patches (``patches.csv``: every
    image is already one bay). Datasets ship either, and a user scoring a new lot should not have to convert."""
    csv_path = Path(csv_path)
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh, skipinitialspace=True), [])
    except UnicodeDecodeError:
        raise LabelError(f"{csv_path}:{first_non_utf8_line(csv_path)}: not UTF-8 text: save the labels file "
                         "as UTF-8") from None
    except csv.Error as exc:
        raise LabelError(f"{csv_path}:1: not a labels CSV here ({exc})") from None
    if "polygon" in header or "file" not in header or "occupied" not in header:
        return read_frame_labels(csv_path, images_root)  # its error names every missing column
    return read_patch_labels(csv_path, images_root)


def own_label_files(folder: Path = OWN_LABELS_DIR) -> list[Path]:
    """This project's own annotations of bays-dev frames (``models/labels/*.csv``)."""
    return sorted(Path(folder).glob("*.csv")) if Path(folder).is_dir() else []


def read_bays_dev(root: Path, scenes: Sequence[str] | None = None,
                  own_labels: Sequence[Path] = ()) -> list[BayLabel]:
    """Every labelled bay of a bays-dev folder (frames and patches), optionally only ``scenes``.

    ``own_labels``: frames.csv-style files whose ``file`` paths are relative to ``root``; for every
    scene they cover they replace the dataset's labels (polygons and flags both).
    """
    root = Path(root)
    labels: list[BayLabel] = []
    if (root / "frames.csv").is_file():
        labels += read_frame_labels(root / "frames.csv")
    if (root / "patches.csv").is_file():
        labels += read_patch_labels(root / "patches.csv")
    if not labels:
        raise LabelError(f"{root}: no frames.csv or patches.csv")
    ours = [replace(b, own=True) for f in own_labels for b in read_frame_labels(f, images_root=root)]
    ours = [b for b in ours if b.path.is_file()]  # annotations of frames this folder does not hold: not ours to use
    if ours:
        covered = {b.scene for b in ours}
        labels = [b for b in labels if b.scene not in covered] + ours
    if scenes is not None:
        wanted = set(scenes)
        labels = [b for b in labels if b.scene in wanted]
    return labels


def jitter_polygon(polygon: Sequence[tuple[float, float]], rng: np.random.Generator,
                   amount: float = 0.15) -> list[tuple[float, float]]:
    """The bay as another installer might have drawn it: the whole polygon shifted, scaled and turned a little,
    and each corner moved on its own, all in proportion to the bay's size."""
    pts = np.asarray(polygon, np.float64)
    c = pts.mean(axis=0)
    size = float(np.sqrt(max(abs(cv2.contourArea(pts.astype(np.float32))), 1.0)))
    ang = np.deg2rad(rng.uniform(-8, 8))
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    out = (pts - c) @ rot.T * np.exp(rng.uniform(np.log(0.85), np.log(1.2))) + c
    out += rng.uniform(-amount / 1.5, amount / 1.5, 2) * size + rng.uniform(-amount, amount, out.shape) * size
    return [(float(x), float(y)) for x, y in out]


def quarter_turned(path: Path) -> bool:
    """Whether ``path`` carries an EXIF orientation that turns it a quarter (5-8): the decoder shows it so, and a
    labelling tool that drew on the stored pixels wrote the size transposed. Only asked for a bay being skipped."""
    from PIL import Image

    from edge_agent.camera.decode import PILLOW_FORMATS  # never EPS: Pillow hands it to Ghostscript

    try:
        with Image.open(path, formats=PILLOW_FORMATS) as im:
            return im.getexif().get(0x0112) in (5, 6, 7, 8)
    except Exception:  # noqa: BLE001 - no header Pillow reads: nothing to say about it
        return False


def polygon_in_image(b: BayLabel, shape: tuple[int, ...], factor: int = 1) -> tuple[list[tuple[float, float]], str]:
    """``b``'s polygon in the pixels of its decoded image (``shape``, reduced ``factor`` times on decode), and
    "" — or why the image does not show the bay. Polygons are pixels of one image size: with the labels'
    ``width`` / ``height`` an image of that view at another size gets its polygons scaled (as the agent
    scales such frames), one of another aspect ratio is another view; and a polygon mostly outside the image
    was drawn on another picture (every such crop was scored, as the edge of the image stretched out)."""
    assert b.polygon is not None
    h, w = shape[:2]
    full = (w * factor, h * factor)
    if b.drawn is not None and b.drawn != full:
        if not same_shape(full, b.drawn):
            if same_shape(full, (b.drawn[1], b.drawn[0])) and quarter_turned(b.path):
                return [], (f"the image is {full[0]}x{full[1]} as displayed: its EXIF orientation turns the "
                            "stored picture a quarter, and polygons are read on the image as displayed (as the "
                            "agent's camera reads it); these were drawn on the stored pixels, "
                            f"{b.drawn[0]}x{b.drawn[1]} (columns width/height)")
            return [], (f"the image is {full[0]}x{full[1]} but the polygons were drawn on {b.drawn[0]}x"
                        f"{b.drawn[1]} (columns width/height): another aspect ratio, not the same view")
        sx, sy = w / b.drawn[0], h / b.drawn[1]
    else:
        sx = sy = 1.0 / factor
    poly = [(x * sx, y * sy) for x, y in b.polygon]
    hull = cv2.convexHull(bay_quad(poly).reshape(-1, 1, 2))
    area = cv2.contourArea(hull)
    frame = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32).reshape(-1, 1, 2)
    inside, _ = cv2.intersectConvexConvex(hull, frame)
    if inside < MIN_INSIDE_SHARE * area:
        return [], (f"{inside / area:.0%} of its polygon lies inside the {full[0]}x{full[1]} image (polygons drawn "
                    "on another image or size? frames.csv's width/height columns say which)")
    return poly, ""


def load_crops(labels: Sequence[BayLabel], size: int, variants: int = 0,
               rng: np.random.Generator | None = None,
               degrade: Callable[[np.ndarray], np.ndarray] | None = None,
               skipped: list[tuple[BayLabel, str]] | None = None,
               unreadable: dict[Path, str] | None = None) -> tuple[np.ndarray, list[BayLabel]]:
    """uint8 BGR crops [N, size, size, 3] of every label whose image reads; frames are read once.
    ``degrade``: applied to each whole image before cropping (``occupancy eval --degrade``).
    A frame bay its image does not show (``polygon_in_image``) is left out, and with why in ``skipped``; an image
    that cannot be read is named in ``unreadable`` with why (the path tried: "no such file: …").

    ``variants`` > 0: every bay of a frame is also cropped that many more times from a jittered polygon
    (``jitter_polygon``), so training sees the real surroundings that a looser or tighter polygon takes in
    (kerbs, islands, the neighbour's car), which a warp of the exact crop cannot invent.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    crops: list[np.ndarray] = []
    kept: list[BayLabel] = []
    cache: dict[Path, tuple[np.ndarray, int] | None] = {}
    for b in labels:
        if b.path not in cache:
            if len(cache) > 4:  # frames come grouped by file: keep a few, not all
                cache.clear()
            try:
                img, factor = read_image_scaled(b.path)
                cache[b.path] = (degrade(img) if degrade is not None else img), factor
            except (ImageReadError, OSError) as exc:
                cache[b.path] = None
                if unreadable is not None:
                    unreadable[b.path] = str(exc)
        got = cache[b.path]
        if got is None:
            continue
        img, factor = got  # a huge frame is decoded reduced: scale its polygon with it
        if b.polygon is not None:
            poly, why = polygon_in_image(b, img.shape, factor)
            if why:
                if skipped is not None:
                    skipped.append((b, why))
                continue
            crops.append(bay_crop(img, poly, size))
            kept.append(b)
            for _ in range(variants):
                crops.append(bay_crop(img, jitter_polygon(poly, rng), size))
                kept.append(b)
        else:
            crops.append(patch_crop(img, size))
            kept.append(b)
    arr = np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8)
    return arr, kept


def shippable_scenes(labels: Sequence[BayLabel]) -> list[str]:
    """Scenes a committed model may be trained on: the licence allows it, or the labels are our own."""
    own = {b.scene for b in labels if b.own}
    return list(SHIPPABLE) + [s for s in SHIPPABLE_WITH_OWN_LABELS if s in own]
