"""Finding a CJK font for plate text on images (annotations and the demo's rendered scenes)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

CJK_FONT_PATHS = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/System/Library/Fonts/PingFang.ttc",
)


class FontMissing(RuntimeError):
    pass


@lru_cache(maxsize=1)
def cjk_font_path() -> Path:
    """The first CJK font installed in a standard place; a clear error when there is none."""
    for p in CJK_FONT_PATHS:
        if Path(p).is_file():
            return Path(p)
    raise FontMissing(
        "no CJK font found (looked in " + ", ".join(CJK_FONT_PATHS[:3]) + ", …); "
        "install one, e.g. `sudo apt-get install fonts-wqy-zenhei`"
    )


@lru_cache(maxsize=16)
def cjk_font(size: int):  # noqa: ANN201 - PIL.ImageFont.FreeTypeFont
    from PIL import ImageFont

    return ImageFont.truetype(str(cjk_font_path()), size)
