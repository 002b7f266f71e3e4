"""The CJK font for plate text on images: evidence captions, the demo's rendered scenes, the
``recognize --annotate`` pictures and the tests' synthetic plates.

Why a fetched font first: ``edge-agent models fetch`` unpacks Noto Sans SC (SIL OFL 1.1) from a
sha256-pinned wheel (``models/manifest.json``), so a bare machine needs nothing from apt and every
machine draws the same pixels. System fonts are only the fallback. Kept beside ``clock.py``
because perception, evidence and the runtime all draw text and none may import a later stage.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

log = logging.getLogger(__name__)

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
    """The first CJK font that loads. A file there that does not (cut short by an interrupted copy, unreadable to
    the agent's user) is passed over, named in the log: raised, it took every evidence photo with it — the caption's
    drawing failed and the photo was not written (probe review71). ``FontMissing`` when none loads."""
    for p in font_candidates(models_dir):
        if not p.is_file():
            continue
        try:
            return ImageFont.truetype(str(p), size)
        except OSError as exc:
            log.warning("CJK font %s cannot be read (%s): trying the next; `edge-agent models fetch` replaces it",
                        p, exc)
    cjk_font_path(models_dir)  # none there: its error names where it looked and the fix
    raise FontMissing("no CJK font that loads (each found one could not be read: see the warnings above)")
