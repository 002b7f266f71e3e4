"""Plate detector on ``clp_det.onnx``: a RetinaFace-style net giving a box and 4 corners.

Why per-image scale: the net's anchors cover plates of roughly 24–768 px. Small street
plates vanish when a 1080p frame is shrunk, while phone close-ups are already above the
largest anchor — so the longest side is brought to ``size`` (small images are enlarged up
to ``max_upscale``), and plates that come out small get a second, zoomed-in pass that
both finds their corners more exactly and keeps the province character inside them.

Why a zoom pass (``zoom_pass``, off unless asked for): an image larger than ``size`` is shrunk
for the frame pass, and a plate that comes out under the smallest anchor is never found, though
the image holds enough pixels to read it — a distant car in a phone photo, a photo pasted small
into a screenshot, two photos side by side. A second pass over the whole image at ``zoom_pass``
times the first one's scale (never beyond the image's own pixels) adds the plates the first
missed; those it found keep their corners from the frame pass.

Why a bay region may zoom alone (``region_zoom``): the agent reads a busy bay's region at the whole
frame's scale, so a far bay's plate on a 1080p camera is halved under the smallest anchor there
(plates-dev at 50 px in a 1080p frame: 23 of 150 found, 135 zoomed); the region's zoomed pass costs
only its own pixels, where a whole frame's costs 4–5× the detector.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from math import ceil

import cv2
import numpy as np

from edge_agent.perception.types import Region

MIN_SIZES = ((24, 48), (96, 192), (384, 768))
STEPS = (8, 16, 32)
VARIANCES = (0.1, 0.2)
MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)
# landms order in the model: bottom-right, bottom-left, top-left, top-right → TL, TR, BR, BL
_LANDMARK_TO_TL_TR_BR_BL = (2, 3, 0, 1)
REDETECT_MAX = 480.0  # px: wider than this a plate nears the largest anchor (384–768)
#: The largest input of a zoom pass past the first (a 12 MP phone photo, 4032×3024): passes grow with the area
DEEP_PASS_MAX_PIXELS = 4032 * 3024
PRIORS_KEPT = 32  # input shapes whose anchor grids are kept
BLOBS_KEPT = 4  # input buffers kept: the whole frame's and those of the bay regions read every frame


def clip_region(region: Region, w: int, h: int) -> Region:
    x1, y1, x2, y2 = (int(v) for v in region)
    return max(0, x1), max(0, y1), min(w, x2), min(h, y2)


@dataclass(frozen=True)
class Detection:
    corners: np.ndarray  # (4, 2) float32 TL, TR, BR, BL in image pixels
    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    score: float

    @property
    def width(self) -> float:
        c = self.corners
        return float((np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[2] - c[3])) / 2)


def make_priors(height: int, width: int) -> np.ndarray:
    """RetinaFace priors (cx, cy, w, h), normalised to the input size."""
    # reference order: per level, per cell (row-major), per anchor size
    priors = []
    for (sizes, step) in zip(MIN_SIZES, STEPS):
        fh, fw = ceil(height / step), ceil(width / step)
        cy, cx = np.meshgrid((np.arange(fh) + 0.5) * step / height, (np.arange(fw) + 0.5) * step / width, indexing="ij")
        cells = np.stack([cx.ravel(), cy.ravel()], axis=-1)
        wh = np.array([[s / width, s / height] for s in sizes], dtype=np.float64)
        lvl = np.concatenate([np.repeat(cells, len(sizes), axis=0), np.tile(wh, (len(cells), 1))], axis=1)
        priors.append(lvl)
    return np.concatenate(priors).astype(np.float32)


def decode(loc: np.ndarray, landms: np.ndarray, priors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (x1,y1,x2,y2) and landmarks (4 points) normalised to [0,1] of the input."""
    v0, v1 = VARIANCES
    centres = priors[:, :2] + loc[:, :2] * v0 * priors[:, 2:]
    sizes = priors[:, 2:] * np.exp(loc[:, 2:] * v1)
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1)
    pts = priors[:, None, :2] + landms.reshape(-1, 4, 2) * v0 * priors[:, None, 2:]
    return boxes, pts


