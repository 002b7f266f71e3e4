"""``edge-agent bench``: where the time goes, per stage, frame size and thread count.

Why these rows: the budget is one 1080p frame with one plate in ≤ 80 ms on 2 threads of a
small board. The naive baseline (full-resolution detection, recognition padded to width 320
with the whole 6,623-character dictionary) shows what the per-image scale and the plate
vocabulary buy; the curve over detector sizes shows what each millisecond buys in accuracy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from edge_agent import imfile
from edge_agent.config.perception import PerceptionConfig
from edge_agent.durable import write_output
from edge_agent.perception.colour import classify_colour
from edge_agent.perception.detector import PlateDetector
from edge_agent.perception.evaluate import evaluate, load_labels
from edge_agent.perception.imageio import read_image
from edge_agent.perception.pipeline import Pipeline
from edge_agent.perception.recognizer import create_recognizer, ppocr_v4_naive
from edge_agent.perception.rectify import rectify
from edge_agent.perception.sessions import SessionFactory
from edge_agent.plates import normalise_plate

PLATES_DEV = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "plates-dev" / "labels.csv"
FRAME_SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}


def median_ms(fn: Callable[[], object], repeat: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(times), 1)


def fit_frame(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The scene scaled to fit ``size`` (w, h) and centred on a grey canvas of exactly that size."""
    w, h = size
    s = min(w / img.shape[1], h / img.shape[0])
    nw, nh = round(img.shape[1] * s), round(img.shape[0] * s)
    canvas = np.full((h, w, 3), 114, np.uint8)
    x, y = (w - nw) // 2, (h - nh) // 2
    canvas[y:y + nh, x:x + nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    return canvas


def default_scene(labels: Path | None) -> Path:
    """A one-plate scene from the labels: the largest image whose single plate has a box."""
    if labels is None or not labels.is_file():
        raise FileNotFoundError("bench needs --image (plates-dev is not present)")
    best = None
    for name, rows in sorted(load_labels(labels).items()):
        if len(rows) == 1 and rows[0].box is not None and rows[0].text and not rows[0].double_row:
            path = labels.parent / name
            area = np.prod(imfile.imread(path, cv2.IMREAD_REDUCED_GRAYSCALE_8).shape[:2])
            if best is None or area > best[0]:
                best = (area, path)
    if best is None:
        raise FileNotFoundError(f"no one-plate scene in {labels}")
    return best[1]


def stage_rows(cfg: PerceptionConfig, models: Path, scene: np.ndarray, repeat: int) -> list[dict]:
    rows = []
    for threads in (1, 2):
        pipe = Pipeline.from_config(cfg.model_copy(update={"threads": threads}), models)
        for label, size in FRAME_SIZES.items():
            frame = fit_frame(scene, size)
            dets = pipe.detector.detect(frame)
            crop = rectify(frame, dets[0].corners) if dets else np.full((48, 168, 3), 128, np.uint8)
            rows.append({
                "threads": threads, "frame": label, "plates_found": len(dets),
                "detector_ms": median_ms(lambda: pipe.detector.detect(frame), repeat),
                "recognizer_ms": median_ms(lambda: pipe.recognizer.read([crop]), repeat),
                "colour_ms": median_ms(lambda: classify_colour(crop), repeat),
                "frame_ms": median_ms(lambda: pipe.process(frame), repeat),
            })
    return rows


def naive_ratio(cfg: PerceptionConfig, models: Path, scene: np.ndarray, repeat: int) -> dict:
    """1080p, 2 threads: ours vs full-resolution detection + padded full-dictionary recognition."""
    frame = fit_frame(scene, FRAME_SIZES["1080p"])
    cfg2 = cfg.model_copy(update={"threads": 2})
    ours = Pipeline.from_config(cfg2, models)
    sessions = SessionFactory(2, cfg.providers)
    det = PlateDetector(sessions.get(models / "clp_det.onnx"), size=max(frame.shape[:2]), max_upscale=1.0,
                        threshold=0.5)
    rec = ppocr_v4_naive(models, sessions)

    def naive() -> None:
        ds = det.detect(frame)
        if ds:
            rec.read([rectify(frame, d.corners) for d in ds])

    ours_ms = median_ms(lambda: ours.process(frame), repeat)
    naive_ms = median_ms(naive, repeat)
    return {"ours_ms": ours_ms, "naive_ms": naive_ms, "speedup": round(naive_ms / ours_ms, 2) if ours_ms else None}


def recognizer_rows(cfg: PerceptionConfig, models: Path, scene: np.ndarray, labels: Path | None,
                    repeat: int, n_crops: int = 200) -> list[dict]:
    """Each recogniser on the same crop (speed) and, with labels, on labelled plate crops (accuracy)."""
    frame = fit_frame(scene, FRAME_SIZES["1080p"])
    sessions = SessionFactory(2, cfg.providers)
    dets = PlateDetector(sessions.get(models / "clp_det.onnx"), size=cfg.det_size).detect(frame)
    crop = rectify(frame, dets[0].corners) if dets else np.full((48, 168, 3), 128, np.uint8)
    crops = _labelled_crops(labels, n_crops) if labels else []
    candidates = {"ppocr_v4": lambda: create_recognizer("ppocr_v4", models, sessions),
                  "clp_crnn": lambda: create_recognizer("clp_crnn", models, sessions),
                  "ppocr_v4 naive (w320, full dict)": lambda: ppocr_v4_naive(models, sessions),
                  "paddleocr": lambda: create_recognizer("paddleocr", models, sessions)}
    rows = []
    for name, make in candidates.items():
        try:
            rec = make()
        except Exception as exc:  # an extra that is not installed: say so, keep going
            rows.append({"recognizer": name, "skipped": f"{type(exc).__name__}: {exc}"[:120]})
            continue
        row = {"recognizer": name, "ms_per_plate": median_ms(lambda: rec.read([crop]), repeat)}
        if crops:
            got = [t for t, _, _ in rec.read([c for c, _ in crops])]
            # plate dots and spaces a general OCR emits are not held against it
            row["exact_on_crops"] = round(sum(normalise_plate(g) == t for g, (_, t) in zip(got, crops)) / len(crops), 4)
            row["crops"] = len(crops)
        rows.append(row)
    return rows


def _labelled_crops(labels: Path, n: int) -> list[tuple[np.ndarray, str]]:
    """Tight labelled plate crops (``scene=crop`` rows), evenly sampled, resized to 168×48."""
    rows = [r for rs in load_labels(labels, scene="crop").values() for r in rs if r.text and not r.double_row]
    step = max(1, len(rows) // n)
    out = []
    for r in rows[::step][:n]:
        try:
            img = read_image(labels.parent / r.file)
        except ValueError:
            continue
        out.append((cv2.resize(img, (168, 48), interpolation=cv2.INTER_AREA), r.text))
    return out


def curve_rows(cfg: PerceptionConfig, models: Path, scene: np.ndarray, labels: Path, sizes: list[int],
               repeat: int) -> list[dict]:
    frame = fit_frame(scene, FRAME_SIZES["1080p"])
    rows = []
    for size in sizes:
        c = cfg.model_copy(update={"det_size": size, "threads": 2})
        pipe = Pipeline.from_config(c, models)
        m = evaluate(pipe.process, labels, progress=False).metrics()
        rows.append({"det_size": size, "frame_1080p_ms": median_ms(lambda: pipe.process(frame), repeat),
                     "detection_recall": m["detection_recall"], "exact_text": m["exact_text_single_row"],
                     "nev_recall": m["nev_recall"], "eval_median_ms": m["latency_ms_median"]})
        print(f"  curve: det_size {size} done", file=sys.stderr)
    return rows


def _table(rows: list[dict]) -> str:
    if not rows:
        return "(none)"
    keys = list(dict.fromkeys(k for r in rows for k in r))
    widths = {k: max(len(k), *(len(str(r.get(k, ""))) for r in rows)) for k in keys}
    lines = ["  ".join(k.ljust(widths[k]) for k in keys)]
    lines += ["  ".join(str(r.get(k, "")).ljust(widths[k]) for k in keys) for r in rows]
    return "\n".join(lines)


def run(cfg: PerceptionConfig, models: Path, args: argparse.Namespace) -> int:
    labels = args.labels or (PLATES_DEV if PLATES_DEV.is_file() else None)
    try:
        scene_path = args.image or default_scene(labels)
        scene = read_image(scene_path)
    except (FileNotFoundError, ValueError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    print(f"scene: {scene_path} ({scene.shape[1]}x{scene.shape[0]}) fitted into 720p / 1080p frames; "
          f"det_size {cfg.det_size}, recogniser {cfg.recognizer}; medians of {args.repeat} runs")
    out: dict = {"scene": str(scene_path), "det_size": cfg.det_size, "recognizer": cfg.recognizer}
    out["stages"] = stage_rows(cfg, models, scene, args.repeat)
    print("\n== stages (ms)\n" + _table(out["stages"]))
    out["naive"] = naive_ratio(cfg, models, scene, args.repeat)
    n = out["naive"]
    print(f"\n== vs naive baseline (1080p, 2 threads): ours {n['ours_ms']} ms, naive {n['naive_ms']} ms, "
          f"{n['speedup']}x faster")
    out["recognizers"] = recognizer_rows(cfg, models, scene, labels, args.repeat)
    print("\n== recognisers side by side (2 threads)\n" + _table(out["recognizers"]))
    if labels and not args.no_curve:
        out["curve"] = curve_rows(cfg, models, scene, labels, args.sizes, args.repeat)
        print("\n== speed / accuracy over detector sizes (2 threads)\n" + _table(out["curve"]))
    if args.json:
        write_output(args.json, json.dumps(out, indent=2) + "\n")
    return 0
