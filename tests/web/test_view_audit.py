"""Looking at personal data is audited: a violation's page, its photos, the violation list — who, what, when —
coalesced so that a page of pictures is one row, not one a request."""

from __future__ import annotations

from tests.web.test_api import logged_in


def _views(site) -> list[dict]:
    return [a for a in site.log.audit_entries() if a["action"].startswith("viewed_")]


def test_a_look_at_a_violation_and_its_photos_is_audited_once_per_window(site):
    """Until 2026-12-05 the audit log had decisions, list edits and exports, and no row for a look: anyone signed in
    could page through every plate and photo untraced (PIPL: access to personal information is traceable)."""
    c = logged_in(site)
    v1, v2 = site.log.get(1), site.log.get(2)
    assert c.get("/violations/1").status_code == 200
    for _ in range(30):  # a reloading page, its pictures each time
        for which in ("frame", "crop"):
            assert c.get(f"/evidence/{v1.evidence_id}/{which}.jpg").status_code == 200
    c.get("/violations/2")
    c.get(f"/evidence/{v2.evidence_id}/frame.jpg")
    c.get("/violations?bay=A1&plate=粤B")
    rows = {a["action"]: a for a in _views(site)}
    assert sorted(rows) == ["viewed_list", "viewed_photo", "viewed_violation"] and len(_views(site)) == 3
    assert (rows["viewed_violation"]["user"], rows["viewed_violation"]["target"]) == ("admin", "violation:1")
    assert rows["viewed_violation"]["detail"] == "2 view(s): #1, #2"
    assert rows["viewed_photo"]["detail"] == (f"61 view(s): {v1.evidence_id}/frame, {v1.evidence_id}/crop, "
                                              f"{v2.evidence_id}/frame")
    assert rows["viewed_list"]["detail"] == "1 view(s): bay=A1&plate=粤B&page=1"
    assert rows["viewed_photo"]["ip"]  # from where
    site.clock.advance(601)  # the next window: a row of its own, with its own time
    c.get(f"/evidence/{v2.evidence_id}/crop.jpg")
    newest = _views(site)[0]
    assert (newest["action"], newest["detail"]) == ("viewed_photo", f"1 view(s): {v2.evidence_id}/crop")
    assert newest["ts"] > rows["viewed_photo"]["ts"]
    assert "查看照片" in c.get("/audit").text  # the page says it in its language


def test_a_head_or_a_missing_photo_is_no_look(site):
    c = logged_in(site)
    assert c.head(f"/evidence/{site.log.get(1).evidence_id}/frame.jpg").status_code == 200
    assert c.get("/evidence/no-such-id/frame.jpg").status_code == 404
    assert [a for a in _views(site) if a["action"] == "viewed_photo"] == []
