"""Consensus voting, plate→bay assignment, the classifier hysteresis and the change gate, each on its own."""

from __future__ import annotations

import numpy as np

from edge_agent.bays.consensus import PlateVote
from edge_agent.bays.geometry import BayShape, assign_bay
from edge_agent.bays.occupancy import MOTION_GAIN, ChangeGate, Hysteresis, PresenceFusion
from edge_agent.config.bays import OccupancyConfig
from edge_agent.perception.types import PlateRead
from edge_agent.sim.scenario import EMPTY, FUEL, Scene
from edge_agent.sim.synthetic import BAYS, render


def read(text, conf=0.9, chars=None, colour="blue", corners=((0, 0),) * 4):
    return PlateRead(text=text, confidence=conf, colour=colour, nev=None, nev_reason="", corners=corners,
                     box=(0, 0, 1, 1), char_confidences=tuple(chars or ()))


def test_vote_per_position_weighted_by_character_confidence():
    v = PlateVote()
    v.add(read("京A12345", chars=[0.9] * 7))
    v.add(read("京A12345", chars=[0.9] * 7))
    v.add(read("京A12845", chars=[0.9, 0.9, 0.9, 0.9, 0.99, 0.9, 0.9]))
    v.add(read("京A1284", conf=0.95))  # a dropped character votes in its own length group
    c = v.result()
    assert c.text == "京A12345" and c.reads == 3 and c.total_reads == 4 and c.colour == "blue"


def test_confident_character_beats_two_doubtful_ones():
    v = PlateVote()
    v.add(read("京A12345", chars=[0.9, 0.9, 0.9, 0.9, 0.2, 0.9, 0.9]))
    v.add(read("京A12345", chars=[0.9, 0.9, 0.9, 0.9, 0.2, 0.9, 0.9]))
    v.add(read("京A12845", chars=[0.9, 0.9, 0.9, 0.9, 0.95, 0.9, 0.9]))
    assert v.result().text == "京A12845"


def test_empty_and_weak_reads_do_not_vote():
    v = PlateVote()
    assert not v.add(read("", conf=0.0)) and not v.add(read("京A12345", conf=0.1))
    assert v.result() is None


def test_plate_goes_to_the_bay_under_its_bottom_edge():
    shapes = [BayShape(b, p) for b, p in BAYS.items()]
    left = ((200, 440), (300, 440), (300, 480), (200, 480))
    right = ((650, 440), (760, 440), (760, 480), (650, 480))
    road = ((200, 100), (300, 100), (300, 140), (200, 140))
    assert assign_bay(left, shapes) == "A" and assign_bay(right, shapes) == "B" and assign_bay(road, shapes) is None
    straddle = ((430, 440), (520, 440), (520, 480), (430, 480))  # bottom-centre x=475: in the gap, nearer A
    assert assign_bay(straddle, shapes, margin_px=8) == "A"


def test_change_gate_opens_for_cars_not_for_light_and_closes_once_classified():
    gate = ChangeGate(OccupancyConfig())
    gate.set_shapes([BayShape(b, p) for b, p in BAYS.items()])
    empty = gate.prepare(render(EMPTY))
    assert gate.changed(empty, "A") == 1.0  # never classified: classify it
    for b in BAYS:
        gate.reset(empty, b)
    dark = gate.prepare(render(Scene(brightness=0.5)))
    assert max(gate.changed(dark, b) for b in BAYS) < 0.04
    only_b = gate.prepare(render(Scene(cars=(FUEL,))))
    assert gate.changed(only_b, "A") < 0.04 and gate.changed(only_b, "B") > 0.2
    gate.reset(only_b, "B")  # the classifier looked: a parked car keeps the gate shut
    share, gain = gate.compare(dark, "A")  # half the light: compensated, but the bay's gain says how much
    assert share < 0.04 and 0.4 < gain < 0.6
    assert gate.changed(gate.prepare(render(Scene(cars=(FUEL,)))), "B") < 0.04