class PlateDetector:
    """``detect(image_bgr) -> list[Detection]`` in the image's own pixels."""

    reads_regions = True  # any input size: a region is found at the whole frame's scale for its pixels' cost

    def __init__(self, session, size: int = 960, threshold: float = 0.5, nms: float = 0.4,
                 max_upscale: float = 2.0, refine_below: float = 0.0, refine_target: float = 160.0,
                 zoom_pass: float = 0.0, region_zoom: float = 0.0) -> None:
        self.session = session
        self.size = size
        self.threshold = threshold
        self.nms = nms
        self.max_upscale = max_upscale
        self.refine_below = refine_below  # plates narrower than this (px in the image) get a zoomed second pass
        self.refine_target = refine_target
        self.zoom_pass = zoom_pass  # > 1: an image shrunk for the frame pass gets a second one this much larger
        self.region_zoom = region_zoom  # the same for a region read (the larger of the two applies there)
        self._priors: dict[tuple[int, int], np.ndarray] = {}
        self._blobs: dict[tuple[int, int], np.ndarray] = {}
        self._input = session.get_inputs()[0].name

    def _blob_for(self, ph: int, pw: int) -> np.ndarray:
        """The input buffer, kept while the shape repeats (a fixed camera's frames): a fresh one per
        frame costs the kernel zeroing 6 MB of pages each time (half the CPU with small heaps)."""
        blob = self._blobs.pop((ph, pw), None)
        if blob is None:
            blob = np.empty((1, 3, ph, pw), np.float32)
        self._blobs[(ph, pw)] = blob  # most recent last; the whole frame's and a few bay regions'
        while len(self._blobs) > BLOBS_KEPT:
            del self._blobs[next(iter(self._blobs))]
        return blob

    def scale_for(self, h: int, w: int) -> float:
        return min(self.size / max(h, w), self.max_upscale)

    def detect(self, image: np.ndarray, region: Region | None = None) -> list[Detection]:
        """Plates in ``image``; with ``region`` (x1, y1, x2, y2) only those inside it, found at the
        scale the whole image would get (same plates, a fraction of the pixels)."""
        h, w = image.shape[:2]
        scale = self.scale_for(h, w)
        x1, y1, x2, y2 = (0, 0, w, h) if region is None else clip_region(region, w, h)
        if region is not None and (x2 - x1 < 8 or y2 - y1 < 8):
            return []
        part = image if region is None else image[y1:y2, x1:x2]
        dets = self._run(part, scale, (x1, y1), True)
        zoom = self.zoom_pass if region is None else max(self.zoom_pass, self.region_zoom)
        level = scale
        while zoom > 1 and level < 1:  # a far bay's plate is as small in its region as in the frame
            level = min(1.0, level * zoom)
            dets += [d for d in self._run(part, level, (x1, y1)) if not _covered(d, dets)]
            # deeper only while nothing is found, and never in a camera's region reads (a frame's time budget);
            # an input at most a phone photo's pixels (a blank 48 MP image would be a 48 MP pass), and only a pass
            # that enlarges by half an octave at least (0.96 → 1.0 sees the same plates at the cost of both)
            deeper = min(1.0, level * zoom, math.sqrt(DEEP_PASS_MAX_PIXELS / (part.shape[0] * part.shape[1])))
            if dets or region is not None or deeper < level * math.sqrt(zoom):
                break
            level = deeper / zoom
        if region is None and self.zoom_pass > 1:  # a still photo's passes (a camera's frames never pay this one)
            dets = self._zoomed_out(part, scale, dets)
        if self.refine_below > 0:
            dets = [self._refine(image, d) if d.width < self.refine_below else d for d in dets]
        return dets

    def _zoomed_out(self, image: np.ndarray, scale: float, dets: list[Detection]) -> list[Detection]:
        """A close-up: a plate wider than ``REDETECT_MAX`` at the net's input outgrows its largest anchors and is
        found in pieces or not at all (a phone photo of the plate, 90 % of its width: plates-dev's so cropped,
        found 0.67, read 0.38); a photo in which one is that wide (or nothing) is searched again shrunk so that
        even a plate its whole width is half ``REDETECT_MAX`` (well inside the anchors: shrunk to ``REDETECT_MAX``,
        a plate 90 % of the width sat at their edge and its corners strayed — a left edge 12 % of the plate in read
        浙 as 新, a double-row plate's top row cut read 苏E as 苏B: wrong complete reads, review40), and what that
        pass finds replaces what it covers. Only a large find counts (half ``REDETECT_MAX`` at the frame pass, a
        quarter of its width): a smaller plate is that pass's to find, at more pixels."""
        h, w = image.shape[:2]
        out = REDETECT_MAX / 2 / w
        if out >= scale or (dets and max(d.width for d in dets) * scale <= REDETECT_MAX):
            return dets
        found = [d for d in self._run(image, out) if d.width * scale > REDETECT_MAX / 2]
        if not found:
            return dets
        return found + [d for d in dets if not _covered(d, found)]

    def _run(self, image: np.ndarray, scale: float, offset: tuple[float, float] = (0.0, 0.0),
             reuse: bool = False) -> list[Detection]:
        """One pass of the net; ``reuse``: the frame's own pass, whose input buffer is kept for the next."""
        h, w = image.shape[:2]
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        resized = cv2.resize(image, (nw, nh), interpolation=interp) if (nh, nw) != (h, w) else image
        ph, pw = ceil(nh / 32) * 32, ceil(nw / 32) * 32  # pad so every level's grid is whole
        blob = self._blob_for(ph, pw) if reuse else np.empty((1, 3, ph, pw), np.float32)
        blob[0, :, nh:, :] = 0
        blob[0, :, :, nw:] = 0
        for c in range(3):  # straight into the model's planar layout: no HWC float copy, no transpose copy
            np.subtract(resized[:, :, c], MEAN_BGR[c], out=blob[0, c, :nh, :nw], dtype=np.float32)
        loc, conf, landms = self.session.run(None, {self._input: blob})
        priors = self._priors.get((ph, pw))
        if priors is None:
            if len(self._priors) >= PRIORS_KEPT:  # bay regions and refine windows come in many shapes
                del self._priors[next(iter(self._priors))]
            priors = self._priors[(ph, pw)] = make_priors(ph, pw)
        scores = conf[0, :, 1]
        keep = np.flatnonzero(scores > self.threshold)
        if keep.size == 0:
            return []
        boxes, pts = decode(loc[0, keep], landms[0, keep], priors[keep])
        size = np.array([pw, ph], np.float32) / scale
        boxes = boxes * np.tile(size, 2) + np.tile(np.asarray(offset, np.float32), 2)
        pts = pts * size + np.asarray(offset, np.float32)
        sc = scores[keep]
        xywh = [[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])] for b in boxes]
        idx = cv2.dnn.NMSBoxes(xywh, sc.astype(float).tolist(), self.threshold, self.nms)
        out = []
        for i in np.asarray(idx).reshape(-1):
            corners = pts[i][list(_LANDMARK_TO_TL_TR_BR_BL)].astype(np.float32)
            out.append(Detection(corners, tuple(float(v) for v in boxes[i]), float(sc[i])))
        return sorted(out, key=lambda d: -d.score)

    def detect_rolled(self, image: np.ndarray, degrees: float) -> list[Detection]:
        """The plates of an image turned ``degrees`` each way, in the image's own pixels (the
        Pipeline's roll pass, for a photo in which ``detect`` found none):
        the net misses more plates the further a photo is rolled (plates-dev's photos turned 15° lost
        2 % of their plates, turned 25° 15 %: a phone held askew, a camera on a tilted pole). Corners
        keep the plate's reading order (its top-left first).

        The image is shrunk to the detector's scale *before* it is turned: the turned canvas of a wide
        photo is many times its area (a 20000×600 panorama turned 20° is 140 MP: 0.84 GB and 9 s, a
        17 KB 65500×2 JPEG 8 GB), while the net reads it at ``size`` anyway."""
        h, w = image.shape[:2]
        cos, sin = abs(math.cos(math.radians(degrees))), abs(math.sin(math.radians(degrees)))
        shrink = self.scale_for(h * cos + w * sin, h * sin + w * cos)  # the whole turned canvas's scale
        small = image
        if shrink < 1:
            small = cv2.resize(image, (max(1, round(w * shrink)), max(1, round(h * shrink))),
                               interpolation=cv2.INTER_AREA)
        sh, sw = small.shape[:2]
        to_image = np.array([w / sw, h / sh], np.float32)  # the shrunk image's pixels back to the image's
        found: list[Detection] = []
        for angle in (degrees, -degrees):
            m = cv2.getRotationMatrix2D((sw / 2, sh / 2), angle, 1.0)
            tw, th = ceil(sh * sin + sw * cos), ceil(sh * cos + sw * sin)
            m[0, 2] += tw / 2 - sw / 2
            m[1, 2] += th / 2 - sh / 2
            turned = cv2.warpAffine(small, m, (tw, th), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            back = cv2.invertAffineTransform(m)
            for d in self._run(turned, 1.0 if shrink < 1 else self.scale_for(th, tw)):
                c = cv2.transform(d.corners[None].astype(np.float32), back)[0].astype(np.float32) * to_image
                box = (float(c[:, 0].min()), float(c[:, 1].min()), float(c[:, 0].max()), float(c[:, 1].max()))
                det = Detection(c, box, d.score)
                if not _covered(det, found):
                    found.append(det)
        if self.refine_below > 0:  # as ``detect``: a small plate's corners from a zoomed second look
            found = [self._refine(image, d) if d.width < self.refine_below else d for d in found]
        return sorted(found, key=lambda d: -d.score)

    def redetect(self, image: np.ndarray, det: Detection, zoom: float = 2.0) -> Detection:
        """Re-detect one plate in an enlarged window, ``zoom`` times larger than a refine pass
        would show it (capped where plates outgrow the largest anchor): an incomplete read's
        second look. Returns ``det`` itself when nothing better is found."""
        return self._refine(image, det, min(max(self.refine_target, det.width) * zoom, REDETECT_MAX))

    def _refine(self, image: np.ndarray, det: Detection, target: float | None = None) -> Detection:
        """Re-detect inside a window around a small plate, enlarged so the plate is ``target``
        (default ``refine_target``) px wide."""
        h, w = image.shape[:2]
        x1, y1, x2, y2 = det.box
        bw, bh = x2 - x1, y2 - y1
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        half = max(bw, bh * 3) * 1.5
        wx1, wy1 = int(max(0, cx - half)), int(max(0, cy - half))
        wx2, wy2 = int(min(w, cx + half)), int(min(h, cy + half))
        if wx2 - wx1 < 8 or wy2 - wy1 < 8:
            return det
        scale = min((target or self.refine_target) / max(det.width, 1.0), 8.0)
        # never a bigger input than a whole frame's pass: memory and time grow with its area
        scale = min(scale, self.size / max(wx2 - wx1, wy2 - wy1))
        found = self._run(image[wy1:wy2, wx1:wx2], scale, (wx1, wy1))
        if not found:
            return det
        best = max(found, key=lambda d: iou(d.box, det.box))
        return best if iou(best.box, det.box) > 0.3 else det


def _covered(det: Detection, dets: list[Detection]) -> bool:
    """``det`` is a plate already in ``dets``: overlapping one, or its centre inside one."""
    cx, cy = (det.box[0] + det.box[2]) / 2, (det.box[1] + det.box[3]) / 2
    return any(iou(det.box, d.box) > 0.1 or (d.box[0] <= cx <= d.box[2] and d.box[1] <= cy <= d.box[3]) for d in dets)


def iou(a, b) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
