"""Perception settings (owned by the perception stage).

Defaults are the settings measured best on ../shared/datasets/plates-dev (see README,
perception section): change them only with a new `edge-agent eval` run to back it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from edge_agent.config.base import StrictModel, problems_at
from edge_agent.config.limits import MAX_THREADS
from edge_agent.plates import PROVINCES


class PpocrV4Options(StrictModel):
    """``perception/recognizer.py:_ppocr_v4``'s keywords (a test keeps the two in step)."""

    width: int = Field(168, ge=16, le=1024, description="input width the crop is stretched to")
    pad_to: int | None = Field(None, ge=16, le=2048, description="keep the aspect, pad to this width")
    vocab: str = Field("", min_length=1, max_length=10_000, description="characters the decoder may emit")


class ClpCrnnOptions(StrictModel):
    """``perception/recognizer.py:_clp_crnn``'s keywords."""

    width: int = Field(112, ge=16, le=1024)
    vocab: str = Field("", min_length=1, max_length=10_000)


class PaddleOcrOptions(StrictModel):
    """``perception/paddle_backend.py:_paddleocr``'s keywords."""

    model: str = Field("", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$",
                       description="model folder in models_dir")
    batch: int = Field(8, ge=1, le=64)


#: What each recogniser backend accepts in ``recognizer_options``: checked at config time, because an
#: unknown keyword was a ``TypeError`` at ``run`` after ``check-config`` had said "ok".
RECOGNIZER_OPTIONS: dict[str, type[StrictModel]] = {
    "ppocr_v4": PpocrV4Options, "clp_crnn": ClpCrnnOptions, "paddleocr": PaddleOcrOptions}


class PerceptionConfig(StrictModel):
    models_dir: str | None = Field(
        None, min_length=1, description="model files; unset: the installed models (the checkout's models/, the install's, or data_dir/models)")
    detector: Literal["clp_det", "yolo_onnx", "yolo_pt"] = "clp_det"
    detector_model: str | None = None  # path for yolo_onnx / yolo_pt
    det_size: int = Field(960, ge=160, le=4096, description="longest side the detector sees")
    det_max_upscale: float = Field(2.0, ge=1.0, le=4.0, description="small images are enlarged at most this much")
    det_threshold: float = Field(0.2, gt=0, lt=1, description="detector score a candidate needs")
    det_confirm: float = Field(0.5, gt=0, le=1, description="below this score a plate is kept only if it reads like one")
    weak_det_min_text_conf: float = Field(0.8, ge=0, le=1)
    det_nms: float = Field(0.4, gt=0, lt=1, description="NMS IoU")
    refine_below: float = Field(70.0, ge=0, le=1000, description="plates narrower than this (px) get a zoomed second pass")
    refine_target: float = Field(160.0, ge=40, le=1000, description="plate width (px) of the zoomed second pass")
    det_zoom_pass: float = Field(
        0.0, ge=0, le=4, description="0: off; above 1: an image larger than det_size gets a second detector pass at "
        "this many times the first one's scale (never beyond its own pixels) for plates too small for the first, "
        "repeated at this many times the last while none has found a plate (whole images only), "
        "a bay region read as well; recognize and eval use 2 unless set (a camera frame's time budget has no room "
        "for it on a whole frame; 1080p plates under ~70 px wide are missed without it)")
    det_region_zoom: float = Field(
        0.0, ge=0, le=4, description="as det_zoom_pass for the bays' region reads only (the larger of the two applies "
        "there): a region's zoomed pass costs only its own pixels; 0: off (a far plate found but read partially is "
        "retried on every read: 6.6 -> 41 % of a core on a 1080p clip of 47-51 px plates)")
    det_roll_pass: float = Field(
        0.0, ge=0, le=45, description="0: off; otherwise an image in which the detector finds no plate is searched "
        "again turned this many degrees each way (plates rolled past ~15 degrees are missed); recognize and eval use 20 "
        "unless set (two more detector passes on every frame without a plate); with it, a dark image (median luma under "
        "64) still without a plate is searched once more on two brightened copies")
    pad_x: float = Field(0.0, ge=0, lt=0.3, description="rectified crop margin, fraction of width per side")
    pad_y: float = Field(0.0, ge=0, lt=0.3, description="rectified crop margin, fraction of height per side")
    province_widen: float = Field(0.15, ge=0, le=0.5, description="an incomplete read missing its province is re-read widened left by this (and twice this)")
    priority_provinces: list[str] = Field(
        default_factory=list, description="provinces (e.g. [渝]) preferred only when the province slot is uncertain")
    recognizer: Literal["ppocr_v4", "clp_crnn", "paddleocr"] = "ppocr_v4"
    recognizer_options: dict[str, Any] = Field(
        default_factory=dict, description="keyword options for the recogniser backend, e.g. {pad_to: 320}")
    threads: int = Field(2, ge=1, le=MAX_THREADS)
    precision: Literal["fp32", "int8"] = Field(
        "fp32", description="int8: the quantised detector/recogniser written by `edge-agent models quantize`")
    providers: list[str] = Field(default_factory=lambda: ["CPUExecutionProvider"])
    memory_arena: Literal["off", "detector", "all"] = Field(
        "detector", description="onnxruntime's CPU memory arena (buffers reused between frames instead of page-faulted "
        "anew): for the detector, whose frame pass has one shape on a fixed camera (half the CPU at 5 fps, +15 MB "
        "peak RSS); 'all' adds the recogniser, whose batch shapes vary (another ~20 MB); true / false = all / off")

    @model_validator(mode="after")
    def _recognizer_options(self) -> PerceptionConfig:
        """Each option a keyword the chosen backend takes, of its type and in range (reported at its key)."""
        options = RECOGNIZER_OPTIONS[self.recognizer]
        try:
            options.model_validate(self.recognizer_options)
        except ValidationError as exc:
            known = ", ".join(options.model_fields)
            raise problems_at(type(self).__name__, [
                (("recognizer_options", *e["loc"]),
                 f"not an option of recognizer {self.recognizer} (it takes {known})" if e["type"] == "extra_forbidden"
                 else e["msg"].removeprefix("Value error, "))
                for e in exc.errors()]) from None
        return self

    @field_validator("det_zoom_pass", "det_region_zoom")
    @classmethod
    def _zoom_or_off(cls, v: float) -> float:
        """0 (off) or an enlargement: a factor in (0, 1] would be a smaller pass than the first."""
        if 0 < v <= 1:
            raise ValueError(f"must be 0 (off) or above 1, not {v}")
        return v

    @field_validator("memory_arena", mode="before")
    @classmethod
    def _arena_bool(cls, v: object) -> object:
        """``true`` / ``false`` (the key's earlier form) mean every session / none."""
        return {True: "all", False: "off"}.get(v, v) if isinstance(v, bool) else v

    @field_validator("priority_provinces")
    @classmethod
    def _known_provinces(cls, v: list[str]) -> list[str]:
        """Each entry one of the 31 GA 36 province characters (a typo must not pass silently)."""
        bad = [p for p in v if len(p) != 1 or p not in PROVINCES]
        if bad:
            raise ValueError(f"not a province character: {', '.join(map(repr, bad))} (one of {PROVINCES})")
        return list(dict.fromkeys(v))