def test_change_gate_threshold_follows_the_view_contrast_within_bounds():
    """Fog, dusk or a dirty dome scale every difference in the view (I' = t·I + (1 − t)·A): a change of 40 grey
    levels in clear air is 10 through fog letting a quarter of the light through, under ``gate_threshold``'s 18.
    The threshold scales with the view's contrast along the bay's rows, so it still counts; never below a third
    of itself, so on a view with no contrast left a cloud's edge of 5 grey levels is no change, 8 is."""

    def seen(t: float, patch: float = 0.0, through: bool = True) -> np.ndarray:
        img = render(EMPTY).astype(np.float32)
        if through:
            img[380:520, 100:400] -= patch
        out = img * t + (1 - t) * 200.0
        if not through:  # a change on the view as it is, not on what the fog lets through
            out[380:520, 100:400] -= patch
        return np.clip(out, 0, 255).astype(np.uint8)

    def opened(t: float, patch: float, through: bool = True) -> bool:
        gate = ChangeGate(OccupancyConfig())
        gate.set_shapes([BayShape(b, p) for b, p in BAYS.items()])
        gate.reset(gate.prepare(seen(t)), "A")
        return gate.changed(gate.prepare(seen(t, patch, through)), "A") >= 0.04

    assert opened(1.0, 40) and not opened(1.0, 15)  # clear air: gate_threshold as it is
    assert opened(0.25, 40) and not opened(0.25, 15)  # fog: the same two changes, 10 and 3.75 grey levels
    assert not opened(0.02, 5, through=False) and opened(0.02, 8, through=False)  # no contrast: 6 grey levels


def test_hysteresis_needs_confirm_frames_and_is_unsure_in_between():
    h = Hysteresis(OccupancyConfig(enter_p=0.7, exit_p=0.3, confirm_frames=2))
    assert h.update(0.9, 0).occupied is None  # one frame is not a verdict
    v = h.update(0.8, 1)
    assert v.occupied is True and v.confident and v.p_occupied == 0.8 and v.measured_at == 1
    v = h.update(0.5, 2)
    assert v.occupied is True and not v.confident  # keeps its verdict, but not sure of it
    assert h.update(0.1, 3).occupied is True  # one low frame (a passer-by hiding it) is not an exit
    v = h.update(0.2, 4)
    assert v.occupied is False and v.confident
    v = h.update(float("nan"), 5)
    assert v.occupied is False and not v.confident and v.p_occupied is None  # a broken output is doubt


def test_a_change_with_nothing_moving_in_the_bay_must_last_still_confirm_s():
    """A shadow over a stain, dusk on a car: the reading turns, the pixels hardly move. Held, unsure."""
    h = Hysteresis(OccupancyConfig(enter_p=0.7, exit_p=0.3, confirm_frames=2, still_confirm_s=60))
    never = float("-inf")
    h.update(0.1, 0, never)
    assert h.update(0.1, 1, never).occupied is False  # the first verdict needs no motion
    for t in range(2, 62):
        v = h.update(0.9, t, never)
        assert v.occupied is False and not v.confident, t  # held, and the interlock will not trust it
    assert h.held and not h.unsettled
    v = h.update(0.9, 62, never)  # the same reading for 60 s: believed
    assert v.occupied is True and v.confident and not h.held
    for t in range(63, 123):
        assert h.update(0.1, t, never).occupied is True  # and back: held again
    v = h.update(0.1, 123, never)
    assert v.occupied is False and not v.confident  # a car cannot leave without moving: empty, but doubt
    assert h.update(0.1, 124, never).confident is False
    assert h.update(0.1, 127, 126.0).confident is True  # something moved there since: trusted again


