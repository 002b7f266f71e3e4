"""Where the shipped occupancy models lie: constants only, so that a command's parser can name them as its
defaults (``occupancy train --out``, ``calibrate --model``) without importing the classifier, and OpenCV and
NumPy with it, for every ``edge-agent --help``."""

from __future__ import annotations

from pathlib import Path

DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "models" / "occupancy.onnx"
# ImageNet-pretrained MobileNetV2 features: the model to calibrate per site (edge_agent.occupancy.backbone)
SITE_MODEL = DEFAULT_MODEL.with_name("occupancy-site.onnx")


def baseline_model(models_dir: Path) -> Path:
    """The model an uncalibrated site runs, in ``models_dir``: a calibrated site's raise needs it to read the bay
    empty too (``BayClassifier.baseline``). One place, so ``run``, a reload and ``doctor`` look for the same file."""
    return Path(models_dir) / DEFAULT_MODEL.name
