"""The installer page's save refuses NaN / ±Infinity in a polygon: 4xx naming the key, file unchanged.

The probe sent NaN through the installer's save and got 200: the bay then never saw a car.
JSON from a browser may carry the literals ``NaN`` / ``Infinity`` or an overflowing ``1e999``.
"""

from __future__ import annotations

import pytest

from edge_agent.config.load import load_config
from tests.web.test_api import logged_in, token

BODIES = [
    b'{"bays": [{"id": "A1", "polygon": [[NaN, NaN], [NaN, NaN], [NaN, NaN], [NaN, NaN]]}]}',
    b'{"bays": [{"id": "A1", "polygon": [[10, 300], [Infinity, 300], [400, 530]]}]}',
    b'{"bays": [{"id": "A1", "polygon": [[10, 300], [400, -Infinity], [400, 530]]}]}',
    b'{"bays": [{"id": "A1", "polygon": [[10, 300], [1e999, 300], [400, 530]]}]}',
]


@pytest.mark.parametrize("body", BODIES)
def test_installer_save_refuses_non_finite_points(site, body: bytes) -> None:  # noqa: ANN001
    client = logged_in(site)
    tok = token(client, "/installer")
    before = site.config_path.read_text(encoding="utf-8")
    bays_before = [(b.id, b.polygon) for b in load_config(site.config_path).bays]
    overrides = site.root / "data" / "overrides.yaml"  # where installer saves go
    assert not overrides.exists()
    r = client.post("/installer", content=body,
                    headers={"X-CSRF-Token": tok, "content-type": "application/json"})
    assert r.status_code in (400, 422), (r.status_code, r.text)
    problems = r.json()["problems"]
    assert any("bays[0].polygon" in p and "finite" in p for p in problems), problems
    assert site.config_path.read_text(encoding="utf-8") == before and not overrides.exists()  # nothing written
    assert [(b.id, b.polygon) for b in load_config(site.config_path).bays] == bays_before
    assert not site.control.reloads  # nothing reloaded


@pytest.mark.parametrize("body", [
    b'{"bays": [{"id": "A1", "polygon": [[10, 300], [' + b"9" * 400 + b', 300], [400, 530]]}]}',  # OverflowError
    b'{"bays": [{"id": "A1", "polygon": [[true, true], [400, 300], [400, 530]]}]}',  # Python calls True an int
])
def test_installer_save_refuses_numbers_no_pixel_can_be(site, body: bytes) -> None:  # noqa: ANN001
    """A 400-digit integer once gave HTTP 500 (float() overflows); JSON true was saved as pixel 1.0."""
    client = logged_in(site)
    tok = token(client, "/installer")
    r = client.post("/installer", content=body, headers={"X-CSRF-Token": tok, "content-type": "application/json"})
    assert r.status_code == 400, (r.status_code, r.text)
    assert r.json()["problems"] == ["bays[0].polygon: must be a list of [x, y] numbers"]
    assert not (site.root / "data" / "overrides.yaml").exists() and not site.control.reloads


def test_installer_visits_share_one_picture(site) -> None:  # noqa: ANN001
    """GET /installer opens the camera and stores a picture; any site can make a logged-in browser GET it,
    so repeated visits within SNAPSHOT_REUSE_S show the same picture instead of filling the evidence store."""
    from edge_agent.web.routes_site import SNAPSHOT_REUSE_S

    taken: list[str] = []
    take = site.control.snapshot
    site.control.snapshot = lambda bay_id: taken.append(take(bay_id)) or taken[-1]
    client = logged_in(site)
    pages = [client.get("/installer").text for _ in range(5)]
    assert len(taken) == 1 and all(f"/evidence/{taken[0]}" in p for p in pages)
    site.clock.advance(SNAPSHOT_REUSE_S + 0.1)
    page = client.get("/installer").text
    assert len(taken) == 2 and f"/evidence/{taken[1]}" in page


@pytest.mark.parametrize("bay_id", [b"null", b"5", b"true", b'["A2"]'])
def test_installer_save_refuses_a_bay_id_that_is_not_text(site, bay_id: bytes) -> None:  # noqa: ANN001
    """``str()`` of the JSON value was the id: ``null`` saved a bay named "None" (and ``5`` one named "5",
    which the same YAML key, as a number, is refused)."""
    client = logged_in(site)
    tok = token(client, "/installer")
    body = (b'{"bays": [{"id": "A1", "polygon": [[40, 300], [460, 300], [470, 530], [20, 530]]}, {"id": ' + bay_id
            + b', "polygon": [[500, 300], [920, 300], [940, 530], [490, 530]]}]}')
    r = client.post("/installer", content=body, headers={"X-CSRF-Token": tok, "content-type": "application/json"})
    assert r.status_code == 400, (r.status_code, r.text)
    assert r.json()["problems"] == ["bays[1].id: must be text (letters, digits and _ . -)"]
    assert not (site.root / "data" / "overrides.yaml").exists() and not site.control.reloads


@pytest.mark.parametrize("body", [
    b'{"bays": [{"id": "A1", "polygon": [[10, 300], [400, 300], [400, 530]]}], '
    b'"bays": [{"id": "A1", "polygon": [[0, 0], [1, 0], [1, 1]]}]}',
    b'{"bays": [{"id": "A1", "polygon": [[10, 300], [400, 300], [400, 530]], "id": "A2"}]}',
])
def test_installer_save_refuses_a_name_given_twice(site, body: bytes) -> None:  # noqa: ANN001
    """``bays`` (or a bay's ``id``) twice in one object: Python's parser took the last, while a proxy, a log or a
    reviewer reading the first saw another outline. Which one counts is left by RFC 8259 to each parser: refused."""
    client = logged_in(site)
    tok = token(client, "/installer")
    r = client.post("/installer", content=body, headers={"X-CSRF-Token": tok, "content-type": "application/json"})
    assert r.status_code == 400, (r.status_code, r.text)
    assert "appears twice" in r.json()["problems"][0], r.text
    assert not (site.root / "data" / "overrides.yaml").exists() and not site.control.reloads
