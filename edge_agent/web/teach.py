"""The installer page's "teach this camera": label the live picture's bays, calibrate, use it.

Why here and not only on the command line: a per-site calibration takes the classifier from about 0.89 to
0.97-0.996 on a camera it never saw (docs/occupancy.md), but it took SSH, ``occupancy label``, a CSV edited by hand,
``occupancy calibrate`` and a config edit; few installers did it. The page stores each labelled picture under
``{data_dir}/labels/frames/`` and its rows in ``{data_dir}/labels/labels.csv`` with the writer ``occupancy label``
uses (``occupancy.labels.append_rows``), so the same file can be calibrated by the command too; it fits with the
command's own function (``occupancy.site.fit_site``) on a worker thread, one fit at a time, and offers the result
only when the command would write it without its warnings (fewer cars found; pictures all from one light).
"""

from __future__ import annotations

import json
import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.bays.calibration import (
    MAX_FILE_BYTES,
    MIN_PER_CLASS,
    CalibrationError,
    SiteCalibration,
    file_sha256,
)
from edge_agent.config.models import AgentConfig
from edge_agent.occupancy.labels import (
    PAGE_FRAMES,
    PAGE_LABELS,
    PAGE_PICTURE,
    Guess,
    LabelInputError,
    append_rows,
    forget_page_frames,
    guess,
    read_existing,
    refuse_linked,
)

LABELS_DIR = PAGE_LABELS  # under data_dir
LABELS_CSV = "labels.csv"
FRAMES_DIR = PAGE_FRAMES
MAX_FRAMES = 60  # pictures kept for calibration: 5-10 are enough, 60 at different hours is plenty (bounded disk)
CALIBRATION_NAME = "occupancy-calibration.json"  # in data_dir: what "Use it" writes and the overrides name
# in data_dir: the calibration "Use it" replaced (one generation), what "Go back to the previous" puts in use again
PREVIOUS_NAME = "occupancy-calibration.previous.json"
# "Go back"'s swap in three steps, this the one in use before it, kept aside (complete, synced) until the calibration
# in use is replaced; a crash between the steps leaves it for ``finish_swap`` to complete or undo
SWAP_NAME = "occupancy-calibration.previous.json.swap"
SITE_MODEL_NAME = "occupancy-site.onnx"  # the model whose head is refitted, as `occupancy calibrate` defaults to
PICTURE_ID = PAGE_PICTURE  # an evidence id (uuid4), the labelled frame's file name