def test_readings_made_while_the_camera_could_not_vouch_for_the_outline_never_back_a_raise():
    """(``BayMonitor`` calls ``unvouched`` / ``vouched`` as the view stops and starts matching.) A verdict that turned
    "empty" on a view matching nothing, under a car held before, is doubt until something moves in the bay after
    the view is back; the return's own change (the gate held a crop of the other ground) is no car leaving; any
    verdict needs ``confirm_frames`` fresh readings before it is confident again."""
    cfg = OccupancyConfig(enter_p=0.7, exit_p=0.3, confirm_frames=2, still_confirm_s=60)
    h = Hysteresis(cfg)
    h.update(0.9, 0, 0.0)
    assert h.update(0.9, 1, 0.0).confident
    h.unvouched()
    h.update(0.1, 2, 2.0)  # the outline on asphalt, the zoom's slip the motion
    assert h.update(0.1, 3, 2.0).occupied is False
    h.vouched(10.0)
    for t in range(10, 100):  # the still car misread: the return (at 10) moved the bay, nothing since
        v = h.update(0.1, t, 10.0)
        assert v.occupied is False and not v.confident, t
    assert h.update(0.1, 100, 99.5).confident  # something moved in the bay since: believed

    h = Hysteresis(cfg)  # held "occupied" through the spell: the return's change lets no misread end it at once
    h.update(0.9, 0, 0.0)
    h.update(0.9, 1, 0.0)
    h.unvouched()
    h.update(0.9, 2, 0.0)
    h.vouched(10.0)
    for t in range(10, 60):
        assert h.update(0.1, t, 10.0).occupied is True, t
    h = Hysteresis(cfg)  # empty throughout: confident again after confirm_frames fresh readings
    h.update(0.1, 0, 0.0)
    h.update(0.1, 1, 0.0)
    h.unvouched()
    h.vouched(5.0)
    assert not h.verdict.confident and not h.update(0.1, 5, 5.0).confident and h.update(0.1, 6, 5.0).confident


def test_a_car_that_hid_the_view_while_it_stood_leaves_as_the_view_matches_again():
    """A car parked close to the camera covers the corners the view is matched on: the view stops matching as it
    comes and matches again as it drives off. The camera last vouched an empty bay, so the return's change is the
    car leaving (it waited ``still_confirm_s`` and the visit overran); under a car it is not (the test above)."""
    cfg = OccupancyConfig(enter_p=0.7, exit_p=0.3, confirm_frames=2, still_confirm_s=60)
    h = Hysteresis(cfg)
    h.update(0.1, 0, 0.0)
    assert h.update(0.1, 1, 0.0).confident
    h.unvouched()  # the car drives in and hides the corners
    h.update(0.9, 2, 2.0)
    assert h.update(0.9, 3, 2.0).occupied is True
    for t in range(4, 40):
        h.update(0.9, t, 2.0)
    h.vouched(40.0)  # it drives off: the view matches again on the same frame
    assert not h.update(0.1, 40, 40.0).confident  # one fresh reading since the return...
    v = h.update(0.1, 41, 40.0)
    assert v.occupied is False and v.confident  # ...confirm_frames of them, and the return's change: it left
    h = Hysteresis(cfg)  # a bay held "occupied" through the spell: the same readings are a misread of the car
    h.update(0.9, 0, 0.0)
    h.update(0.9, 1, 0.0)
    h.unvouched()
    h.update(0.9, 2, 2.0)
    h.vouched(40.0)
    h.update(0.1, 40, 40.0)
    assert h.update(0.1, 41, 40.0).occupied is True


