"""The CJK font lookup: the font fetched into models/ comes before any system font, so a bare
machine (no fonts-* package) draws plates, captions and rendered scenes with it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edge_agent import fonts


@pytest.fixture(autouse=True)
def _fresh_cache():
    fonts.cjk_font_path.cache_clear()
    fonts.cjk_font.cache_clear()
    yield
    fonts.cjk_font_path.cache_clear()
    fonts.cjk_font.cache_clear()


def test_manifest_fetches_the_font_the_lookup_wants(repo: Path):
    manifest = json.loads((repo / "models" / "manifest.json").read_text(encoding="utf-8"))
    [entry] = [f for f in manifest["files"] if f["dest"] == fonts.FETCHED_FONT]
    assert entry["group"] == "default"  # `edge-agent models fetch` (make demo, make test) always brings it


def test_fetched_font_comes_before_system_fonts(models_dir: Path):
    """With fonts-wqy-zenhei installed too, the checkout's fetched font wins."""
    assert fonts.cjk_font_path() == fonts.REPO_MODELS / fonts.FETCHED_FONT
    assert fonts.cjk_font(20).getname()[0] == "Noto Sans SC"


def test_a_configured_models_dir_comes_first(models_dir: Path, tmp_path: Path):
    (tmp_path / "fonts").mkdir()
    shutil.copy(models_dir / fonts.FETCHED_FONT, tmp_path / fonts.FETCHED_FONT)
    assert fonts.cjk_font_path(tmp_path) == tmp_path / fonts.FETCHED_FONT
    assert fonts.cjk_font_path(tmp_path / "absent") == fonts.REPO_MODELS / fonts.FETCHED_FONT


def test_no_font_anywhere_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(fonts, "REPO_MODELS", tmp_path / "models")
    monkeypatch.setattr(fonts, "SYSTEM_CJK_FONTS", (str(tmp_path / "none.ttc"),))
    with pytest.raises(fonts.FontMissing, match=r"edge-agent models fetch"):
        fonts.cjk_font_path(tmp_path)


def test_evidence_caption_uses_the_fetched_font(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, models_dir: Path):
    """A deployed agent (models in /opt/edge-agent/models, no system CJK font) still draws 粤 on evidence."""
    import numpy as np

    from edge_agent.evidence.annotate import annotate

    monkeypatch.setattr(fonts, "REPO_MODELS", tmp_path / "checkout-without-models")
    monkeypatch.setattr(fonts, "SYSTEM_CJK_FONTS", ())
    frame = np.zeros((360, 640, 3), np.uint8)
    ascii_only = annotate(frame, None, None, ["粤BD12345"], models_dir=tmp_path / "nowhere")
    fonts.cjk_font_path.cache_clear()
    cjk = annotate(frame, None, None, ["粤BD12345"], models_dir=models_dir)
    assert not np.array_equal(ascii_only, cjk)  # the first fell back to "?BD12345" in Hershey
