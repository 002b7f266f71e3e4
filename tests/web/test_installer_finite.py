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
