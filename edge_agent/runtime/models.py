"""The agent's model-backed parts, built from the config: the plate reader and the occupancy classifier.

Factories rather than constructors in ``Agent`` so tests and a reload can pass their own.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from edge_agent.bays.monitor import PlateReader
from edge_agent.bays.occupancy import OccupancyClassifier
from edge_agent.clock import Clock
from edge_agent.config.load import ConfigError
from edge_agent.config.models import AgentConfig
from edge_agent.perception.lists import PlateLists

if TYPE_CHECKING:
    from edge_agent.bays.classifier import BayClassifier

log = logging.getLogger(__name__)


def models_dir(cfg: AgentConfig) -> Path:
    from edge_agent.perception.locate import resolve_models_dir

    return resolve_models_dir(cfg.perception.models_dir, cfg.data_dir, cfg.source_path)


def default_reader(cfg: AgentConfig, lists: PlateLists, clock: Clock | None = None) -> PlateReader:
    """``clock``: the agent's (scenario time in a replay), for how often a partial read is retried
    (``perception.retry_gate``); None: wall time."""
    import time

    from edge_agent.perception.pipeline import Pipeline
    from edge_agent.perception.retry_gate import RetryGate

    gate = RetryGate(clock.monotonic if clock is not None else time.monotonic)
    return Pipeline.from_config(cfg.perception, models_dir(cfg), lists, gate)


def classifier_files(cfg: AgentConfig) -> tuple[Path, Path | None]:
    """The occupancy model file the agent runs and its site calibration (``bays.calibration.classifier_files``)."""
    from edge_agent.bays.calibration import classifier_files as files

    return files(cfg.occupancy, cfg.data_dir, models_dir(cfg))


# model file, its sha256, calibration file, its sha256, and with a calibration the bays' outlines (``another_view``),
# ``enter_p`` (below which the baseline model reads a bay too: ``BayClassifier.baseline_below``) and the baseline
# model's file and sha256 (``bays.model_files.baseline_model``)
Fingerprint = tuple[str, str | None, str | None, str | None, tuple[tuple[str, tuple[tuple[float, float], ...]], ...],
                    tuple[float, str, str | None] | None]


def classifier_fingerprint(cfg: AgentConfig) -> Fingerprint:
    """What the classifier ``default_classifier`` builds is made of: the model file and the calibration file,
    each with a hash of its bytes (None: missing or unreadable). A reload compares it with the running one:
    another ``occupancy.calibration``, or ``occupancy calibrate`` run again into the same file, is a new
    classifier; the same files are the same classifier (not loaded twice). With a calibration, the bays' outlines
    too: a calibration is set aside where most of its bays are drawn elsewhere (``default_classifier``), and the
    page's Save of such a redraw kept the calibrated head on ground it never saw until a restart. And the baseline
    model a calibrated site's raise needs too (``baseline_model``): removed or replaced, a reload answered "nothing
    changed", the old one ran on, and the next start refused (probe review83)."""
    from edge_agent.bays.calibration import file_sha256
    from edge_agent.bays.model_files import baseline_model

    def digest(path: Path | None) -> str | None:
        try:
            return None if path is None else file_sha256(path)
        except OSError:
            return None

    path, cal = classifier_files(cfg)
    drawn = () if cal is None else tuple((b.id, tuple((float(x), float(y)) for x, y in b.polygon)) for b in cfg.bays)
    base = baseline_model(models_dir(cfg))
    return (str(path), digest(path), (str(cal) if cal is not None else None), digest(cal), drawn,
            None if cal is None else (cfg.occupancy.enter_p, str(base), digest(base)))