def test_a_car_that_left_while_the_view_was_hidden_leaves_as_it_returns_changed():
    """A bus close to the camera hides the corners the view is matched on, and the bay: the car in it leaves
    unseen. The bay, as the view returns, differs from the last picture the camera vouched for (``changed``, the
    monitor's change gate): that change is the car leaving, so the return to empty is believed on
    ``confirm_frames`` fresh readings (it waited ``still_confirm_s``). The same picture as before under the car
    is no departure (the zoom-slip case above); nor is a picture that is gone (None)."""
    cfg = OccupancyConfig(enter_p=0.7, exit_p=0.3, confirm_frames=2, still_confirm_s=60)
    for changed, spell_p in ((True, 0.9), (True, 0.1), (False, 0.9), (None, 0.9), (False, 0.1)):
        h = Hysteresis(cfg)
        h.update(0.9, 0, 0.0)
        assert h.update(0.9, 1, 0.0).confident
        h.unvouched()
        h.update(spell_p, 2, 2.0)  # the bus read as a car (0.9), or as empty (0.1: the verdict turns meanwhile)
        h.update(spell_p, 3, 2.0)
        h.vouched(20.0, changed)
        h.update(0.1, 20, 20.0)
        v = h.update(0.1, 21, 20.0)
        if changed:
            assert v.occupied is False and v.confident, (changed, spell_p)
        else:
            assert not v.confident and (v.occupied is True or spell_p < 0.5), (changed, spell_p)


def test_motion_since_the_verdict_was_backed_lets_it_change_at_once():
    h = Hysteresis(OccupancyConfig(enter_p=0.7, exit_p=0.3, confirm_frames=2, still_confirm_s=60))
    h.update(0.9, 0, 0.0)
    h.update(0.9, 1, 0.0)
    assert h.verdict.occupied is True
    h.update(0.1, 10, -5.0)
    assert h.update(0.1, 11, -5.0).occupied is True  # moved only before it was last backed (at 1 s)
    h.update(0.5, 12, -5.0)  # in the band: the contradiction's clock starts again
    h.update(0.1, 13, 12.5)
    assert h.update(0.1, 14, 12.5).occupied is False  # the car drove off: it moved since
    h.update(0.9, 20, float("-inf"))
    assert h.update(0.9, 21, None).occupied is True  # None: motion not tracked, confirmation alone


def test_a_slight_change_backs_only_a_reading_the_classifier_is_sure_of():
    """A car coming or going changes much of its bay. A slight change (a shadow's edge, a neighbour's bumper, the
    light alone) lets a reading just past the threshold change nothing at once: light on still pixels, held and
    unsure, as the still-bay rule holds it. A sure reading, or a firm change, changes it."""
    cfg = OccupancyConfig(enter_p=0.7, exit_p=0.3, confirm_frames=2, still_confirm_s=60)
    never = float("-inf")
    h = Hysteresis(cfg)
    h.update(0.1, 0, never, never)
    assert h.update(0.1, 1, never, never).occupied is False
    h.update(0.75, 10, never, 9.5)  # 0.75 on a slight change since the verdict was backed
    v = h.update(0.75, 11, never, 9.5)
    assert v.occupied is False and not v.confident and h.held
    assert h.update(0.9, 12, never, 9.5).occupied is True  # sure: the slight change backs it
    h.update(0.25, 20, never, 19.5)
    v = h.update(0.25, 21, never, 19.5)
    assert v.occupied is True and not v.confident  # just past exit_p on a slight change: held, the arm stays down
    assert h.update(0.1, 22, never, 19.5).occupied is False
    g = Hysteresis(cfg)  # the same readings after a firm change: believed at once, as before
    g.update(0.1, 0, never, never)
    g.update(0.1, 1, never, never)
    g.update(0.75, 10, 9.5, 9.5)
    assert g.update(0.75, 11, 9.5, 9.5).occupied is True


def test_fusion_plate_and_sensor_mean_present_and_no_verdict_is_unknown():
    f = PresenceFusion(OccupancyConfig(confirm_frames=1, plate_hold_s=1.0))
    assert f.update(0) is None  # nothing said yet: unknown, never "empty"
    f.hysteresis.update(0.1, 0)
    assert f.update(0) is False
    f.plate_seen(4.0)
    assert f.update(4.5) is True and f.update(5.5) is False
    f.sensor = lambda: True
    assert f.update(6) is True
    f.sensor = None
    f.hysteresis.update(0.95, 7)
    assert f.update(7) is True


