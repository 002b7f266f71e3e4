"""``EmptyPictures`` (``bays/empty_picture.py``) on the change gate's real pictures of the rendered scene: when a bay's
empty picture may be taken, and when it may not."""

from __future__ import annotations

from edge_agent.bays.empty_picture import EMPTY, SETTLE_S, EmptyPictures
from edge_agent.bays.geometry import BayShape
from edge_agent.bays.occupancy import ChangeGate, Verdict
from edge_agent.config.bays import OccupancyConfig
from edge_agent.sim.synthetic import BAYS, Person, Scene, render

STILL_S = 300.0
SURE_EMPTY = Verdict(False, 0.05, 0.0, True)


def _rig() -> tuple[ChangeGate, EmptyPictures, list[BayShape]]:
    gate = ChangeGate(OccupancyConfig())
    shapes = [BayShape(b, p) for b, p in BAYS.items()]
    gate.set_shapes(shapes)
    return gate, EmptyPictures(gate), shapes


def test_a_picture_lost_while_the_bay_differed_from_it_is_not_taken_again_over_the_thing_in_it():
    """(Review31.) The gate drops every picture when the outlines are set anew (``set_shapes``: a reload that redrew
    the bay, the installer's confirmation), at a new frame size, or when a camera shift cannot carry it. Taken again
    at the next confident "empty" 3 s at rest, it took in the person standing in the bay, and their ``bay_changed``
    ended there: the arm rose over them. One lost while the bay differed from it waits for the scene's way instead
    (``still_confirm_s`` with nothing moving), or for a car to come and go."""
    gate, pictures, shapes = _rig()
    empty, person = render(Scene()), render(Scene(people=(Person(250),)))
    pictures.see(gate.prepare(empty), "A", SURE_EMPTY, 100.0, float("-inf"), STILL_S)
    assert gate.has("A", EMPTY) and not pictures.changed()
    moved, differed = 110.0, 120.0  # someone walks in and stops in the bay; the first reading that differs
    for t in (differed, 130.0):
        pictures.see(gate.prepare(person), "A", SURE_EMPTY, t, moved, STILL_S)
    assert pictures.changed() == {"A"}
    gate.set_shapes(shapes)  # every picture dropped (the installer confirmed the view, the bays were redrawn…)
    for t in (130.0 + SETTLE_S, 160.0, 190.0):
        pictures.see(gate.prepare(person), "A", SURE_EMPTY, t, moved, STILL_S)
        assert pictures.changed() == {"A"}, t  # they still stand there
    pictures.see(gate.prepare(person), "A", SURE_EMPTY, differed + STILL_S, moved, STILL_S)
    pictures.see(gate.prepare(person), "A", SURE_EMPTY, differed + STILL_S + 1, moved, STILL_S)
    assert not pictures.changed()  # motionless that long: the scene (the documented limit)


def test_a_moment_that_vouches_for_nothing_keeps_the_picture_and_what_differs_from_it():
    """(Review31.) ``verdict`` None (the view vouches for nothing: unmatched for a moment, a cut settling, a drop on
    the lens) dropped the picture and forgot the change: the next confident "empty" took in whatever stood there."""
    gate, pictures, _ = _rig()
    empty, person = render(Scene()), render(Scene(people=(Person(250),)))
    pictures.see(gate.prepare(empty), "A", SURE_EMPTY, 100.0, float("-inf"), STILL_S)
    pictures.see(gate.prepare(person), "A", SURE_EMPTY, 120.0, 110.0, STILL_S)
    assert pictures.changed() == {"A"}
    pictures.see(gate.prepare(person), "A", None, 121.0, 110.0, STILL_S)
    assert gate.has("A", EMPTY) and pictures.changed() == {"A"}
    for t in (125.0, 130.0, 190.0):
        pictures.see(gate.prepare(person), "A", SURE_EMPTY, t, 110.0, STILL_S)
        assert pictures.changed() == {"A"}, t
    pictures.see(gate.prepare(empty), "A", SURE_EMPTY, 200.0, 195.0, STILL_S)  # they left: the bay as it was
    assert not pictures.changed()