class TeachRefused(Exception):
    """A request the page cannot do as asked; ``status`` is the HTTP status, ``str()`` says why; ``code`` (with
    ``values``) names a refusal the page words in its own language."""

    def __init__(self, status: int, message: str, code: str = "", values: dict[str, float] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.values = dict(values or {})


def labels_folder(cfg: AgentConfig) -> Path:
    return Path(cfg.data_dir) / LABELS_DIR


def labels_csv(cfg: AgentConfig) -> Path:
    return labels_folder(cfg) / LABELS_CSV


def models_dir(cfg: AgentConfig) -> Path:
    from edge_agent.perception.locate import resolve_models_dir

    return resolve_models_dir(cfg.perception.models_dir, cfg.data_dir, cfg.source_path)


def site_model(cfg: AgentConfig) -> Path:
    return models_dir(cfg) / SITE_MODEL_NAME


@dataclass(frozen=True)
class Counts:
    frames: int
    occupied: int
    empty: int
    blank: int  # rows without a flag (``occupancy label``'s unsure ones): calibrate refuses them until filled

    @property
    def enough(self) -> bool:
        return self.occupied >= MIN_PER_CLASS and self.empty >= MIN_PER_CLASS and not self.blank

    def as_dict(self) -> dict[str, Any]:
        return {"frames": self.frames, "occupied": self.occupied, "empty": self.empty, "blank": self.blank,
                "enough": self.enough, "max_frames": MAX_FRAMES, "min_per_class": MIN_PER_CLASS}


def counts(cfg: AgentConfig) -> Counts:
    """What the labels file holds (its rows may come from ``occupancy label`` too)."""
    rows = read_existing(labels_csv(cfg))
    flags = [r.get("occupied", "") for r in rows]
    return Counts(len({r["file"] for r in rows}), flags.count("1"), flags.count("0"),
                  sum(1 for f in flags if f not in ("0", "1")))


def parse_labels(body: Any, seen: list[str]) -> tuple[str, dict[str, str]]:
    """``{"picture": evidence id, "labels": [{"id": bay, "occupied": 0 | 1}, …]}``: at most one flag for each bay of
    the picture (``seen``), none for another. Returns (picture, {bay: "1" / "0"}). That every bay the picture shows
    has one is ``Teacher.add_frame``'s to check: it reads the picture (a blank bay is greyed out on the page, and the
    page sends no flag for it)."""
    if not isinstance(body, dict):
        raise ValueError("body must be {\"picture\": …, \"labels\": [{\"id\": …, \"occupied\": 0 or 1}, …]}")
    picture = body.get("picture")
    if not isinstance(picture, str) or not PICTURE_ID.fullmatch(picture):
        raise ValueError("picture: must be the id of the page's picture")
    items = body.get("labels")
    if not isinstance(items, list) or len(items) > len(seen):
        raise ValueError(f"labels: must be a list of at most {len(seen)} bays")
    flags: dict[str, str] = {}
    for i, item in enumerate(items):
        bay = item.get("id") if isinstance(item, dict) else None
        flag = item.get("occupied") if isinstance(item, dict) else None
        if not isinstance(bay, str) or bay not in seen:
            raise ValueError(f"labels[{i}].id: not a bay this picture shows")
        if bay in flags:
            raise ValueError(f"labels[{i}].id: bay {bay} twice (one flag per bay)")
        if type(flag) is not int or flag not in (0, 1):  # not True, not 1.0 (== 1, but written "1.0": a blank row)
            raise ValueError(f"labels[{i}].occupied: must be 1 (a vehicle) or 0 (empty)")
        flags[bay] = str(flag)
    return picture, flags


def _stamp(path: Path) -> str:
    """A file as the classifier cache tells it apart: its path, size and change time (missing: the path alone)."""
    try:
        st = path.stat()
    except OSError:
        return str(path)
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"


def _add_baseline(clf: Any, path: Path, folder: Path, enter_p: float) -> None:
    """(``Teacher.classifier``.) The model an uncalibrated site runs beside a calibrated ``clf``, as ``run`` adds it
    (``runtime.models``): it reads the bays the calibration was not fitted on, and every bay until the camera shows
    the calibration's view. Without it the page guessed those with the calibrated model's own shipped head, not what
    the agent reads. A missing one: the page guesses as before (``run`` refuses to start without it)."""
    from edge_agent.bays.classifier import BayClassifier
    from edge_agent.bays.model_files import baseline_model
    from edge_agent.bays.occupancy import SURE_P

    base = baseline_model(folder)
    if base.resolve() == path.resolve() or not base.is_file():
        return
    try:
        clf.baseline = BayClassifier.load(base, threads=1)
    except ValueError:
        return
    clf.baseline_below = max(SURE_P, enter_p)


class Teacher:
    """The page process's labelling and calibration: the classifier it guesses with, and the one fit at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # the page's labelled pictures change one request at a time: the frame cap is checked and a picture
        # forgotten with no add half-done between (two adds at 59 pictures made 61)
        self._labels = threading.Lock()
        # (model file, calibration file, outlines) -> classifier
        self._classifier: tuple[tuple[str, str | None, str | None], Any] | None = None
        self._job = 0  # the last fit started
        self._running: threading.Thread | None = None
        self._done = threading.Event()
        self._done.set()
        self._result: dict[str, Any] | None = None
        self._made: SiteCalibration | None = None  # the last fit's calibration when it may be used

    def classifier(self, cfg: AgentConfig) -> Any:
        """The model and calibration the agent runs (``classifier_files``): the page shows its guesses, its
        mistakes. Loaded once per pair of files (and, with a calibration, outlines). A calibration the agent sets
        aside (``runtime.models.default_classifier``: its model updated since, or most of its bays drawn elsewhere)
        is set aside here too: the page raised on it, no guesses and no picture labelled, on the page meant to
        calibrate again."""
        from edge_agent.bays.calibration import (
            CalibrationSetAside,
            another_view,
            classifier_files,
            moved_outlines,
            not_fitted_on,
        )
        from edge_agent.bays.classifier import BayClassifier

        path, cal = classifier_files(cfg.occupancy, cfg.data_dir, models_dir(cfg))
        outlines = {b.id: list(b.polygon) for b in cfg.bays}
        # a file rewritten in place ("Use it" again) is another
        key = (_stamp(path), _stamp(cal) if cal else None, str(sorted(outlines.items())) if cal else None)
        with self._lock:
            if self._classifier is not None and self._classifier[0] == key:
                return self._classifier[1]
        try:
            clf = BayClassifier.load(path, threads=1, calibration=cal)
            aside = clf.calibration is not None and another_view(clf.calibration, outlines) is not None
        except CalibrationSetAside:
            aside = True
        if aside:
            clf = BayClassifier.load(models_dir(cfg) / cfg.occupancy.model, threads=1)
        elif clf.calibration is not None:  # as `run` reads them: occupancy.onnx where the site head was not fitted,
            clf.shipped_bays = frozenset(not_fitted_on(clf.calibration, list(outlines))  # and on another view
                                         + moved_outlines(clf.calibration, outlines))
            _add_baseline(clf, path, models_dir(cfg), cfg.occupancy.enter_p)
        with self._lock:
            self._classifier = (key, clf)
        return clf

    def guesses(self, cfg: AgentConfig, image: np.ndarray, polygons: dict[str, list]) -> list[Guess]:
        unseen: dict[str, str] = {}
        probs = self.classifier(cfg).classify(image, {b: [tuple(p) for p in poly] for b, poly in polygons.items()},
                                              unseen)
        return guess(probs, cfg.occupancy.enter_p, cfg.occupancy.exit_p, unseen)

    def add_frame(self, cfg: AgentConfig, picture: str, photo: tuple[Path, str], polygons: dict[str, list],
                  flags: dict[str, str], taken: float | None = None) -> Counts:
        """Copy the picture (``photo``: the store's folder and the name its row gives) to
        ``labels/frames/<picture>.jpg`` and append a row per labelled bay (its polygon as placed on the picture, the
        classifier's p beside the installer's flag)."""
        with self._labels:
            return self._add_frame(cfg, picture, photo, polygons, flags, taken)

    def _add_frame(self, cfg: AgentConfig, picture: str, photo: tuple[Path, str], polygons: dict[str, list],
                   flags: dict[str, str], taken: float | None) -> Counts:
        from edge_agent.camera.decode import ImageReadError, decode_bytes
        from edge_agent.durable import write_durably
        from edge_agent.evidence.store import read_photo

        folder = labels_folder(cfg)
        try:
            refuse_linked(folder)
        except LabelInputError as exc:
            raise TeachRefused(409, str(exc)) from None
        name = f"{FRAMES_DIR}/{picture}.jpg"
        now = counts(cfg)
        rows = read_existing(labels_csv(cfg))
        if any(r["file"] == name for r in rows):
            raise TeachRefused(409, "this picture is labelled already: take another, at another time of day",
                               "labelled_already")
        if now.frames >= MAX_FRAMES:
            raise TeachRefused(409, f"{MAX_FRAMES} pictures are labelled already, the most kept: calibrate, or "
                                    "forget the labelled pictures to start again", "full", {"max": MAX_FRAMES})
        # read as the store's own file, never through a link: a FIFO planted at the photo's name held this lock
        # (every later Save) for ever, a link copied whatever it led to into the labels; and by the row's own name
        # under the store's folder, as the page's photo (a row naming a path elsewhere was read from there)
        root, rel = photo
        frame = root / rel
        data = read_photo(root, rel)
        try:
            if data is None:
                raise ImageReadError(f"{frame.name} is not there, or not the store's own file")
            image = decode_bytes(data, frame.name).image
        except ImageReadError as exc:
            raise TeachRefused(409, f"the picture is gone from the evidence ({exc}): reload the page") from None
        from edge_agent.bays.calibration import classifier_files

        guesses = {g.bay_id: g for g in self.guesses(cfg, image, polygons)}
        # every bay the picture shows needs the installer's flag; a blank one (``bays.blank``) none: the page greys it
        # out and sends none (until probe calib42 one was asked for every bay, and a camera with one blank bay, a
        # pillar's flat side or glare, could label no picture at all)
        missing = [b for b in polygons if b not in flags and not (b in guesses and guesses[b].unseen)]
        if missing:
            raise TeachRefused(400, f"labels: no flag for bay(s) {', '.join(missing)} (every bay the picture shows "
                                    "needs one)")
        path, cal = classifier_files(cfg.occupancy, cfg.data_dir, models_dir(cfg))
        model = path.name + (f" + {cal.name}" if cal else "")  # as `occupancy label` names the guesses' model
        new = [{"file": name, "bay_id": b, "polygon": json.dumps([[float(x), float(y)] for x, y in polygons[b]]),
                "occupied": flags[b], "p_occupied": f"{guesses[b].p:.3f}" if b in guesses else "", "model": model}
               for b in polygons if b in flags and not (b in guesses and guesses[b].unseen)]
        (folder / FRAMES_DIR).mkdir(parents=True, exist_ok=True)
        write_durably(folder / name, data)
        # the file's time is when the camera took it (the evidence's own time; else the photo file's): `evidence
        # forget` finds the pictures that show a car by it
        when = taken if taken is not None else frame.stat().st_mtime
        os.utime(folder / name, (when, when))
        try:
            append_rows(labels_csv(cfg), new)  # the writer `occupancy label` uses, under its folder lock
        except (LabelInputError, OSError):
            (folder / name).unlink(missing_ok=True)
            raise
        return counts(cfg)

    def forget(self, cfg: AgentConfig) -> int:
        """Remove the pictures this page labelled (``labels/frames/``) and their rows; rows ``occupancy label``
        wrote stay. Why: the pictures show every parked car's plate and no evidence retention reaches them, and
        a frame labelled wrong had no way back from the page. Returns how many pictures were removed."""
        with self._labels:
            return forget_page_frames(labels_folder(cfg))

    # -- the fit: one at a time, on its own thread ------------------------------------------------------------------

    def start(self, cfg: AgentConfig) -> int:
        """Start a fit of the labels as they are now; its number. ``TeachRefused`` while one runs, or before any
        picture is labelled (the fit said "[Errno 2] No such file or directory" on the page)."""
        if not os.path.lexists(labels_csv(cfg)):
            raise TeachRefused(409, f"no picture is labelled yet: label pictures at different times of day, with at "
                                    f"least {MIN_PER_CLASS} occupied and {MIN_PER_CLASS} empty bays, then calibrate",
                               "none_labelled", {"min": MIN_PER_CLASS})
        with self._lock:
            if self._running is not None and self._running.is_alive():
                raise TeachRefused(409, "a calibration is running: wait for its result", "running")
            self._job += 1
            job = self._job
            self._result, self._made = {"job": job, "state": "running"}, None
            self._done.clear()
            self._running = threading.Thread(target=self._fit, args=(job, labels_csv(cfg), site_model(cfg),
                                                                     cfg.occupancy.steady_light),
                                             name="calibrate", daemon=True)
            self._running.start()
        return job

    def wait(self, timeout: float) -> bool:
        """Until the running fit is done (tests; the page polls ``status``)."""
        return self._done.wait(timeout)

    def status(self) -> dict[str, Any] | None:
        with self._lock:
            return dict(self._result) if self._result is not None else None

    def _fit(self, job: int, labels: Path, model: Path, steady_light: bool = False) -> None:
        """``steady_light``: the config says the bays see one light at every hour: the span of hours is not asked."""
        from edge_agent.occupancy.dataset import LabelError
        from edge_agent.occupancy.site import LIGHT_SPAN_H, MIN_APART_H, fit_site, verdict

        result: dict[str, Any] = {"job": job, "state": "refused"}
        made = None
        try:
            fit = fit_site(labels, model)
            cal = fit.cal
            if cal is None:  # the fit's refusal: its kind and numbers for the page's words, its text for the log
                result.update(message=str(fit.error), code=getattr(fit.error, "code", ""),
                              values=getattr(fit.error, "values", {}))
            else:
                judged = verdict(cal, None if steady_light else fit.span_h, fit.swapped,
                                 None if steady_light else fit.apart_h)
                result.update(state="done", frames=fit.frames, occupied=cal.occupied, empty=cal.empty,
                              before=cal.cv_accuracy_before, after=cal.cv_accuracy_after,
                              recall_before=cal.cv_occupied_recall_before, recall_after=cal.cv_occupied_recall_after,
                              worse=judged.worse, fewer_cars=judged.fewer_cars, one_light=judged.one_light,
                              swapped=[Path(f).stem for f in judged.swapped],
                              span_h=fit.span_h, min_span_h=LIGHT_SPAN_H, one_day=judged.one_day,
                              apart_h=fit.apart_h, min_apart_h=MIN_APART_H, usable=judged.usable,
                              skipped=fit.labels - len(fit.kept))
                made = cal if judged.usable else None
        except (LabelError, FileNotFoundError, ValueError) as exc:
            result["message"] = str(exc)
        except Exception as exc:  # a worker thread's failure must reach the page, not vanish
            result.update(state="failed", message=f"{type(exc).__name__}: {exc}")
        with self._lock:
            if job == self._job:
                self._result, self._made = result, made
        self._done.set()

    def use(self, cfg: AgentConfig, job: Any) -> Path:
        """Write the fit ``job`` made to ``{data_dir}/occupancy-calibration.json``; refused unless it is the last
        fit, usable, and made for the site model as it is on disk now (a model replaced since: another model)."""
        with self._lock:
            made = self._made if isinstance(job, int) and not isinstance(job, bool) and job == self._job else None
        if made is None:
            raise TeachRefused(409, "no calibration to use: calibrate again (only the last one, when it does no "
                                    "worse, can be used)")
        model = site_model(cfg)
        try:
            if file_sha256(model) != made.model_sha256:
                raise CalibrationError(f"{model}: made for another occupancy model (the file changed since the "
                                       "calibration): calibrate again")
        except OSError as exc:
            raise TeachRefused(409, f"{model}: cannot read it ({exc.strerror or exc})") from None
        except CalibrationError as exc:
            raise TeachRefused(409, str(exc)) from None
        out = Path(cfg.data_dir) / CALIBRATION_NAME
        keep_previous(cfg)
        made.save(out)
        return out


def read_own(path: Path) -> bytes | None:
    """A calibration file the page wrote in ``data_dir`` (None when absent), read only as the agent's own regular
    file: ``TeachRefused`` for a link (or hard link), a FIFO, a device or a file over ``MAX_FILE_BYTES``. Why: the
    data folder may be written by others, and "Use it" and "Go back" copied whatever the name led to beside it
    with the folder's default mode: a link ``occupancy-calibration.json`` → a key only the agent may read became a
    readable ``occupancy-calibration.previous.json``; a FIFO there held the page's writer lock (every Save) for
    ever, ``/dev/zero`` was read until memory ran out."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:  # ELOOP: a link
        raise TeachRefused(409, f"{path.name} is not a file the page wrote ({exc.strerror or exc}): remove it, "
                                "then calibrate again") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
            raise TeachRefused(409, f"{path.name} is not a file the page wrote (a link, a folder, a FIFO): remove "
                                    "it, then calibrate again")
        data = fh.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise TeachRefused(409, f"{path.name} is larger than a calibration: remove it, then calibrate again")
    return data


def keep_previous(cfg: AgentConfig) -> None:
    """Copy the calibration "Use it" is about to replace to ``PREVIOUS_NAME`` (one generation). Why: it was
    overwritten with no way back, and an installer who calibrated on bad frames could only return over SSH."""
    from edge_agent.durable import write_durably

    finish_swap(Path(cfg.data_dir))  # a go back cut short: its file would later be taken for this one's
    data = read_own(Path(cfg.data_dir) / CALIBRATION_NAME)
    if data is not None:
        write_durably(Path(cfg.data_dir) / PREVIOUS_NAME, data)


def finish_swap(data_dir: Path) -> None:
    """Complete or undo a "Go back" a crash (power lost, the agent killed) cut short, from ``SWAP_NAME``, which holds
    the calibration in use before it: still the one in use, the swap never happened (the file goes); another, the
    calibration in use was replaced, and it becomes the previous one. Why: the swap was two writes, and a crash
    between them left the same calibration under both names, the other generation lost."""
    from edge_agent.durable import fsync_dir

    pending = data_dir / SWAP_NAME
    kept = read_own(pending)
    if kept is None:
        return
    if kept == read_own(data_dir / CALIBRATION_NAME):
        pending.unlink()
    else:
        os.replace(pending, data_dir / PREVIOUS_NAME)
    fsync_dir(data_dir)


def go_back(cfg: AgentConfig, in_use: bool) -> Path:
    """Put the calibration before back as ``CALIBRATION_NAME``: while the page's calibration is in use (``in_use``)
    the previous one, swapped with it (a second go back returns); after "Use the shipped model", the one that was
    in use then. Refused (``TeachRefused``) when there is none, or it was made for another model than the site
    model on disk (the agent would refuse it). Returns the file the overrides are to name."""
    from edge_agent.durable import fsync_dir, write_durably

    data_dir = Path(cfg.data_dir)
    out, previous = data_dir / CALIBRATION_NAME, data_dir / PREVIOUS_NAME
    finish_swap(data_dir)
    target = previous if in_use else out
    back = read_own(target)
    if back is None:
        raise TeachRefused(409, "no previous calibration kept: the way back is \"Use the shipped model\""
                           if in_use else f"{out.name} is gone: calibrate again")
    now = read_own(out) if in_use else None
    model = site_model(cfg)
    try:
        SiteCalibration.load(target, file_sha256(model), None)
    except OSError as exc:
        raise TeachRefused(409, f"cannot read {exc.filename or model} ({exc.strerror or exc})") from None
    except CalibrationError as exc:
        raise TeachRefused(409, str(exc)) from None
    if in_use and now is not None:  # swap: the calibration in use now becomes the previous one
        # any crash leaves a usable calibration in use and both generations on disk: (1) the one in use kept aside,
        # (2) the previous one put in use (the step that counts), (3) the one kept aside made the previous one
        write_durably(data_dir / SWAP_NAME, now)
        write_durably(out, back)
        os.replace(data_dir / SWAP_NAME, previous)
        fsync_dir(data_dir)
    elif in_use:  # nothing in use to keep (removed by hand): a crash between leaves the same file twice, no loss
        write_durably(out, back)
        previous.unlink()
    return out


def way_back(cfg: AgentConfig, page_override: bool, in_use: bool) -> dict[str, bool]:
    """What the page offers: ``previous`` (go back is possible), ``shipped`` (the page's calibration is set in the
    overrides, so dropping it changes the classifier)."""
    data_dir = Path(cfg.data_dir)
    return {"previous": (data_dir / (PREVIOUS_NAME if in_use else CALIBRATION_NAME)).is_file(),
            "shipped": page_override}
