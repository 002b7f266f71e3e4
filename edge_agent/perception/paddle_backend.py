"""PaddleOCR 3.x as a plate recogniser (the ``paddle`` extra), behind the common interface.

Why this way: paddleocr ≥ 3.5 can run a local model directory (``inference.onnx`` +
``inference.yml``) on onnxruntime with ``engine="onnxruntime"``, so neither paddlepaddle nor a
model hub is needed. PaddleX still probes the model hosters at start-up unless told not to;
the environment switch below turns that off, and a model directory that is missing is an
error here, before PaddleX could decide to download it.

PaddleOCR reads with its whole dictionary (it writes the plate's dot as ``·``), so the text is
reduced to plate characters afterwards; it gives one score per line, not per character.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml

from edge_agent.perception.recognizer import ReadResult, register_recognizer
from edge_agent.plates import PLATE_VOCAB, normalise_plate

DEFAULT_MODEL = "PP-OCRv6_small_rec"
_PLATE_CHARS = frozenset(PLATE_VOCAB)


class PaddleExtraMissing(RuntimeError):
    """paddleocr is not installed: say how to get it."""


def model_name(model_dir: Path) -> str:
    """The model name PaddleX wants next to ``model_dir`` comes from its ``inference.yml``."""
    with open(model_dir / "inference.yml", encoding="utf-8") as f:
        return str(yaml.safe_load(f)["Global"]["model_name"])


def plate_text(raw: str) -> str:
    """Whole-dictionary OCR text → plate characters only (``皖A·D12345`` → ``皖AD12345``)."""
    return "".join(c for c in normalise_plate(raw) if c in _PLATE_CHARS)


class PaddleOcrRecognizer:
    """``read(crops) -> [(text, confidence, per-character confidences)]`` via paddleocr."""

    def __init__(self, model_dir: str | Path, threads: int = 2, providers: Sequence[str] = ("CPUExecutionProvider",),
                 batch: int = 8) -> None:
        model_dir = Path(model_dir)
        for f in ("inference.onnx", "inference.yml"):
            if not (model_dir / f).is_file():
                raise FileNotFoundError(
                    f"{model_dir / f} is missing: run `edge-agent models fetch --group paddle` (never a hub download)")
        os.environ.setdefault("PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK", "True")
        try:
            from paddleocr import TextRecognition
        except ImportError as exc:
            raise PaddleExtraMissing("recogniser 'paddleocr' needs the paddle extra: "
                                     "pip install -e '.[paddle]' in the source checkout") from exc
        self.batch = batch
        self.model = TextRecognition(
            model_name=model_name(model_dir), model_dir=str(model_dir), engine="onnxruntime",
            engine_config={"providers": list(providers), "intra_op_num_threads": threads,
                           "inter_op_num_threads": 1})

    def read(self, crops: Sequence[np.ndarray]) -> list[ReadResult]:
        if not crops:
            return []
        out: list[ReadResult] = []
        for res in self.model.predict(list(crops), batch_size=self.batch):
            text = plate_text(str(res["rec_text"]))
            score = float(res["rec_score"]) if text else 0.0
            out.append((text, score, (score,) * len(text)))
        return out


def _paddleocr(models_dir: Path, sessions, model: str = DEFAULT_MODEL, batch: int = 8) -> PaddleOcrRecognizer:
    return PaddleOcrRecognizer(Path(models_dir) / model, threads=sessions.threads, providers=sessions.providers,
                               batch=batch)


register_recognizer("paddleocr", _paddleocr)
