"""Evidence store: files + SQLite (WAL) index, retention by age and size, violations kept longest."""

from __future__ import annotations

import sqlite3

import cv2
import numpy as np
import pytest

from edge_agent.evidence.annotate import _text_extent, annotate, encode_jpeg
from edge_agent.evidence.store import EvidenceStore
from edge_agent.sim.scenario import FUEL, Scene
from edge_agent.sim.synthetic import BAY_B, plate_corners, render

JPEG = b"\xff\xd8" + b"x" * 998  # 1000 bytes


def test_save_get_paths(tmp_path, clock):
    s = EvidenceStore(tmp_path, clock)
    eid = s.save("A", "v1", "vehicle_identified", JPEG, JPEG[:500], "京A12345", {"nev": False})
    rec = s.get(eid)
    assert rec.bay_id == "A" and rec.visit_id == "v1" and rec.plate == "京A12345" and rec.bytes == 1500
    assert rec.meta == {"nev": False} and rec.ts.startswith("2026-01-01T08:00:00") and not rec.protected
    assert s.image_path(eid).read_bytes() == JPEG and s.image_path(eid, "crop").stat().st_size == 500
    assert s.get("nope") is None and s.image_path("nope") is None
    assert sqlite3.connect(tmp_path / "evidence.db").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_retention_by_age(tmp_path, clock):
    s = EvidenceStore(tmp_path, clock, max_age_days=7)
    old = s.save("A", "v1", "violation_started", JPEG, None)
    clock.advance(6 * 86400)
    new = s.save("A", "v2", "vehicle_identified", JPEG, None)
    clock.advance(2 * 86400)
    assert s.enforce_retention() == 1
    assert s.get(old) is None and s.get(new) is not None
    assert not list(tmp_path.glob(f"*/{old}*"))


def test_retention_by_size_drops_plain_evidence_before_violations(tmp_path, clock):
    s = EvidenceStore(tmp_path, clock, max_bytes=3500)
    ids = []
    for kind in ("violation_started", "vehicle_identified", "vehicle_identified", "violation_started",
                 "vehicle_identified"):
        ids.append(s.save("A", None, kind, JPEG, None))
        clock.advance(60)
    assert s.total_bytes() == 5000
    assert s.enforce_retention() == 2
    kept = [i for i in ids if s.get(i)]
    assert kept == [ids[0], ids[3], ids[4]]  # the two oldest identifications went, violations stayed
    s.max_bytes = 1500
    s.enforce_retention()
    assert [i for i in ids if s.get(i)] == [ids[3]]  # then the oldest violation before the newest


def test_a_violating_visits_identification_ranks_with_its_violation_photos(tmp_path, clock):
    """The identification (the plate read as the car arrived) is what a reviewer needs to uphold the violation; it was
    ranked with every visit's identifications and went first, the violation photo alone left to dispute."""
    s = EvidenceStore(tmp_path, clock, max_bytes=3500)
    ident = s.save("A", "v1", "vehicle_identified", JPEG, None, "京A12345")  # the oldest plain photo…
    clock.advance(60)
    plain = s.save("B", "v2", "vehicle_identified", JPEG, None, "京A22222")
    clock.advance(60)
    violation = s.save("A", "v1", "violation_started", JPEG, None, "京A12345")  # …until its visit violates
    clock.advance(60)
    later = s.save("A", "v1", "vehicle_identified", JPEG, None, "京A12345")  # a later read of that visit
    clock.advance(60)
    newest = s.save("C", "v3", "vehicle_identified", JPEG, None, "京A33333")
    assert s.get(ident).protected and s.get(later).protected and not s.get(plain).protected
    assert s.enforce_retention() == 2
    assert [i for i in (ident, plain, violation, later, newest) if s.get(i)] == [ident, violation, later]
    s.max_bytes = 1500
    s.enforce_retention()
    assert [i for i in (ident, plain, violation, later, newest) if s.get(i)] == [later]  # then oldest first


def test_an_index_written_before_keeps_a_violating_visits_identification_too(tmp_path, clock):
    s = EvidenceStore(tmp_path, clock, max_bytes=2500)
    ident = s.save("A", "v1", "vehicle_identified", JPEG, None, "京A12345")
    clock.advance(60)
    plain = s.save("B", "v2", "vehicle_identified", JPEG, None)
    clock.advance(60)
    s.save("A", "v1", "violation_started", JPEG, None, "京A12345")
    s.close()
    db = sqlite3.connect(tmp_path / "evidence.db")
    with db:
        db.execute("UPDATE evidence SET protected=0 WHERE kind='vehicle_identified'")  # as an older version wrote
    db.close()
    s = EvidenceStore(tmp_path, clock, max_bytes=2500)
    assert s.enforce_retention() == 1 and s.get(plain) is None and s.get(ident) is not None