def _partial(text, conf=0.3):
    return PlateRead(text=text, confidence=conf, colour="green", nev=None, nev_reason="", corners=((0, 0),) * 4,
                     box=(0, 0, 1, 1), complete=False)


def test_partial_reads_never_become_the_identity():
    """Issue 10: five reads of ``?AD12345`` are not a plate; the visit stays unidentified."""
    v = PlateVote()
    for _ in range(5):
        assert v.add(_partial("?AD12345"))
    assert v.result() is None


def test_partial_reads_back_a_complete_read_where_they_saw_the_same_characters():
    v = PlateVote()
    v.add(read("皖AD12345", chars=[0.9] * 8, colour="green"))
    v.add(read("皖AD12845", chars=[0.9, 0.9, 0.9, 0.9, 0.95, 0.9, 0.9, 0.9], colour="green"))
    v.add(_partial("?AD12345"))  # its serial sides with the first read
    c = v.result()
    assert c.text == "皖AD12345" and c.reads == 2 and c.total_reads == 3


def test_read_regions_merge_only_what_overlaps_or_lies_close():
    """A plate read for some bays looks at their boxes: overlapping ones become one (a plate is never
    found twice), far ones stay apart (two small runs cost less than one box spanning the frame)."""
    from edge_agent.bays.geometry import merge_boxes

    far = [(0, 0, 100, 100), (800, 500, 900, 600)]
    assert sorted(merge_boxes(far)) == far
    touching = [(0, 0, 100, 100), (90, 0, 190, 100), (180, 10, 260, 90)]
    assert merge_boxes(touching) == [(0, 0, 260, 100)]
    close = [(0, 0, 100, 100), (105, 0, 205, 100)]  # a 5-px gap: the common box is hardly bigger
    assert merge_boxes(close) == [(0, 0, 205, 100)]
    out = merge_boxes([(0, 0, 50, 50), (40, 40, 90, 90), (300, 0, 350, 50), (330, 30, 380, 80)])
    assert sorted(out) == [(0, 0, 90, 90), (300, 0, 380, 80)]
    for i, a in enumerate(out):  # disjoint
        for b in out[i + 1:]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])


def test_the_vote_is_counted_again_only_when_a_read_comes(monkeypatch):
    """The machine asks an undecided visit's vote at every frame, and counting it is O(reads): a car that
    stays undecided for hours, read every few seconds, was counted over thousands of reads 5 times a second
    (9 ms a count at 7,000 reads here), the same answer until the next read came."""
    v = PlateVote()
    counts = []
    count = getattr(v, "_count", None)
    monkeypatch.setattr(v, "_count", lambda: counts.append(1) or count(), raising=False)
    assert v.result() is None
    for _ in range(3):
        v.add(read("京A12345", colour="yellow"))
    first = [v.result() for _ in range(50)]
    assert len(counts) == 2 and all(c is first[0] for c in first)
    assert not v.add(read("京A12345", conf=0.1))  # a read too weak to vote changes nothing
    assert v.result() is first[0] and len(counts) == 2
    v.add(read("京A12845", colour="green", chars=[0.99] * 7))
    again = v.result()
    assert len(counts) == 3 and again.total_reads == 4 and again.colour == "yellow"
    fresh = PlateVote()
    for r in [read("京A12345", colour="yellow")] * 3 + [read("京A12845", colour="green", chars=[0.99] * 7)]:
        fresh.add(r)
    assert fresh.result() == again


