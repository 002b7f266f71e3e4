"""What perception hands to the rest of the agent: one ``PlateRead`` per plate found."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

Region = tuple[int, int, int, int]  # part of a frame: x1, y1, x2, y2 in pixels, end exclusive


@dataclass(frozen=True)
class PlateRead:
    text: str  # "" when unread (e.g. double-row plate reported unread); "?" marks positions a partial read lacks
    confidence: float  # 0..1, recogniser confidence for the text (0 when unread, ≤ 0.3 when partial)
    colour: str  # blue | green | yellow | yellow_green | white | black | unknown
    nev: bool | None  # None: cannot tell
    nev_reason: str  # what decided: "format+colour", "colour", "format", "allow_list", "deny_list", ...
    corners: tuple[tuple[float, float], ...]  # 4 points TL, TR, BR, BL in frame pixels
    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    det_score: float = 0.0
    type_code: str = "99"  # GA 24.7-style plate type code, see plate-rules.md
    double_row: bool = False
    char_confidences: tuple[float, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    # False: not a complete GA 36 plate (never a list match, never a visit's identity)
    complete: bool = True
    province_confidence: float | None = None  # the province slot's own probability (None: no province)
    colour_confidence: float = 0.0  # the chosen colour's share of the classifier's evidence
    # rectified plate image (BGR, e.g. 168x48) for evidence; never serialised
    crop: Any = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The shape of the ``recognize --json`` contract (plus a few extra keys)."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "crop"}
        d["extra"] = dict(self.extra)
        d["char_confidences"] = list(self.char_confidences)
        # floats whatever the producer passed: the JSON contract writes every coordinate with its decimal
        d["corners"] = [[round(float(x), 1), round(float(y), 1)] for x, y in self.corners]
        d["box"] = [round(float(v), 1) for v in self.box]
        d["confidence"] = round(self.confidence, 4)
        d["det_score"] = round(self.det_score, 4)
        d["char_confidences"] = [round(c, 4) for c in self.char_confidences]
        d["colour_confidence"] = round(self.colour_confidence, 4)
        if self.province_confidence is None:
            del d["province_confidence"]  # absent, not null, when the read has no province (the contract)
        else:
            d["province_confidence"] = round(self.province_confidence, 4)
        return d
