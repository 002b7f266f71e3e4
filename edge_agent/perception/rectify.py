"""Perspective rectification: 4 plate corners → an upright crop the recogniser expects.

Why padding: detector corners often sit on the characters' edge; a warp exactly to the
corners cuts the province character. The corners are mapped *inside* the output by a margin,
so a strip of the surroundings is kept on every side.
"""

from __future__ import annotations

import cv2
import numpy as np

PLATE_W, PLATE_H = 168, 48


def rectify(image: np.ndarray, corners: np.ndarray, width: int = PLATE_W, height: int = PLATE_H,
            pad_x: float = 0.0, pad_y: float = 0.0) -> np.ndarray:
    """Warp the quadrilateral ``corners`` (TL, TR, BR, BL) to ``width``×``height`` BGR.

    ``pad_x`` / ``pad_y`` are the fractions of the output given to margin on each side.
    """
    mx, my = pad_x * width, pad_y * height
    dst = np.array([[mx, my], [width - mx, my], [width - mx, height - my], [mx, height - my]], np.float32)
    m = cv2.getPerspectiveTransform(np.asarray(corners, np.float32), dst)
    return cv2.warpPerspective(image, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