def test_a_visit_keeps_the_red_characters_its_reads_measured():
    """A small emergency plate read as a small NEV serial (粤SD51831) on white: each frame is undecided
    for its red 应急 strokes (``verdict.RED_END_MIN``), and so is the visit — from text and colour alone
    it was NEV (white + dark characters + a small NEV serial: a washed-out gradient green)."""
    from edge_agent.bays.visit_verdict import decide_visit

    v = PlateVote()
    for red in (0.31, 0.27, 0.35):
        r = read("粤SD51831", colour="white", chars=[0.9] * 8)
        r.extra.update(dark_chars=True, polarity=0.3, red_end=red)
        v.add(r)
    c = v.result()
    assert c.red_end is not None and abs(c.red_end - 0.31) < 0.01
    verdict = decide_visit(c.text, c.colour, None, c.dark_chars, c.polarity, c.red_end)
    assert (verdict.nev, verdict.reason) == (None, "conflict")
    assert decide_visit(c.text, c.colour, None, c.dark_chars, c.polarity).nev is True  # no red measured


def test_a_gate_that_follows_the_view_sees_what_moved_in_the_bay_not_the_view():
    """Bays follow a camera that swayed or zoomed within tolerance (``BayMonitor.set_warp``). The gate's references
    follow the view with them (``ChangeGate.follow``): the same ground under the moved outline is no change, a car
    that came with the move (a cut in a recording, a frame gap) still is. Before, the references were dropped and
    every bay read as changed: motion in each, at every re-measured sway."""
    import cv2
    import numpy as np

    from edge_agent.sim.scenario import NEV

    cfg = OccupancyConfig()
    empty, parked = render(EMPTY), render(Scene(cars=(NEV,)))
    h, w = empty.shape[:2]
    for m in (np.float64([[1, 0, 6], [0, 1, -4]]), cv2.getRotationMatrix2D((w / 2, h / 2), 1.0, 1.02)):
        gate = _followed_gate(cfg, empty, m)
        still = gate.prepare(cv2.warpAffine(empty, m, (w, h), borderMode=cv2.BORDER_REPLICATE))
        assert gate.changed(still, "A") < cfg.gate_fraction and gate.changed(still, "B") < cfg.gate_fraction
        came = gate.prepare(cv2.warpAffine(parked, m, (w, h), borderMode=cv2.BORDER_REPLICATE))
        assert gate.changed(came, "A") >= cfg.gate_fraction  # the NEV parks in A


def test_the_picture_kept_from_before_a_cut_follows_the_view_and_a_reload():
    """Each bay's picture from before a picture cut (``bays.cut``) is compared with the bay once the cut has settled.
    The camera may shift or turn meanwhile, the bays following it (``ChangeGate.follow``, here twice), and a reload may
    come: the picture is carried with the view, so a car still there is no change and a car gone is. Until probe
    cutkeep28 a follow or a reload dropped it: every bay then counted as unchanged, and a car that left on the cut's
    frame was not believed gone for ``still_confirm_s``."""
    import cv2
    import numpy as np

    from edge_agent.bays.occupancy import FIRM_CHANGE
    from edge_agent.sim.scenario import NEV

    cfg = OccupancyConfig()
    empty, parked = render(EMPTY), render(Scene(cars=(NEV,)))
    h, w = empty.shape[:2]
    gate = ChangeGate(cfg)
    gate.set_shapes([BayShape(b, p) for b, p in BAYS.items()])
    before = gate.prepare(parked)
    for b in BAYS:
        gate.reset(before, b)
        gate.keep(b, as_="cut")  # the cut: each bay's picture from before it kept
    total = np.float64([[1, 0, 0], [0, 1, 0]])
    last = gate.prepare(empty)  # the cut's picture: A's car gone
    for m in (np.float64([[1, 0, 9], [0, 1, -6]]), cv2.getRotationMatrix2D((w / 2, h / 2), 1.0, 1.02)):
        total = np.vstack([m, [0, 0, 1]])[:2] @ np.vstack([total, [0, 0, 1]])
        moved = [BayShape(b, [tuple(total[:, :2] @ np.float64(pt) + total[:, 2]) for pt in p])
                 for b, p in BAYS.items()]
        gate.follow(moved, m, last)
        last = gate.prepare(cv2.warpAffine(empty, total, (w, h), borderMode=cv2.BORDER_REPLICATE))
    reloaded = ChangeGate(cfg)
    reloaded.set_shapes(moved)
    assert reloaded.adopt(gate, list(BAYS)) == list(BAYS)
    for g in (gate, reloaded):
        assert all(g.has(b, "cut") for b in BAYS)  # (before: none, after either)
        still = g.prepare(cv2.warpAffine(parked, total, (w, h), borderMode=cv2.BORDER_REPLICATE))
        assert g.changed(still, "A", "cut") < FIRM_CHANGE and g.changed(still, "B", "cut") < FIRM_CHANGE
        gone = g.prepare(cv2.warpAffine(empty, total, (w, h), borderMode=cv2.BORDER_REPLICATE))
        assert g.changed(gone, "A", "cut") >= 0.3 and g.changed(gone, "B", "cut") < FIRM_CHANGE
        g.forget("A", "cut")
        assert not g.has("A", "cut")