def default_classifier(cfg: AgentConfig) -> OccupancyClassifier:
    """The shipped per-bay occupancy model (``occupancy.model`` in ``perception.models_dir``), with the site's
    calibration (``occupancy.calibration``) when there is one (``classifier_files``).

    A sound calibration made for what this agent no longer runs (its model file updated since, or most of its bays
    drawn elsewhere: another camera, a camera moved and redrawn) is set aside, not a refused start: the agent runs
    as without one (``occupancy.model``, the shipped head), logs it, and the heartbeat and ``doctor`` say why
    (``set_aside``). Why: a model update stopped the whole agent (exit 2), locks and all, until someone calibrated
    again; the shipped head is what every uncalibrated site runs, and the labels stay for ``occupancy calibrate``.
    A file that cannot be a calibration, or a config naming another model than the file's, is still refused."""
    from edge_agent.bays.calibration import (
        CalibrationError,
        CalibrationSetAside,
        another_view,
        moved_outlines,
        not_fitted_on,
    )

    path, cal = classifier_files(cfg)
    why: str | None = None
    try:
        clf = _load(cfg, path, cal)
        if clf.calibration is not None:
            why = another_view(clf.calibration, {b.id: [tuple(p) for p in b.polygon] for b in cfg.bays})
            why = None if why is None else f"{cal}: {why}; label pictures of this view and calibrate again"
    except CalibrationSetAside as exc:
        why = str(exc)
    except CalibrationError as exc:
        raise ConfigError(str(cfg.source_path or "<config>"), [f"occupancy.calibration: {exc}"]) from exc
    if why is None:
        if clf.calibration is not None:  # bays it was not fitted on as drawn now: the shipped head reads them
            outlines = {b.id: [tuple(p) for p in b.polygon] for b in cfg.bays}
            clf.shipped_bays = frozenset(not_fitted_on(clf.calibration, list(outlines))
                                         + moved_outlines(clf.calibration, outlines))
            _add_baseline(cfg, clf, path)
        return clf
    log.warning("occupancy.calibration set aside, running the shipped head: %s", why)
    clf = _load(cfg, Path(models_dir(cfg)) / cfg.occupancy.model, None)
    clf.set_aside = why
    return clf


def _add_baseline(cfg: AgentConfig, clf: BayClassifier, path: Path) -> None:
    """A calibrated ``clf``'s baseline: the model an uncalibrated site runs (``occupancy.onnx`` beside the
    calibrated one), read on each bay the calibrated model's shipped head does not surely see a car in. Why: a
    calibration may make the agent more careful, never less: a raise on a calibrated site needs what an
    uncalibrated site's needs too (docs/occupancy.md, "Per-site calibration"). Not where the calibrated model is
    that one (its shipped head is then the baseline); a missing one is refused as a missing model is."""
    from edge_agent.bays.classifier import BayClassifier
    from edge_agent.bays.model_files import baseline_model
    from edge_agent.bays.occupancy import SURE_P

    base = baseline_model(models_dir(cfg))
    if base.resolve() == path.resolve():
        return
    if not base.is_file():
        raise ConfigError(str(cfg.source_path or "<config>"),
                          [f"occupancy.calibration: {base} not found: a calibrated site's raise also needs the "
                           "model an uncalibrated site runs (deploy/install.sh copies it into perception.models_dir)"])
    try:
        clf.baseline = BayClassifier.load(base, threads=1)
    except ValueError as exc:  # named by the key that needs it: `occupancy.model` is the calibrated one
        raise ConfigError(str(cfg.source_path or "<config>"),
                          [f"occupancy.calibration: {exc}: a calibrated site's raise also needs it"]) from exc
    clf.baseline_below = max(SURE_P, cfg.occupancy.enter_p)


def _load(cfg: AgentConfig, path: Path, cal: Path | None) -> BayClassifier:
    from edge_agent.bays.classifier import BayClassifier

    if not path.is_file():
        raise ConfigError(str(cfg.source_path or "<config>"),
                          [f"occupancy.model: model file {path} not found: it ships in the source "
                           "tree's models/ (deploy/install.sh copies it there)"])
    try:
        return BayClassifier.load(path, threads=1, calibration=cal)
    except ValueError as exc:  # not an ONNX model, or not an occupancy model: was onnxruntime's traceback
        from edge_agent.bays.calibration import CalibrationError

        if isinstance(exc, CalibrationError):
            raise
        raise ConfigError(str(cfg.source_path or "<config>"), [f"occupancy.model: {exc}"]) from exc
