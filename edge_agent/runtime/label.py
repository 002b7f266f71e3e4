"""``edge-agent occupancy label CONFIG [IMAGE|DIR ...] --out LABELS.csv``: the labels that
``occupancy calibrate`` needs, pre-filled by the agent's own classifier.

Writing ``file,bay_id,polygon,occupied`` by hand for 5 frames of 40 bays is what keeps a camera from
being calibrated. This writes the config's bay polygons for each frame with the classifier's guess
(``occupied`` 1 or 0 where it is sure, blank where it is not: ``calibrate`` refuses a blank, so every
doubt gets a human answer) and draws a sheet per frame (``sheets/``) with every bay outlined in its guess's
colour, so the installer corrects what the picture shows wrong instead of typing every bay.
Without images it grabs one frame from the configured camera: run it at a few times of day.
Rows already in the file are kept as they are (the installer's corrections survive a re-run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timezone
from pathlib import Path

import cv2
import numpy as np

from edge_agent import imfile
from edge_agent.bays.occupancy import OccupancyClassifier
from edge_agent.camera.source import folder_frames
from edge_agent.cliargs import output_ready
from edge_agent.clock import Clock, SystemClock
from edge_agent.config.models import AgentConfig
from edge_agent.occupancy.labels import COLUMNS, Guess, LabelInputError, append_rows, guess, read_existing

__all__ = ["COLUMNS", "Guess", "LabelInputError", "guess", "label", "read_existing"]

COLOURS = {"1": (40, 40, 230), "0": (60, 200, 60), "": (0, 215, 255)}  # BGR: occupied red, empty green, unsure amber
UNSEEN_COLOUR = (160, 160, 160)  # grey: the crop shows nothing, no row written
GRAB_TRIES = 25  # frames read from the camera before giving up (a stream's first frames can be grey)


def expand_images(paths: Sequence[Path]) -> list[Path]:
    """Image files as given, folders as their images in name order (numbers as numbers), without hidden files:
    a Mac's ``._000.jpg`` beside each frame of a copied folder stopped the command ("not a readable image")."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += [f for f in folder_frames(p) if f.is_file()]  # a FIFO there would block the read
        else:
            out.append(p)
    return out


def check_frame(image: np.ndarray, name: str, cfg: AgentConfig) -> None:
    """The bay polygons are in the camera's pixels: a frame of another size would label the wrong ground."""
    h, w = image.shape[:2]
    cam = cfg.camera
    if cam.width is not None and cam.height is not None and (w, h) != (cam.width, cam.height):
        raise LabelInputError(f"{name}: the image is {w}x{h} but camera.width/height say {cam.width}x{cam.height} "
                              "(the bay polygons are in the camera's pixels)")
    for bay in cfg.bays:
        xs, ys = [x for x, _ in bay.polygon], [y for _, y in bay.polygon]
        if min(xs) < 0 or min(ys) < 0 or max(xs) > w or max(ys) > h:
            raise LabelInputError(f"{name}: bay {bay.id} lies outside this {w}x{h} image "
                                  "(the bay polygons are in the camera's pixels)")


def grab(cfg: AgentConfig, folder: Path, clock: Clock | None = None) -> Path:
    """One frame from the configured camera, saved as ``folder/<UTC time>Z.jpg``, turned as the agent turns it
    (``camera.rotate`` / ``flip``): the bay polygons are drawn on that view. UTC, not the site's local time: in the
    hour a DST fall-back repeats, a grab named by the local clock took the name of the one an hour before and wrote
    over it (and names sorted out of time order). Names written before (local, no ``Z``) are read as any image."""
    from edge_agent.camera.orient import Orientation
    from edge_agent.camera.source import default_opener

    c = cfg.camera
    cap = default_opener(c.source, False, read_timeout_s=c.lost_after_s, open_timeout_s=c.open_timeout_s)()
    try:
        frame = None
        for _ in range(GRAB_TRIES if cap.isOpened() else 0):
            ok, img = cap.read()
            if ok and img is not None:
                frame = img
                break
    finally:
        cap.release()
    if frame is None:
        raise LabelInputError("camera.source: no frame could be read (a USB camera the running agent holds opens "
                              "for one process only: stop the agent while grabbing; see `edge-agent doctor`)")
    frame = Orientation.of(cfg.camera).apply(frame)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = (clock or SystemClock()).now().astimezone(timezone.utc).strftime("%Y-%m-%d_%H_%M_%SZ")
    path = folder / f"{stamp}.jpg"
    if not imfile.imwrite(path, frame, [cv2.IMWRITE_JPEG_QUALITY, 95]):
        raise LabelInputError(f"{path}: cannot write the grabbed frame")
    return path


def draw_sheet(image: np.ndarray, cfg: AgentConfig, guesses: Sequence[Guess]) -> np.ndarray:
    """Every bay outlined in its guess's colour with its id and p, for the installer to check."""
    out = image.copy()
    by_id = {g.bay_id: g for g in guesses}
    scale = max(0.4, min(out.shape[:2]) / 1000)
    thick = max(1, round(2 * scale))
    for bay in cfg.bays:
        g = by_id[bay.id]
        pts = np.round(np.array(bay.polygon, dtype=np.float64)).astype(np.int32)
        colour = UNSEEN_COLOUR if g.unseen else COLOURS[g.occupied]
        cv2.polylines(out, [pts], True, colour, thick, cv2.LINE_AA)
        text = f"{bay.id} {g.unseen}" if g.unseen else f"{bay.id} {g.p:.2f}{'' if g.occupied else ' ?'}"
        cx, cy = pts.mean(axis=0).astype(int)
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, thick)
        org = (int(cx - tw / 2), int(cy + th / 2))
        cv2.rectangle(out, (org[0] - 2, org[1] - th - 2), (org[0] + tw + 2, org[1] + 4), (0, 0, 0), -1)
        cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, colour, thick, cv2.LINE_AA)
    return out