def test_a_light_step_on_the_frame_the_bays_follow_the_view_is_the_views_not_each_bays():
    """A camera's exposure jump or IR-cut switch brightens the whole view in one frame, and moves the measured
    shift a hair, so the bays follow the view on that very frame. The scene's light must be followed across it:
    until probe ircut25 ``follow`` dropped the last frame's light, the step was lost, and every bay read as
    turning 1.45x brighter than the view — motion in all 43 bays of a real PKLot clip at each exposure jump."""
    import cv2
    import numpy as np

    cfg = OccupancyConfig()
    empty = render(EMPTY)
    h, w = empty.shape[:2]
    m = np.float64([[1, 0, 1], [0, 1, 0]])  # the sway re-measured on the jump's frame
    gate = _followed_gate(cfg, empty, m)
    bright = np.clip(cv2.warpAffine(empty, m, (w, h), borderMode=cv2.BORDER_REPLICATE).astype(np.float32) * 1.45,
                     0, 255).astype(np.uint8)
    grey = gate.prepare(bright)
    for b in BAYS:
        change, gain = gate.compare(grey, b)
        assert change < cfg.gate_fraction, b
        assert 1 / MOTION_GAIN < gain / gate.light_since(b) < MOTION_GAIN, (b, gain, gate.light_since(b))


def test_readings_in_doubt_do_not_hold_a_verdict_for_ever():
    """The car drives off (its bay moves) and the empty bay reads 0.4 (a stain, a shadow) for the rest of the day:
    in the band between exit_p and enter_p, so the bay stayed "occupied" for ever — no departure, no later visit.
    Readings that lean to "empty" past the band's midpoint for ``doubt_confirm_s`` end it, not confidently."""
    h = Hysteresis(OccupancyConfig(enter_p=0.7, exit_p=0.3, confirm_frames=2, doubt_confirm_s=120))
    h.update(0.9, 0, 0.0)
    assert h.update(0.9, 1, 0.0).occupied is True
    left = 10.0  # the car drives off: motion in the bay
    for t in range(10, 130):
        v = h.update(0.4 if t % 3 else 0.25, t, left)  # now and then a reading past exit_p: never two in a row
        assert v.occupied is True and not v.confident, t
    v = h.update(0.4, 130, left)
    assert v.occupied is False and not v.confident  # the lean, held 120 s: empty, but the interlock wants better
    assert h.update(0.2, 131, left).confident is False  # one reading past exit_p is no confirmed change
    assert h.update(0.2, 132, left).confident is True  # confirm_frames of them back it (it moved since)
    # never the other way: an empty bay read 0.6 all day (a stain) opens no visit on doubt — its "unidentified"
    # violation would fine an empty bay; a car the model is unsure of comes in on plates or a sensor
    assert all(h.update(0.6, t, 140.0).occupied is False for t in range(140, 2000))


