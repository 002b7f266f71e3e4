"""The CJK font for plate text on images: evidence captions, the demo's rendered scenes, the
``recognize --annotate`` pictures and the tests' synthetic plates.

Why a fetched font first: ``edge-agent models fetch`` unpacks Noto Sans SC (SIL OFL 1.1) from a
sha256-pinned wheel (``models/manifest.json``), so a bare machine needs nothing from apt and every
machine draws the same pixels. System fonts are only the fallback. Kept beside ``clock.py``
because perception, evidence and the runtime all draw text and none may import a later stage.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

# Where `edge-agent models fetch` puts the font inside a models directory (models/manifest.json).
FETCHED_FONT = "fonts/NotoSansSC-Regular.otf"
# The source checkout's models/ (make demo, make test); a configured models_dir is looked at first.
REPO_MODELS = Path(__file__).resolve().parents[1] / "models"

SYSTEM_CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/System/Library/Fonts/PingFang.ttc",
)


class FontMissing(RuntimeError):
    pass


def font_candidates(models_dir: str | Path | None = None) -> list[Path]:
    """Every place looked at, in order: the fetched font (``models_dir``, then the checkout's
    models/), then the system fonts."""
    dirs: Iterable[Path] = [Path(models_dir)] if models_dir is not None else []
    return [*(d / FETCHED_FONT for d in [*dirs, REPO_MODELS]), *map(Path, SYSTEM_CJK_FONTS)]


@lru_cache(maxsize=8)
def cjk_font_path(models_dir: str | Path | None = None) -> Path:
    """The first CJK font found; a clear error naming the fix when there is none."""
    candidates = font_candidates(models_dir)
    for p in candidates:
        if p.is_file():
            return p
    raise FontMissing(
        f"no CJK font found (looked in {candidates[0]}, {', '.join(map(str, candidates[1:4]))}, …); "
        "run `edge-agent models fetch` (it unpacks one into models/fonts/)"
    )


@lru_cache(maxsize=32)
def cjk_font(size: int, models_dir: str | Path | None = None) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(cjk_font_path(models_dir)), size)
