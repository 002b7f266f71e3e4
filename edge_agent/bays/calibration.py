"""Per-site calibration of the occupancy classifier: a new linear head fitted on one camera's labelled bays.

The shipped CNN is trained on a few lots; a camera it never saw (trees over the bays, an odd angle) can
cost it ten points. The installer labels a few frames of *this* camera (occupied / empty per bay);
``fit`` refits only the last layer — a logistic regression on the CNN's pooled features, pulled towards
the shipped head by an L2 penalty, so a handful of labels cannot undo what the big data taught. The result
is a small JSON file bound to the model's sha256: a calibration made for another model is refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edge_agent.durable import NotRegularFile, read_small, write_durably
from edge_agent.jsondepth import MAX_DEPTH, too_deep

if TYPE_CHECKING:
    from edge_agent.config.bays import OccupancyConfig

MIN_PER_CLASS = 10  # fewer labels of either class than this cannot say anything about the camera
MAX_WEIGHT = 1e4  # a head weight beyond this is a fit that ran away, not a camera (the file's loader refuses it)


class CalibrationError(ValueError):
    """A calibration that cannot be used (bad file, other model, too few labels); the message says why. A fit's own
    refusal also names its kind (``code``) and numbers (``values``): the teach page says it in the user's language."""

    def __init__(self, message: str = "", *, code: str = "", values: dict[str, float] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.values = dict(values or {})


class CalibrationSetAside(CalibrationError):
    """A sound calibration file made for something the agent no longer runs: its model file was updated since (the
    same name, other bytes), or most of its bays are drawn elsewhere now (another camera, a camera moved and
    redrawn). Not a config mistake: the agent runs as without a calibration (``set_aside``) and says so."""


# A bay outline whose corners lie, on average, further than this share of the bay's size (the square root of its
# area) from where the calibration's labels were cut is another view of the ground: the head learned crops that
# are not there now. A third of a bay: the page's own outlines follow the camera's small measured shifts (under
# ``camera.shift_tolerance_px``, a few px on a bay of 50-200 px); another camera, or a camera moved and its bays
# redrawn, puts them far further.
OUTLINE_MOVE = 1 / 3

# The calibration also keeps small grey pictures of the view its labels were cut on (``views``), and the agent uses
# it only once a live frame shows that view (``view_likeness``): outlines alone bind nothing where another camera's
# bays are drawn within a third of a bay of the first's (a cloned card; calib40: its verdicts 0.872 against 0.899
# uncalibrated). The likeness is the camera-shift check's (``camera.registration.scene_likeness``): the thumbnail's
# log minus its blur, outside the bays, whatever the light. Measured there on PKLot: the unmoved camera against a
# reference of another day 0.20-0.98, knocked or other views -0.09-0.09; ``SCENE_ZNCC_START`` is this floor.
VIEW_WIDTH = 160  # thumbnail px wide
VIEW_BLUR = 4.0  # thumbnail px (sigma): the light's own variation is smoother than this
VIEW_LIKENESS = 0.15
VIEW_FRAMES = 8  # pictures kept (spread over the labelled frames' times): each ~10-20 KB in the file
MAX_VIEW_BYTES = 64 << 10  # one kept picture's PNG at most


def view_thumbnail(frame: np.ndarray) -> np.ndarray:
    """``frame`` (BGR or grey) as the grey ``VIEW_WIDTH``-px picture a calibration keeps and compares."""
    s = VIEW_WIDTH / frame.shape[1]
    small = cv2.resize(frame, (VIEW_WIDTH, max(1, round(frame.shape[0] * s))), interpolation=cv2.INTER_AREA)
    grey: np.ndarray = small if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    return grey


def view_likeness(a: np.ndarray, b: np.ndarray, outlines: dict[str, tuple[tuple[float, float], ...]] | None,
                  frame_width: float) -> float:
    """How alike two ``view_thumbnail`` pictures' structure is outside the bays (``outlines`` in frame px of a frame
    ``frame_width`` wide), -1..1; -1 for pictures of other shapes (another frame's aspect is another view)."""
    if a.shape != b.shape:
        return -1.0
    keep = np.full(a.shape[:2], 255, np.uint8)
    s = a.shape[1] / max(frame_width, 1.0)
    for pts in (outlines or {}).values():
        cv2.fillPoly(keep, [np.round(np.asarray(pts, np.float32) * s).astype(np.int32)], 0)
    mask = cv2.erode(keep, np.ones((3, 3), np.uint8)) > 0
    if mask.mean() < 0.2:  # bays fill nearly the whole view: all of it
        mask[:] = True
    sa, sb = (np.log1p(np.float32(t)) for t in (a, b))
    sa, sb = sa - cv2.GaussianBlur(sa, (0, 0), VIEW_BLUR), sb - cv2.GaussianBlur(sb, (0, 0), VIEW_BLUR)
    sa, sb = sa[mask], sb[mask]
    sa, sb = sa - sa.mean(), sb - sb.mean()
    norm = float(np.sqrt((sa * sa).sum() * (sb * sb).sum()))
    return float((sa * sb).sum()) / norm if norm > 0 else -1.0


@dataclass(frozen=True)
class Head:
    """logit = w · features + b."""

    w: tuple[float, ...]
    b: float

    def logits(self, features: np.ndarray) -> np.ndarray:
        out: np.ndarray = features.astype(np.float64) @ np.asarray(self.w, np.float64) + self.b
        return out

    @classmethod
    def parse(cls, obj: object, where: str) -> Head:
        if not isinstance(obj, dict) or not isinstance(obj.get("w"), list):
            raise CalibrationError(f"{where}: 'head' must be {{'w': [numbers], 'b': number}}")
        try:
            w = tuple(float(v) for v in obj["w"])
            b = float(obj["b"])
        except (TypeError, ValueError, KeyError) as exc:
            raise CalibrationError(f"{where}: head weights must be numbers") from exc
        if not w or not all(math.isfinite(v) and abs(v) < MAX_WEIGHT for v in (*w, b)):
            raise CalibrationError(f"{where}: head weights must be finite and below {MAX_WEIGHT:g}")
        return cls(w, b)


@dataclass(frozen=True)
class SiteCalibration:
    """A refitted head for one camera, and how it was measured."""

    head: Head
    model_sha256: str
    occupied: int
    empty: int
    cv_accuracy_before: float  # cross-validated on the labels: the shipped head
    cv_accuracy_after: float  # the refitted head
    note: str = ""
    cv_occupied_recall_before: float | None = None  # the same held-out frames: cars found (older files: None)
    cv_occupied_recall_after: float | None = None
    model: str = ""  # the model file's name when calibrated, for the message when another model is configured
    # the bay ids it was labelled on (older files: None, unknown). A head learns the looks of these bays: on NORPark
    # heads fitted on 10 of 46 bays read 4.4 % of the other bays' cars p <= 0.3 (the shipped model 0.7 %)
    bays: tuple[str, ...] | None = None
    # each labelled bay's outline, as the labels cut it (its latest frame; older files and patch labels: None): what
    # binds the head to the view it was fitted on. A copy onto another camera with the same bay ids (a cloned card)
    # whose bays were drawn again there, or a camera moved and redrawn, shows in them (``moved_outlines``)
    outlines: dict[str, tuple[tuple[float, float], ...]] | None = None
    # grey pictures of the view the labels were cut on (``view_thumbnail``, PNG) and that frame's width in px (older
    # files: None, no picture to compare): the head is used only on a camera whose live view is one of them
    views: tuple[bytes, ...] | None = None
    view_width: float | None = None

    def view_of(self, frame: np.ndarray) -> float | None:
        """The best ``view_likeness`` of ``frame`` against the kept pictures (None: the file keeps none)."""
        if not self.views or not self.view_width:
            return None
        live = view_thumbnail(frame)
        kept = (cv2.imdecode(np.frombuffer(v, np.uint8), cv2.IMREAD_GRAYSCALE) for v in self.views)
        return max(view_likeness(k, live, self.outlines, self.view_width) for k in kept if k is not None)

    def save(self, path: Path) -> None:
        doc = asdict(self)
        doc["head"] = {"w": list(self.head.w), "b": self.head.b}
        doc["bays"] = None if self.bays is None else list(self.bays)
        doc["outlines"] = None if self.outlines is None else {
            b: [[x, y] for x, y in pts] for b, pts in sorted(self.outlines.items())}
        doc["views"] = None if self.views is None else [base64.b64encode(v).decode("ascii") for v in self.views]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # its scratch name made new, never through a link planted there (``durable.open_scratch``)
        write_durably(Path(path), (json.dumps(doc, indent=1) + "\n").encode("utf-8"), Path(path).with_suffix(".tmp"))

    @classmethod
    def load(cls, path: Path, model_sha256: str | None, n_features: int | None,
             model_name: str | None = None) -> SiteCalibration:
        """The calibration in ``path`` for the model of that hash and width, or ``CalibrationError`` saying why
        not. None for both: the file alone is read and checked (``check-config`` where the model is not).
        ``model_name``: the model file's name; a calibration made for a file of that name with other bytes (the
        model updated since) is ``CalibrationSetAside``."""
        where = str(path)
        doc = read_document(Path(path))
        if not isinstance(doc, dict):
            raise CalibrationError(f"{where}: not a calibration file")
        head = Head.parse(doc.get("head"), where)
        if model_sha256 is None:
            model_sha256 = str(doc.get("model_sha256", ""))
        elif doc.get("model_sha256") != model_sha256:
            made_for = f"{doc['model']}, " if isinstance(doc.get("model"), str) and doc["model"] else ""
            said = (f"{where}: made for another occupancy model ({made_for}sha256 {doc.get('model_sha256')!s:.12}…, "
                    f"this one {model_sha256:.12}…)")
            # the same model file name (or one not kept), other bytes: the model was updated, not another configured
            if model_name is not None and doc.get("model") in ("", None, model_name):
                raise CalibrationSetAside(f"{said}: the model file was updated since; run `edge-agent occupancy "
                                          "calibrate` again (the labels are kept)")
            raise CalibrationError(f"{said}: set occupancy.model to the model it was made for, or run `edge-agent "
                                   "occupancy calibrate` again")
        if n_features is not None and len(head.w) != n_features:
            raise CalibrationError(f"{where}: head has {len(head.w)} weights, the model has {n_features} features")
        bays = doc.get("bays")
        if bays is not None and not (isinstance(bays, list) and all(isinstance(b, str) for b in bays)):
            raise CalibrationError(f"{where}: 'bays' must be a list of bay ids")
        outlines = _outlines(doc.get("outlines"), where)
        views, view_width = _views(doc.get("views"), doc.get("view_width"), where)
        try:
            return cls(head=head, model_sha256=model_sha256, occupied=int(doc["occupied"]), empty=int(doc["empty"]),
                       cv_accuracy_before=float(doc["cv_accuracy_before"]),
                       cv_accuracy_after=float(doc["cv_accuracy_after"]), note=str(doc.get("note", "")),
                       cv_occupied_recall_before=_optional_float(doc.get("cv_occupied_recall_before")),
                       cv_occupied_recall_after=_optional_float(doc.get("cv_occupied_recall_after")),
                       model=str(doc.get("model", "")), bays=None if bays is None else tuple(bays),
                       outlines=outlines, views=views, view_width=view_width)
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationError(f"{where}: missing or bad field ({exc})") from exc


MAX_FILE_BYTES = 1 << 20  # a calibration is a few KiB: 64 weights and a few numbers


def read_document(path: Path) -> object:
    """The calibration file's JSON, or ``CalibrationError`` naming it. Why not ``read_text``: the file is named by
    the operator (``--calibration``) or the config (read at every start and reload), and ``/dev/zero`` was read
    without end (22 GB before the kernel killed ``occupancy eval``), a FIFO waited for a writer for ever, a file of
    any size was read whole, and ``[[[[…`` was ``json``'s ``RecursionError``, a traceback."""
    try:
        data = read_small(path, MAX_FILE_BYTES)
    except FileNotFoundError:
        raise CalibrationError(f"{path}: no such file") from None
    except NotRegularFile:
        raise CalibrationError(f"{path}: not a regular file (a calibration is a JSON file)") from None
    except OSError as exc:
        raise CalibrationError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(data) > MAX_FILE_BYTES:
        raise CalibrationError(f"{path}: larger than {MAX_FILE_BYTES >> 20} MiB: not a calibration file")
    if too_deep(data):
        raise CalibrationError(f"{path}: nests deeper than {MAX_DEPTH} levels: not a calibration file")
    try:
        return json.loads(data.decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError too
        raise CalibrationError(f"{path}: not a readable JSON file ({exc})") from None


def made_for(path: Path, models_dir: Path) -> str | None:
    """The model a calibration file was made for, when that file is in ``models_dir`` (None: unreadable, a file
    from before the name was kept, or a model not here), so that naming the calibration alone is enough to run
    the model it belongs to."""
    try:
        doc = read_document(Path(path))
    except CalibrationError:
        return None
    name = doc.get("model") if isinstance(doc, dict) else None
    ok = isinstance(name, str) and name and Path(name).name == name and (Path(models_dir) / name).is_file()
    return name if ok else None


def classifier_files(occ: OccupancyConfig, data_dir: str | Path, models_dir: Path) -> tuple[Path, Path | None]:
    """The occupancy model file the agent runs and its site calibration (None without one). A calibration
    names the model it was made for; when ``occupancy.model`` is not set, that model is the one run. One rule
    for the agent and the doctor, so the doctor checks the file the agent will load."""
    name = occ.model
    cal = Path(data_dir) / occ.calibration if occ.calibration else None
    if cal is not None and "model" not in occ.model_fields_set:
        name = made_for(cal, models_dir) or name
    return Path(models_dir) / name, cal


def not_fitted_on(cal: SiteCalibration, bay_ids: list[str]) -> list[str]:
    """The bays of the config the calibration was not labelled on (none when the file does not say)."""
    return [] if cal.bays is None else [b for b in bay_ids if b not in cal.bays]


def moved_outlines(cal: SiteCalibration, outlines: dict[str, list[tuple[float, float]]]) -> list[str]:
    """The bays of ``outlines`` (the config's) drawn elsewhere than where the calibration's labels cut them: corners
    ``OUTLINE_MOVE`` of the bay's size off on average, or another number of corners (none when the file keeps no
    outlines)."""
    moved = []
    for bay, fitted in sorted((cal.outlines or {}).items()):
        now = outlines.get(bay)
        if now is None:
            continue
        a, b = np.asarray(fitted, np.float64), np.asarray(now, np.float64)
        x, y = a[:, 0], a[:, 1]
        size = math.sqrt(max(abs(float(x @ np.roll(y, -1) - y @ np.roll(x, -1))) / 2, 1.0))
        if a.shape != b.shape or float(np.linalg.norm(a - b, axis=1).mean()) > OUTLINE_MOVE * size:
            moved.append(bay)
    return moved


def another_view(cal: SiteCalibration, outlines: dict[str, list[tuple[float, float]]]) -> str | None:
    """Why the calibration belongs to another view (None: this one, or the file cannot tell): most (over half) of
    the bays it was fitted on that the config still has are drawn elsewhere. A few moved bays are the doctor's warning
    (``not_fitted_on``); most of them moved is another camera, or this one moved and redrawn."""
    kept = [b for b in (cal.outlines or {}) if b in outlines]
    moved = moved_outlines(cal, outlines)
    if not kept or 2 * len(moved) <= len(kept):
        return None
    return (f"{len(moved)} of the {len(kept)} bays it was fitted on are drawn elsewhere now ({', '.join(moved[:6])}"
            f"{'…' if len(moved) > 6 else ''}): it was made on another camera, or before this one moved")


def _outlines(obj: object, where: str) -> dict[str, tuple[tuple[float, float], ...]] | None:
    if obj is None:
        return None
    try:
        if not isinstance(obj, dict):
            raise TypeError
        out = {str(b): tuple((float(x), float(y)) for x, y in pts) for b, pts in obj.items()}
    except (TypeError, ValueError):
        raise CalibrationError(f"{where}: 'outlines' must map bay ids to [[x, y], ...]") from None
    # a bay's outline as the config draws it (``bays[].polygon``): corners past any frame made its area overflow to
    # NaN, and then no outline of the config was ever "elsewhere" (the view's binding failed open)
    from edge_agent.config.bays import MAX_POLYGON_POINTS
    from edge_agent.config.polygon import MAX_FRAME_PX

    if not all(3 <= len(p) <= MAX_POLYGON_POINTS and all(math.isfinite(v) and 0 <= v <= MAX_FRAME_PX for xy in p
                                                         for v in xy) for p in out.values()):
        raise CalibrationError(f"{where}: 'outlines' must be polygons of 3 to {MAX_POLYGON_POINTS} corners, each "
                               f"within 0-{MAX_FRAME_PX} px")
    return out


def _views(obj: object, width: object, where: str) -> tuple[tuple[bytes, ...] | None, float | None]:
    """(``load``.) The kept pictures, each a grey PNG ``VIEW_WIDTH`` px wide, and their frame's width."""
    from edge_agent.config.polygon import MAX_FRAME_PX

    if obj is None:
        return None, None
    bad = CalibrationError(f"{where}: 'views' must be up to {VIEW_FRAMES} base64 grey PNGs {VIEW_WIDTH} px wide, "
                           "with 'view_width' the frame's width in px")
    if not isinstance(obj, list) or len(obj) > VIEW_FRAMES or not isinstance(width, (int, float)) \
            or not 1 <= float(width) <= MAX_FRAME_PX:
        raise bad
    out = []
    for v in obj:
        try:
            png = base64.b64decode(str(v), validate=True)
        except ValueError:
            raise bad from None
        # the header's size checked before decoding: OpenCV allocates what it claims (60000 x 60000: its own cv2.error)
        if len(png) > MAX_VIEW_BYTES or png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR" \
                or int.from_bytes(png[16:20], "big") != VIEW_WIDTH or not 1 <= int.from_bytes(png[20:24], "big") <= 4 * VIEW_WIDTH:
            raise bad
        try:
            pic = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
        except cv2.error:
            raise bad from None
        if pic is None or pic.shape[1] != VIEW_WIDTH or not 1 <= pic.shape[0] <= 4 * VIEW_WIDTH:
            raise bad
        out.append(png)
    return tuple(out), float(width)


def keep_views(frames: list[np.ndarray], width: int) -> tuple[tuple[bytes, ...], float]:
    """(``occupancy.site.fit_site``.) Up to ``VIEW_FRAMES`` of the labelled ``frames`` (in time order), spread over
    them, as the file keeps them."""
    pick = frames if len(frames) <= VIEW_FRAMES else [frames[round(i * (len(frames) - 1) / (VIEW_FRAMES - 1))]
                                                      for i in range(VIEW_FRAMES)]
    return tuple(cv2.imencode(".png", view_thumbnail(f))[1].tobytes() for f in pick), float(width)


def _optional_float(v: object) -> float | None:
    return None if v is None else float(v)  # type: ignore[arg-type]  # bad types: the caller's ValueError


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def fit_head(features: np.ndarray, y: np.ndarray, prior: Head, l2: float = 0.1, steps: int = 50) -> Head:
    """Logistic regression on ``features`` (Newton's method), penalised by ``l2 · |w - prior.w|²`` summed
    over the samples' mean loss scale: small label sets stay near the shipped head, big ones move it.
    Classes are weighted equally, whatever their counts.

    Each Newton step is halved until it lowers the penalised loss (computed without overflow). A full step
    from a prior the labels contradict (every bay on the wrong side, by far) overshot: the logits were clipped,
    the Hessian vanished, and the bias ran off to 1e7 — a file the agent then refused to load."""
    x = np.hstack([features.astype(np.float64), np.ones((len(features), 1))])
    y = y.astype(np.float64)
    n_pos, n_neg = max(y.sum(), 1.0), max((1 - y).sum(), 1.0)
    sw = np.where(y > 0.5, 0.5 / n_pos, 0.5 / n_neg)  # balanced, sums to 1
    theta0 = np.append(np.asarray(prior.w, np.float64), prior.b)
    reg = np.full(len(theta0), l2 / len(features))
    reg[-1] = 0.0  # the bias moves freely

    def loss(t: np.ndarray) -> float:
        z = x @ t  # -log p(label) = log(1 + e^-z) for a car, log(1 + e^z) for an empty bay
        return float(sw @ np.logaddexp(0.0, np.where(y > 0.5, -z, z)) + 0.5 * reg @ (t - theta0) ** 2)

    theta = theta0.copy()
    current = loss(theta)
    for _ in range(steps):
        p = 0.5 * (1.0 + np.tanh(0.5 * (x @ theta)))  # the logistic function, without overflow
        grad = x.T @ (sw * (p - y)) + reg * (theta - theta0)
        hess = (x * (sw * p * (1 - p))[:, None]).T @ x + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while t > 1e-6 and not loss(theta - t * step) <= current:
            t *= 0.5
        if t <= 1e-6:
            break  # no step lowers the loss: as good as it gets
        theta -= t * step
        current = loss(theta)
        if float(np.abs(t * step).max()) < 1e-8:
            break
    if not np.all(np.isfinite(theta)) or float(np.abs(theta).max()) >= MAX_WEIGHT:
        raise CalibrationError("calibration did not converge (labels contradict each other?)")
    return Head(tuple(float(v) for v in theta[:-1]), float(theta[-1]))


def cross_validate(features: np.ndarray, y: np.ndarray, prior: Head, l2: float = 0.1,
                   folds: int = 5, groups: np.ndarray | None = None) -> tuple[float, float, float, float]:
    """Balanced accuracy of the shipped head and of a refitted one on held-out parts of the labels, then
    the occupied recall of each (the interlock's costly mistake is a car called empty).
    ``groups`` (e.g. the frame each bay comes from) keep one frame's bays together, as a later frame
    would be unseen."""
    y = y.astype(bool)
    g = groups if groups is not None else np.arange(len(y))
    uniq = np.unique(g)
    rng = np.random.default_rng(0)
    part = {u: i % folds for i, u in enumerate(rng.permutation(uniq))}
    fold_of = np.array([part[v] for v in g])
    before, after = np.zeros(len(y), bool), np.zeros(len(y), bool)
    for k in range(min(folds, len(uniq))):
        test = fold_of == k
        train = ~test
        if test.sum() == 0 or y[train].all() or (~y[train]).all():
            before[test] = after[test] = (prior.logits(features[test]) >= 0) == y[test]
            continue
        head = fit_head(features[train], y[train], prior, l2)
        before[test] = (prior.logits(features[test]) >= 0) == y[test]
        after[test] = (head.logits(features[test]) >= 0) == y[test]

    def balanced(ok: np.ndarray) -> float:
        return float((ok[y].mean() + ok[~y].mean()) / 2)

    return balanced(before), balanced(after), float(before[y].mean()), float(after[y].mean())


def sure_contradictions(features: np.ndarray, y: np.ndarray, prior: Head, sure: float = 0.9) -> np.ndarray:
    """Indices of the labels the shipped head contradicts surely (p ≥ ``sure`` against an empty label, or
    ≤ 1 - ``sure`` against an occupied one): where a wrong label (a frame's flags swapped, a sheet of another
    frame) shows first, since the model is right on most bays of any camera."""
    p = 1.0 / (1.0 + np.exp(-np.clip(prior.logits(features), -50, 50)))
    yb = np.asarray(y).astype(bool)
    return np.flatnonzero((yb & (p <= 1 - sure)) | (~yb & (p >= sure)))


def calibrate(features: np.ndarray, y: np.ndarray, prior: Head, model_sha256: str, l2: float = 0.1,
              groups: np.ndarray | None = None, model: str = "") -> SiteCalibration:
    """Fit a site head on labelled features; refuse when the labels are too few or one-sided."""
    y = np.asarray(y).astype(bool)
    occ, emp = int(y.sum()), int((~y).sum())
    if occ < MIN_PER_CLASS or emp < MIN_PER_CLASS:
        raise CalibrationError(f"need at least {MIN_PER_CLASS} occupied and {MIN_PER_CLASS} empty labelled bays, "
                               f"got {occ} occupied and {emp} empty", code="too_few",
                               values={"min": MIN_PER_CLASS, "occupied": occ, "empty": emp})
    before, after, occ_before, occ_after = cross_validate(features, y, prior, l2, groups=groups)
    if before < 0.5:
        # A model right on most bays of every camera measured (0.59 at its worst, uncalibrated) is worse than a
        # coin only against labels that mean the opposite: 1/0 swapped, or rows of other frames or polygons.
        # A head refitted on them learns the inversion, cars called empty (the interlock's costly mistake).
        raise CalibrationError(
            f"the labels contradict the shipped model on most bays (its balanced accuracy on them {before:.3f}, "
            f"worse than a coin; cars found {occ_before:.3f}): is `occupied` 1 for a vehicle and 0 for an empty "
            "bay, and does each row's polygon lie on that frame's bay? Nothing written", code="contradicts",
            values={"before": round(before, 3)})
    head = fit_head(features, y, prior, l2)
    return SiteCalibration(head=head, model_sha256=model_sha256, occupied=occ, empty=emp,
                           cv_accuracy_before=round(before, 4), cv_accuracy_after=round(after, 4),
                           cv_occupied_recall_before=round(occ_before, 4),
                           cv_occupied_recall_after=round(occ_after, 4), model=model)