def test_a_lean_that_turns_back_or_comes_without_motion_waits():
    h = Hysteresis(OccupancyConfig(enter_p=0.7, exit_p=0.3, confirm_frames=2, doubt_confirm_s=60,
                                   still_confirm_s=300))
    h.update(0.9, 0, 0.0)
    h.update(0.9, 1, 0.0)
    for t in range(10, 69):
        h.update(0.4, t, 5.0)
    h.update(0.55, 69, 5.0)  # back past the midpoint: the lean's clock starts again
    for t in range(70, 129):
        assert h.update(0.4, t, 5.0).occupied is True, t
    assert h.update(0.4, 130, 5.0).occupied is False
    # with nothing moving in the bay since the verdict was backed, the still-bay rule's 300 s apply
    g = Hysteresis(OccupancyConfig(enter_p=0.7, exit_p=0.3, confirm_frames=2, doubt_confirm_s=60,
                                   still_confirm_s=300))
    never = float("-inf")
    g.update(0.9, 0, never)
    g.update(0.9, 1, never)
    for t in range(2, 302):
        assert g.update(0.4, t, never).occupied is True, t
    v = g.update(0.4, 302, never)
    assert v.occupied is False and not v.confident
    assert g.update(0.1, 303, never).confident is False  # empty reached without motion: doubt until something moves
    # 0: the band holds a verdict for ever (the behaviour before)
    k = Hysteresis(OccupancyConfig(enter_p=0.7, exit_p=0.3, confirm_frames=2, doubt_confirm_s=0))
    k.update(0.9, 0, 0.0)
    k.update(0.9, 1, 0.0)
    assert all(k.update(0.4, t, 5.0).occupied is True for t in range(10, 2000))


def test_a_verdict_reached_on_doubt_is_backed_only_by_a_confirmed_streak():
    """A parked dark car the model reads 0.45 (its driver walked round it: motion since the last backing) turns
    "empty" on doubt after doubt_confirm_s, not confidently. One stray reading past exit_p then made it confident —
    the interlock's "empty" — where a verdict reached the ordinary way needs confirm_frames such readings in a row:
    the doubt rule had lowered the evidence a raise needs from three readings to one."""
    h = Hysteresis(OccupancyConfig(enter_p=0.7, exit_p=0.3, confirm_frames=3, doubt_confirm_s=120))
    for t in range(3):
        h.update(0.9, t, 0.0)
    assert h.verdict.occupied is True and h.verdict.confident
    walked = 5.0  # the driver gets out and walks round the car
    for t in range(10, 131):
        h.update(0.45, t, walked)
    assert h.verdict.occupied is False and not h.verdict.confident  # doubt turned it
    assert h.update(0.25, 131, walked).confident is False  # one stray reading backs nothing
    assert h.update(0.45, 132, walked).confident is False
    assert h.update(0.25, 133, walked).confident is False
    assert h.update(0.25, 134, walked).confident is False
    v = h.update(0.25, 135, walked)  # confirm_frames in a row: what an ordinary change to "empty" needs
    assert v.occupied is False and v.confident
    assert h.update(0.25, 136, walked).confident  # and backed, it stays so reading by reading


def _followed_gate(cfg, empty, m):  # noqa: ANN001, ANN202
    """A change gate that took ``empty`` as every bay's reference, then followed the view by the affine move ``m``."""
    import numpy as np

    gate = ChangeGate(cfg)
    gate.set_shapes([BayShape(b, p) for b, p in BAYS.items()])
    last = gate.prepare(empty)
    for b in BAYS:
        gate.reset(last, b)
    moved = [BayShape(b, [tuple(m[:, :2] @ np.float64(pt) + m[:, 2]) for pt in p]) for b, p in BAYS.items()]
    gate.follow(moved, m, last)
    return gate
