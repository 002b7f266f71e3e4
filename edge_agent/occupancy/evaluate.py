"""Score the occupancy classifier on labelled bays: accuracy, occupied recall, empty recall,
overall and per scene / weather / daypart. Runs with the default install (onnxruntime only).

Recall per class rather than precision: the interlock's costly mistakes are an occupied bay
called empty (a lock rising under a car: occupied recall) and an empty bay called occupied
(a charger blocked for nothing: empty recall); both are read straight off these two numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from edge_agent.bays.classifier import BayClassifier
from edge_agent.occupancy.dataset import BayLabel, load_crops

THRESHOLD = 0.5
CHUNK = 512  # labelled bays cropped and classified at a time


@dataclass(frozen=True)
class Metrics:
    n: int
    occupied: int
    empty: int
    accuracy: float | None  # None: no bay in this group (every image unreadable); JSON has no NaN
    occupied_recall: float | None  # None: no occupied bay in this group
    empty_recall: float | None

    @classmethod
    def of(cls, truth: np.ndarray, pred: np.ndarray) -> Metrics:
        truth, pred = truth.astype(bool), pred.astype(bool)
        occ, emp = int(truth.sum()), int((~truth).sum())
        return cls(
            n=len(truth), occupied=occ, empty=emp,
            accuracy=float((truth == pred).mean()) if len(truth) else None,
            occupied_recall=float(pred[truth].mean()) if occ else None,
            empty_recall=float((~pred[~truth]).mean()) if emp else None)

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


@dataclass
class Scored:
    labels: list[BayLabel]
    p: np.ndarray  # p(occupied) per label
    missing: list[BayLabel]  # labels whose image could not be read
    skipped: list[tuple[BayLabel, str]] = field(default_factory=list)  # bays their image does not show, and why
    unreadable: dict = field(default_factory=dict)  # image path → why it could not be read

    @property
    def pred(self) -> np.ndarray:
        return self.p >= THRESHOLD

    @property
    def truth(self) -> np.ndarray:
        return np.array([b.occupied for b in self.labels], dtype=bool)

    def overall(self) -> Metrics:
        return Metrics.of(self.truth, self.pred)

    def by(self, *keys: str) -> dict[str, Metrics]:
        """Metrics per value of the label attributes ``keys`` (joined with '/')."""
        groups: dict[str, list[int]] = {}
        for i, b in enumerate(self.labels):
            groups.setdefault(" / ".join(str(getattr(b, k)) for k in keys), []).append(i)
        t, p = self.truth, self.pred
        return {g: Metrics.of(t[ix], p[ix]) for g, ix in sorted(groups.items())}

    def report(self) -> dict:
        return {"overall": self.overall().as_dict(),
                "scene": {k: m.as_dict() for k, m in self.by("scene").items()},
                "scene_weather": {k: m.as_dict() for k, m in self.by("scene", "weather").items()},
                "scene_daypart": {k: m.as_dict() for k, m in self.by("scene", "daypart").items()},
                "missing_images": sorted({b.file for b in self.missing}),
                # each bay of those, so that every labelled bay is in the JSON once (predictions, skipped or here)
                "missing_bays": [{"file": b.file, "bay_id": b.bay_id, "line": b.line} for b in self.missing],
                "skipped_bays": [{"file": b.file, "bay_id": b.bay_id, "line": b.line, "why": why}
                                 for b, why in self.skipped]}

    def predictions(self) -> list[dict]:
        return [{"file": b.file, "bay_id": b.bay_id, "occupied": int(b.occupied), "p_occupied": round(float(p), 4)}
                for b, p in zip(self.labels, self.p)]


def score(clf: BayClassifier, labels: Sequence[BayLabel],
          degrade: Callable[[np.ndarray], np.ndarray] | None = None) -> Scored:
    """Crop every label with the agent's crop code at the model's size and classify it (on a
    ``degrade``d copy of each image when given). Results keep the labels' order.

    The bays are taken image by image (each image decoded once, however the file is sorted: a file listed
    bay by bay decoded every frame once per row) and ``CHUNK`` at a time, so memory stays flat: cropping
    every bay first took 94 KB a bay (1.6 GB for bays-dev's 16,711 patches)."""
    first: dict[object, int] = {}
    for b in labels:
        first.setdefault(b.path, len(first))
    order = sorted(range(len(labels)), key=lambda i: first[labels[i].path])  # stable: rows keep their order
    skipped: list[tuple[BayLabel, str]] = []
    unreadable: dict = {}
    got: list[tuple[int, float]] = []  # (index in labels, p)
    for start in range(0, len(order), CHUNK):
        part = order[start:start + CHUNK]
        crops, kept = load_crops([labels[i] for i in part], clf.size, degrade=degrade, skipped=skipped,
                                 unreadable=unreadable)
        if not kept:
            continue
        p = clf.predict(list(crops))
        it = iter(part)  # kept is a subsequence of the part: find each one's index
        got += [(next(i for i in it if labels[i] is b), float(v)) for b, v in zip(kept, p)]
    got.sort()
    scored = [labels[i] for i, _ in got]
    done = {id(b) for b in scored} | {id(b) for b, _ in skipped}
    return Scored(labels=scored, p=np.array([v for _, v in got], np.float32),
                  missing=[b for b in labels if id(b) not in done], skipped=skipped, unreadable=unreadable)


def pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"


def format_table(report: dict, sections: Sequence[str] = ("scene", "scene_weather", "scene_daypart")) -> str:
    """Markdown table of a report (overall first, then each section's groups)."""
    lines = ["| group | bays | occupied | empty | accuracy | occupied recall | empty recall |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    rows = [("**all**", report["overall"])] + [(g, m) for s in sections for g, m in report.get(s, {}).items()]
    for g, m in rows:
        lines.append(f"| {g} | {m['n']} | {m['occupied']} | {m['empty']} | {pct(m['accuracy'])} | "
                     f"{pct(m['occupied_recall'])} | {pct(m['empty_recall'])} |")
    return "\n".join(lines)


def degraded_reports(clf: BayClassifier, labels: Sequence[BayLabel], clean: Scored) -> dict[str, dict]:
    """Overall metrics on every ``occupancy.degrade`` copy of the labelled images, clean first."""
    from edge_agent.occupancy.degrade import DEGRADATIONS

    out = {"clean": clean.overall().as_dict()}
    for name, fn in DEGRADATIONS.items():
        out[name] = score(clf, labels, fn).overall().as_dict()
    return out


def format_degraded(rows: dict[str, dict]) -> str:
    """Markdown table: one row per degradation (accuracy, occupied recall, empty recall)."""
    lines = ["| images | bays | accuracy | occupied recall | empty recall |", "|---|---:|---:|---:|---:|"]
    for name, m in rows.items():
        lines.append(f"| {name} | {m['n']} | {pct(m['accuracy'])} | {pct(m['occupied_recall'])} | "
                     f"{pct(m['empty_recall'])} |")
    return "\n".join(lines)