def test_annotated_frame_is_a_jpeg_with_the_drawings(tmp_path):
    frame = render(Scene(cars=(FUEL,)))
    img = annotate(frame, BAY_B, plate_corners(FUEL), ["B  京A12345  blue  not NEV", "violation_started"],
                   "violation")
    assert img.shape == frame.shape and not np.array_equal(img, frame)
    x, y = (int(v) for v in BAY_B[0])
    assert tuple(img[y, x + 40]) != tuple(frame[y, x + 40])  # polygon drawn
    data = encode_jpeg(img)
    assert data[:2] == b"\xff\xd8" and cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is not None


def _whole_frame_caption(img, lines, models_dir):  # noqa: ANN001, ANN202 - the caption as drawn before 2026-12-03
    from PIL import Image, ImageDraw

    from edge_agent.fonts import cjk_font

    size = max(14, img.shape[0] // 28)
    pil = Image.fromarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    d = ImageDraw.Draw(pil)
    for i, s in enumerate(lines):
        d.text((12, 4 + (size + 6) * i), s, font=cjk_font(size, models_dir), fill=(255, 255, 255))
    return cv2.cvtColor(np.asarray(pil), cv2.COLOR_RGB2BGR)


def test_the_caption_takes_only_its_own_pixels_through_pillow(monkeypatch):
    """Evidence is drawn on the frame loop: a 4K frame went through Pillow and back whole (57 ms of CPU
    here) for a caption in its corner; now only the pixels the text covers do (7.5 ms), the same picture."""
    import PIL.Image

    from edge_agent.fonts import FontMissing, cjk_font

    try:
        cjk_font(20, "models")
    except FontMissing:
        pytest.skip("no CJK font fetched (make models)")
    seen: list[tuple[int, ...]] = []
    fromarray = PIL.Image.fromarray
    monkeypatch.setattr(PIL.Image, "fromarray", lambda a, *k, **kw: (seen.append(a.shape), fromarray(a, *k, **kw))[1])
    rng = np.random.default_rng(3)
    for shape, lines in [((2160, 3840, 3), ["B  京A12345  blue  not NEV", "violation_started", "2026-12-03T08:00:00"]),
                         ((720, 1280, 3), ["粤粤粤粤粤粤粤粤粤粤粤粤粤粤粤粤粤粤粤粤粤粤", "gjpqy"]),  # wider than 0.62/char
                         ((120, 160, 3), ["粤B12345D  green  NEV (format+colour)"])]:  # wider than the frame
        frame = rng.integers(0, 255, shape, dtype=np.uint8)
        size = max(14, shape[0] // 28)  # the black box and the verdict's bar, as annotate draws them
        # words wider than the frame: a black strip on its right holds them (review78: they were cut at the edge)
        wide = max(shape[1], _text_extent(lines, size, "models")[1])
        box = np.hstack([frame, np.zeros((shape[0], wide - shape[1], 3), np.uint8)])
        img = annotate(frame, None, None, lines, "violation", "models")
        given = seen[-1]  # what annotate handed Pillow
        h, w = (size + 6) * len(lines) + 8, int(size * 0.62 * max(map(len, lines))) + 20
        right = [12 + int(np.ceil(cjk_font(size, "models").getbbox(s)[2])) + 8 for s in lines]
        w = min(wide, max([w, *right]))  # as wide as the words drawn (review71: they ran past it)
        cv2.rectangle(box, (0, 0), (w, h), (0, 0, 0), -1)
        cv2.rectangle(box, (0, 0), (6, h), (40, 40, 230), -1)
        assert np.array_equal(img, _whole_frame_caption(box, lines, "models"))
        if shape[0] >= 720:  # not the whole 4K / 720p frame: the caption's corner
            assert given[0] * given[1] < shape[0] * shape[1] / 4


@pytest.mark.parametrize("bay", [(98, 64), (420, 330), (60, 700)])  # bays-dev's median, the demo's, a tall thin one
def test_a_photo_cut_to_the_bay_keeps_the_whole_caption_off_the_car(bay):
    """``band``: the caption sits above the photo. A bay of bays-dev's median size (98×64 px at 1280×720) gives a
    photo ~120 px wide: the caption (plate, colour, verdict) was cut at the photo's edge and unreadable, and its
    box was sized for the taller picture, so it reached into the photo's top rows."""
    from edge_agent.fonts import FontMissing, cjk_font

    try:
        cjk_font(20, "models")
    except FontMissing:
        pytest.skip("no CJK font fetched (make models)")
    w, h = bay
    photo = np.random.default_rng(5).integers(0, 255, (int(h * 1.2), int(w * 1.2), 3), dtype=np.uint8)
    lines = ["B  京A12345  blue  not NEV (format+colour)", "violation_started  fuel_vehicle", "2026-12-04T08:00:00+08:00"]
    img = annotate(photo, None, None, lines, "violation", "models", band=True)
    ph, pw = photo.shape[:2]
    assert np.array_equal(img[-ph:, :pw], photo)  # the photo itself untouched: nothing drawn over the car
    size = max(14, ph // 28)
    for s in lines:  # every line fits across the picture
        assert 12 + cjk_font(size, "models").getbbox(s)[2] <= img.shape[1], s
    assert img.shape[0] - ph <= (size + 6) * len(lines) + 12