def relative(path: Path, folder: Path) -> str:
    """The image as the labels file will name it: relative to the CSV's folder where possible."""
    try:
        return os.path.relpath(path.absolute(), folder.absolute())
    except ValueError:  # another drive
        return str(path.absolute())


def sheet_name(file: str) -> str:
    """The sheet of a labelled file: its path as the labels file names it, folders joined by "_" (two frames
    called 000.jpg in two folders get two sheets)."""
    parts = [p for p in Path(file).with_suffix(".jpg").parts if p not in ("..", ".") and p != Path(file).anchor]
    return "_".join(parts)


@dataclass(frozen=True)
class Labelled:
    new: list[dict[str, str]]  # rows added
    kept: int  # rows already in the file
    unseen: int  # bays left out: their crop showed nothing


def label(cfg: AgentConfig, images: Sequence[Path], out: Path, classifier: OccupancyClassifier, model_name: str
          ) -> Labelled:
    """Guesses for every bay of every image, appended to ``out``; returns the new rows and the rows kept.
    A bay whose crop shows nothing (uniform, burnt out: ``bays.blank``) gets no row: the agent never
    classifies such a crop, and a label on it would teach the site head glare, not vehicles."""
    from edge_agent.camera.decode import ImageReadError, decode_file

    folder = out.parent
    existing = read_existing(out)
    done = {(r["file"], r["bay_id"]) for r in existing}
    sheets = folder / "sheets"
    polygons = {b.id: [tuple(p) for p in b.polygon] for b in cfg.bays}
    occ = cfg.occupancy
    new: list[dict[str, str]] = []
    skipped = 0
    for path in images:
        try:
            decoded = decode_file(path)
        except ImageReadError as exc:
            raise LabelInputError(str(exc)) from exc
        if decoded.factor != 1:
            raise LabelInputError(f"{path}: over the pixel limit, decoded reduced: the bay polygons would not fit")
        check_frame(decoded.image, str(path), cfg)
        name = relative(path, folder)
        unseen: dict[str, str] = {}
        guesses = guess(classifier.classify(decoded.image, polygons, unseen), occ.enter_p, occ.exit_p, unseen)
        new += [{"file": name, "bay_id": g.bay_id, "polygon": json.dumps([list(p) for p in polygons[g.bay_id]]),
                 "occupied": g.occupied, "p_occupied": f"{g.p:.3f}", "model": model_name}
                for g in guesses if (name, g.bay_id) not in done and not g.unseen]
        skipped += sum(1 for g in guesses if g.unseen and (name, g.bay_id) not in done)
        sheets.mkdir(parents=True, exist_ok=True)
        imfile.imwrite(sheets / sheet_name(name), draw_sheet(decoded.image, cfg, guesses))
    new, existing = append_rows(out, new)  # the one writer (occupancy/labels.py), under the folder lock
    return Labelled(new, len(existing), skipped)


def label_command(args: argparse.Namespace) -> int:
    """``edge-agent occupancy label`` (its parser: ``runtime/occupancy_commands.py``)."""
    from edge_agent.config.load import load_config
    from edge_agent.runtime.models import classifier_files, default_classifier

    cfg = load_config(args.config)  # ConfigError: reported by the cli, exit 2
    classifier = default_classifier(cfg)  # the model (and calibration) the agent runs: its guesses, its mistakes
    model, cal = classifier_files(cfg)
    out: Path = args.out
    if not output_ready("occupancy label", "--out", out, out.parent, out.parent / "sheets"):  # before the grab
        return 2
    try:
        read_existing(out)  # one that cannot be appended to is said before the camera grab and the sheets
        images = expand_images(args.images) if args.images else [grab(cfg, out.parent / "frames")]
        if not images:
            raise LabelInputError(f"no images in {', '.join(map(str, args.images))}")
        done = label(cfg, images, out, classifier, model.name + (f" + {cal.name}" if cal else ""))
    except LabelInputError as exc:
        print(f"occupancy label: {exc}", file=sys.stderr)
        return 2
    new = done.new
    unsure = sum(1 for r in new if not r["occupied"])
    occupied = sum(1 for r in new if r["occupied"] == "1")
    print(f"{out}: {len(new)} bays of {len(images)} frame(s) added ({done.kept} rows kept): {occupied} guessed "
          f"occupied, {len(new) - occupied - unsure} empty, {unsure} left blank (the classifier was unsure)")
    if done.unseen:
        print(f"{done.unseen} bay(s) left out: the frame shows nothing of them (uniform or burnt out, grey on the "
              "sheets; the agent holds such a bay unseen and keeps its lock down). Label them on a frame without "
              "the glare or darkness, and check the lens (see `edge-agent doctor`, row 'bay view')")
    print(f"Check every bay on the sheets in {out.parent / 'sheets'} (red: occupied, green: empty, amber: unsure), "
          "correct the 'occupied' column (1 a vehicle, 0 empty, blanks must be filled), then run:\n"
          f"  edge-agent occupancy calibrate {out} --out {Path(cfg.data_dir) / 'occupancy-calibration.json'}\n"
          "and set occupancy.calibration: occupancy-calibration.json (read relative to data_dir)")
    return 0
