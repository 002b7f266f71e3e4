"""Is there a vehicle in this bay? A small CNN on each bay's crop, run with onnxruntime.

The model (``models/occupancy.onnx``, trained by ``edge-agent occupancy train``) takes raw BGR
pixels, float32 [N, 3, S, S] in 0..255, and returns p(occupied) [N] in 0..1: the normalisation
and the sigmoid live inside the graph, so this class only crops, stacks and transposes.
The session is injected (one per process, shared by whoever needs it); ``load`` builds one.
A model exported with a second output, ``features`` (the pooled features its linear head reads), can
take a per-site calibration (``edge_agent.bays.calibration``): a head refitted on this camera's labels.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_agent.bays.blank import crop_problem
from edge_agent.bays.calibration import VIEW_LIKENESS, CalibrationError, Head, SiteCalibration, file_sha256
from edge_agent.bays.crop import bay_crop
from edge_agent.bays.model_files import DEFAULT_MODEL, SITE_MODEL  # noqa: F401 - SITE_MODEL: its importers

Polygon = Sequence[tuple[float, float]]

MAX_BATCH = 64  # bounds the activation memory of one run; a site has tens of bays, not thousands
# frames whose view is not the calibration's (``SiteCalibration.view_of``) before the set-aside is said (heartbeat,
# log); the frames before it are read uncalibrated already. Several: a first frame of a camera still opening (grey,
# smeared) is no verdict on the view
VIEW_MISSES = 10
# after those, frames between two looks at the view while it is still not the calibration's: a look costs 4-11 ms
# (2-core x86, 5-8 kept pictures), every frame for as long as a cloned camera runs (review92); the bays are read
# uncalibrated meanwhile (the careful side), so a view shown later is taken up to this many frames late
VIEW_RECHECK = 16

log = logging.getLogger(__name__)


class BayClassifier:
    """p(occupied) for bay crops, batched; one shared onnxruntime session."""

    def __init__(self, session: Any, calibration: SiteCalibration | None = None,
                 model_sha256: str = "") -> None:  # session: onnxruntime.InferenceSession or alike
        inp = session.get_inputs()[0]
        shape = inp.shape
        if len(shape) != 4 or shape[1] != 3 or not isinstance(shape[2], int) or shape[2] != shape[3]:
            raise ValueError(f"occupancy model input must be [N, 3, S, S], got {shape}")
        self.session = session
        self.size = int(shape[2])
        # this thread's last ``classify`` crops (``crops``): per thread, as the installer page classifies too
        self._made = threading.local()
        self.model_sha256 = model_sha256
        self._input = inp.name
        outputs = {o.name: o for o in session.get_outputs()}
        self._p_out = next(iter(outputs))
        self._f_out = "features" if "features" in outputs else None
        self.n_features = int(outputs["features"].shape[1]) if self._f_out else 0
        if calibration is not None and self._f_out is None:
            raise CalibrationError("this occupancy model has no 'features' output: it cannot be calibrated")
        self.calibration = calibration
        # why the configured site calibration is not in use (``runtime.models.default_classifier``): the heartbeat
        # and the doctor say it; None while it is, or none is configured
        self.set_aside: str | None = None
        # bays the site head was not fitted on as they are drawn now (added, renamed or redrawn since: ``not_fitted_on``,
        # ``moved_outlines``): their p is the baseline model's (``occupancy.onnx``, as an uncalibrated site reads
        # them), or the shipped head's of the same run where the calibrated model is that one. A head reads ground it
        # never saw wrong more often than the shipped model (docs/occupancy.md); and the calibratable model's own
        # head, on lots it never saw, is no better than ``occupancy.onnx`` on average (0.887 against 0.891) and far
        # worse on one (PKLot 0.588 against 0.859: stained asphalt read as cars), with more parked cars read surely
        # empty (NORPark 2.1 % against 0.8 % p <= 0.3)
        self.shipped_bays: frozenset[str] = frozenset()
        # with a site calibration, the model an uncalibrated site runs (``occupancy.onnx``), where it is another
        # model (``runtime.models.default_classifier``), and the shipped head's p below which it reads the crop too.
        # Why: the calibratable model's own shipped head reads more parked cars surely empty than ``occupancy.onnx``
        # (NORPark: 2.1 % of cars p <= 0.3 against 0.8 %), so a raise "both heads" allowed could stand on weaker
        # evidence than an uncalibrated site's. Its p, where read, is folded into ``shipped`` (the higher of the two)
        self.baseline: BayClassifier | None = None
        self.baseline_below = 1.0
        # whether a live frame has shown the view the calibration's labels were cut on (``_view_shown``); until one
        # does the bays are read as an uncalibrated site reads them
        self._view_seen = False
        self._view_misses = 0
        self._view_frames = 0  # frames asked since the set-aside was said (``VIEW_RECHECK``)

    @classmethod
    def load(cls, path: str | Path = DEFAULT_MODEL, threads: int = 1,
             calibration: str | Path | None = None) -> BayClassifier:
        """The model at ``path``; with ``calibration``, that site head (refused if made for another model).
        A file onnxruntime cannot load is a ``ModelLoadError`` (a ``ValueError``), never onnxruntime's own."""
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"occupancy model not found: {path}")
        so = ort.SessionOptions()
        so.intra_op_num_threads = max(1, int(threads))
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        from edge_agent.perception.sessions import ModelLoadError

        try:
            session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's own types (InvalidProtobuf, Fail…), no common base
            why = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise ModelLoadError(f"occupancy model {path} cannot be loaded ({why})") from None
        clf = cls(session, model_sha256=file_sha256(path))  # ValueError: a model of another input shape
        if calibration is not None:
            if clf._f_out is None:
                raise CalibrationError(f"{path}: this model has no 'features' output: it cannot be calibrated")
            clf.calibration = SiteCalibration.load(Path(calibration), clf.model_sha256, clf.n_features, path.name)
        return clf

    def head(self) -> Head:
        """The shipped linear head (from the model's metadata): the prior a site calibration starts from."""
        raw = self.session.get_modelmeta().custom_metadata_map.get("head")
        if raw is None or self._f_out is None:
            raise CalibrationError("this occupancy model carries no head weights: retrain it to calibrate")
        return Head.parse(json.loads(raw), "model metadata")

    def predict(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """p(occupied) per crop, float32 [N] in [0, 1] (through the site head when calibrated). Crops are
        uint8 BGR; any other size is resized to the model's (``bay_crop(..., size=clf.size)`` avoids that)."""
        return self.predict_both(crops)[0]

    def predict_both(self, crops: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """``predict``'s p, and with a site calibration the shipped head's p of the same crops (None without one),
        from the same run of the model (both outputs at once). Why: a head refitted on a few labelled frames reads
        more parked cars surely empty than the shipped one (NORPark, 5 frames: 1.8 % of cars p <= 0.3 against
        0.8 %), so the lock's raise asks both (``bays.vision``), and ``classify`` the baseline model too."""
        if self.calibration is None:
            return _probability(self._run(crops, self._p_out).reshape(-1)), None
        if len(crops) == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.float32)
        assert self._f_out is not None  # (a calibration is refused for a model without features)
        feats, shipped = self._run_outputs(crops, [self._f_out, self._p_out])
        z = self.calibration.head.logits(feats)
        p = (1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))).astype(np.float32)
        return _probability(p), _probability(shipped.reshape(-1))

    def features(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """The pooled features [N, F] the head reads (models exported with a ``features`` output)."""
        if self._f_out is None:
            raise CalibrationError("this occupancy model has no 'features' output")
        return self._run(crops, self._f_out)

    def _run(self, crops: Sequence[np.ndarray], output: str) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0,) if output == self._p_out else (0, self.n_features), dtype=np.float32)
        return self._run_outputs(crops, [output])[0]

    def _run_outputs(self, crops: Sequence[np.ndarray], outputs: list[str]) -> list[np.ndarray]:
        """The named outputs of one run of the model over ``crops`` (not empty), batched."""
        batch = np.stack([self._fit(c) for c in crops]).astype(np.float32).transpose(0, 3, 1, 2)
        runs = [self.session.run(outputs, {self._input: batch[i:i + MAX_BATCH]}) for i in range(0, len(batch), MAX_BATCH)]
        return [np.concatenate([np.asarray(r[k], dtype=np.float32) for r in runs]) for k in range(len(outputs))]

    @property
    def crops(self) -> dict[str, np.ndarray]:
        """The crops this thread's last ``classify`` made, by bay: the bays stage's blur check (``bays.blur``)
        measures them instead of cropping every classified bay a second time."""
        return getattr(self._made, "crops", {})

    @property
    def shipped(self) -> dict[str, float]:
        """With a site calibration, the shipped head's p of the bays this thread's last ``classify`` judged, or the
        baseline model's where it read the crop and reads it higher (``baseline``, ``_with_baseline``; empty without
        a calibration: its p is the shipped head's already). The bays stage carries it in each bay's verdict."""
        return getattr(self._made, "shipped", {})

    def classify(self, frame_bgr: np.ndarray, polygons: Mapping[str, Polygon],
                 unseen: dict[str, str] | None = None) -> dict[str, float]:
        """p(occupied) per bay id for one frame. With ``unseen``, a bay whose crop shows nothing
        (``bays.blank``: uniform, burnt out) is not classified: its p is NaN and ``unseen[bay]`` says why."""
        site = self.calibration is not None and self._view_shown(frame_bgr)
        if self.calibration is not None and not site and self.baseline is not None:
            read = self.baseline.classify(frame_bgr, polygons, unseen)
            self._made.crops, self._made.shipped = self.baseline.crops, {}
            return read
        crops = {b: bay_crop(frame_bgr, polygon, size=self.size) for b, polygon in polygons.items()}
        self._made.crops = crops
        blank = {} if unseen is None else {b: why for b, c in crops.items() if (why := crop_problem(c)) is not None}
        if unseen is not None:
            unseen.update(blank)
        judged = [b for b in crops if b not in blank]
        p, shipped = self.predict_both([crops[b] for b in judged])
        made = {} if shipped is None else {b: float(v) for b, v in zip(judged, shipped)}
        read = {b: made[b] if (b in self.shipped_bays or not site) and b in made else float(v)
                for b, v in zip(judged, p)}
        new = [b for b in judged if site and b in self.shipped_bays]
        base: dict[str, float] = {}
        if new and self.baseline is not None:  # ground the site head never saw: as an uncalibrated site reads it
            base = {b: float(v) for b, v in zip(new, self.baseline.predict([crops[b] for b in new]))}
            read |= base
        # the baseline's p of those bays serves the raise's reading too: one run of it per crop
        self._made.shipped = self._with_baseline(crops, made, set(base)) if site or shipped is None else {}
        self._made.shipped |= {b: max(self._made.shipped.get(b, 0.0), v) for b, v in base.items()}
        return {b: float("nan") for b in crops} | read

    def _view_shown(self, frame_bgr: np.ndarray) -> bool:
        """(``classify``, calibrated.) Whether this camera has shown the view the calibration was labelled on: once
        one frame is like one of its kept pictures (``VIEW_LIKENESS``), for the rest of the run. Why: a data dir
        copied onto another camera whose bays were drawn within a third of a bay of the first's kept its head
        (``another_view`` compares outlines only) and read that camera's bays worse than an uncalibrated site
        (calib40: 0.872 against 0.899). Until then the bays are read uncalibrated (``baseline``, the model an
        uncalibrated site runs), and after ``VIEW_MISSES`` frames ``set_aside`` says why; from then on the view is
        looked at every ``VIEW_RECHECK``-th frame (a look costs milliseconds). A file keeping no
        pictures (made before they were kept) is trusted as before."""
        if self._view_seen:
            return True
        assert self.calibration is not None
        if self._view_misses >= VIEW_MISSES:
            self._view_frames += 1
            if self._view_frames % VIEW_RECHECK:
                return False  # said already: looked at again every ``VIEW_RECHECK``-th frame
        like = self.calibration.view_of(frame_bgr)
        if like is None or like >= VIEW_LIKENESS:
            self._view_seen = True
            if self._view_misses >= VIEW_MISSES:
                self.set_aside = None
                log.warning("occupancy.calibration in use: the camera shows the view it was labelled on")
            return True
        self._view_misses += 1
        if self._view_misses == VIEW_MISSES:
            self.set_aside = (f"the camera's view is not the one the calibration was labelled on (likeness {like:.2f}, "
                              f"under {VIEW_LIKENESS}): it was made on another camera, or this one was turned; "
                              "the bays are read as uncalibrated. Label pictures of this view and calibrate again")
            log.warning("occupancy.calibration set aside: %s", self.set_aside)
        return False

    def _with_baseline(self, crops: Mapping[str, np.ndarray], shipped: dict[str, float],
                       read: set[str] | frozenset[str] = frozenset()) -> dict[str, float]:
        """(``classify``.) ``shipped`` with the baseline model's p folded in (the higher of the two) on each bay the
        shipped head reads below ``baseline_below``: where it reads at or above it, the higher of the two is too,
        and every threshold the hysteresis asks of it (``exit_p``, the doubt midpoint, ``enter_p``, ``SURE_P``)
        answers the same, so only the bays it does not see a car in surely cost the second run. ``read``: bays the
        caller has the baseline's p of already (and folds in itself)."""
        if self.baseline is None:
            return shipped
        ask = [b for b, v in shipped.items() if not v >= self.baseline_below and b not in read]
        if not ask:
            return shipped
        base = self.baseline.predict([crops[b] for b in ask])
        return shipped | {b: max(shipped[b], float(v)) for b, v in zip(ask, base)}

    def _fit(self, crop: np.ndarray) -> np.ndarray:
        if crop.ndim == 2:
            crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
        if crop.shape[:2] != (self.size, self.size):
            crop = cv2.resize(crop, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return crop


def _probability(p: np.ndarray) -> np.ndarray:
    """A model's output as a probability: NaN (a broken output) 0.5, doubt; clipped to [0, 1]."""
    clipped: np.ndarray = np.clip(np.nan_to_num(p, nan=0.5), 0.0, 1.0).astype(np.float32)
    return clipped
