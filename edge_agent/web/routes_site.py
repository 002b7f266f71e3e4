"""Live bays, the installer's bay drawing page, and the audit log."""

from __future__ import annotations

import logging
import math
import sqlite3
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from edge_agent.config.configfile import ConfigFile
from edge_agent.config.load import ConfigError
from edge_agent.control import ControlError, InstallerView, Warp
from edge_agent.events.schemas import quote
from edge_agent.evidence.forget import masked
from edge_agent.sqlite_damage import is_no_space, is_unavailable
from edge_agent.web.context import (
    NotWritten,
    WebContext,
    audit,
    audit_outcome,
    ctx_of,
    head_only,
    is_form,
    lang_of,
    render,
    require_csrf,
    require_role,
    require_user,
    viewed,
)
from edge_agent.web.i18n import Translator, translator
from edge_agent.web.inputs import MAX_PAGE, json_body
from edge_agent.web.offline import OfflineControl
from edge_agent.web.roles import MAY_AUDIT, MAY_INSTALL
from edge_agent.web.views import AuditUnavailable

router = APIRouter(dependencies=[Depends(require_user)])
log = logging.getLogger(__name__)
LIVE_REFRESH_S = 15  # the live page reloads this often while nobody uses it (page.js; a plain meta refresh without JS)
SNAPSHOT_REUSE_S = 10.0  # /installer visits within this reuse the last picture instead of storing another
INSTALLER_VIEWS = 32  # pictures whose placement a Save can still be carried from (one per 10 s at most: 5 min)


@router.get("/bays")
def live_bays(request: Request):
    ctx = ctx_of(request)
    states = ctx.bus.states() if ctx.bus is not None else {}
    ids = [b.id for b in ctx.cfg.bays] + sorted(set(states) - {b.id for b in ctx.cfg.bays})
    warnings = ctx.control.charger_warnings()
    t = translator(lang_of(request))
    park_min = ctx.cfg.charger_health.suspect_park_min
    unseen_of = getattr(ctx.control, "bays_unseen", None)  # the review page's control has no camera
    # `edge-agent review` runs no camera loop: its bays have no live state, and "no bay state yet" on a bay the log
    # shows cars in read as a fault to a manager (probe newuser36); the card says the page runs without the agent
    live = not isinstance(ctx.control, OfflineControl)
    unseen = unseen_of() if unseen_of is not None else {}
    # why a lock is faulted or stays down, and what to do (``LockNote``): only the events said it before
    notes_of = getattr(ctx.control, "lock_notes", None)  # the review page's control has no locks
    notes = notes_of() if notes_of is not None else {}
    bays = [{"id": i, "state": states.get(i), "evidence": ctx.log.last_evidence(i), "unseen": unseen.get(i),
             "lock_note": notes.get(i),
             "chargers": [{**w, "words": _charger_words(t, w, ctx.log.event_data(str(w.get("event_id"))), park_min)}
                          for w in warnings.get(i, [])]}
            for i in ids]
    hidden = not _audit_live_plates(request, bays)
    if hidden:  # the states, locks and warnings go on; the plates and pictures wait for the audit log
        bays = [{**b, "evidence": None, "state": b["state"] and replace(b["state"], plate=None, colour=None, nev=None,
                                                                         nev_reason=None)} for b in bays]
    banner = _camera_banner(ctx.control)
    # The banner interrupts a screen reader (role=alert) when it first appears to this session; the page reloads
    # every LIVE_REFRESH_S, and an alert present at each load was read out again every 15 s. From then on it is a
    # status (read when reached) while that banner lasts. A later move is news, whether or not this session saw the
    # camera set right in between: the session keeps which banner and which move it was told of (the move's
    # camera_moved event), not only that it was told (a move, a fix and a move again while nobody had /bays open
    # read as the old one: a status).
    seen = f"{banner}:{ctx.camera_move}" if banner is not None else None
    told = seen is not None and request.session.get("camera_moved_told") == seen
    if seen is not None:
        request.session["camera_moved_told"] = seen
    else:
        request.session.pop("camera_moved_told", None)
    return render(request, "bays.html", bays=bays, flash=request.session.pop("flash", []), camera_banner=banner,
                  camera_told=told, refresh_s=LIVE_REFRESH_S, plates_hidden=hidden, live=live)


def _audit_live_plates(request: Request, bays: list[dict[str, Any]]) -> bool:
    """Audit the plates the live page shows (``viewed_bays``, one item a car: ``A1:<visit id>``, coalesced per user,
    address and window like the other looks); False when the audit log cannot be written: show none. Why: the page
    named every parked car's plate by bay and time to anyone signed in, reloading every 15 s, and no row said who
    looked; its pictures were audited (``viewed_photo``), the plate beside them was not."""
    try:
        for b in bays:
            state = b["state"]
            if state is not None and state.plate:
                viewed(request, "viewed_bays", f"{b['id']}:{state.visit_id or '-'}")
    except AuditUnavailable:
        return False
    return True


def _camera_banner(control: Any) -> str | None:
    """The live page's camera banner: ``moved`` (reported ``camera_moved``), ``unmatched`` (the view matches no
    reference: where the bays lie is unknown) or None. Why the second: a camera replaced while the agent was
    stopped reads ``camera_unmatched``, never ``camera_moved``; the page then said only "matches no reference"
    under each bay, with no Confirm and no word of where to act, while every lock stayed down."""
    if getattr(control, "camera_moved", False):  # an agent without registration has none
        return "moved"
    placement = _placement_now(control)
    return "unmatched" if placement is not None and placement[1] == "unmatched" else None


def _charger_words(t: Translator, warning: dict[str, Any], data: dict[str, Any] | None, park_min: float) -> str:
    """A charger warning's why in the user's words, from the numbers its event carries (the event's ``reason``
    is an English sentence for logs and the backend: it showed as is on the Chinese page)."""
    ev = (data or {}).get("evidence") or {}
    kind = warning.get("kind")
    if kind == "charger_mismatch" and isinstance(ev.get("empty_min"), (int, float)):
        return t("cw_mismatch", min=f"{ev['empty_min']:g}")
    if kind == "charger_silent" and isinstance(ev.get("silent_h"), (int, float)):
        return t("cw_silent", h=f"{ev['silent_h']:.1f}", n=ev.get("visit_count", "?"))
    if kind == "charger_suspect" and isinstance(ev.get("visits"), list):
        return t("cw_suspect", n=len(ev["visits"]), min=f"{park_min:g}")
    return str(warning.get("reason") or "")


@router.post("/camera/confirm", dependencies=[Depends(require_csrf), Depends(require_role(*MAY_INSTALL))])
def confirm_camera(request: Request):
    """The installer checked that the drawn bays fit the camera's current view."""
    ctx = ctx_of(request)
    row = audit(request, "camera_confirm", "camera")  # before: a log that cannot take it refuses it (503)
    before = _placement_now(ctx.control)
    try:
        result = ctx.control.confirm_camera()
        _rebase_views(ctx, before)
        audit_outcome(request, row, result.message)
        if not result.ok:
            request.session.setdefault("flash", []).append(["error", result.message])
    except Exception as exc:  # no frame yet, or an agent without registration
        audit_outcome(request, row, f"failed: {exc}")
        request.session.setdefault("flash", []).append(["error", str(exc)])
    return RedirectResponse("/bays", status_code=303)


@router.post("/bays/{bay_id}/snapshot", dependencies=[Depends(require_csrf), Depends(require_role(*MAY_INSTALL))])
def take_snapshot(request: Request, bay_id: str = Path(max_length=64)):
    ctx = ctx_of(request)
    # the row before the picture (the bay and its margin; the whole view with photo: frame): none is taken that the log
    # cannot name; a failure was caught below with the camera's and the picture stood stored, un-audited, "failed" on the page
    row = audit(request, "snapshot", f"bay:{bay_id}")
    try:
        evidence_id = ctx.control.snapshot(bay_id)
        audit_outcome(request, row, evidence_id)
    except Exception as exc:  # the camera may be away; say so on the page
        audit_outcome(request, row, f"failed: {exc}")
        log.warning("snapshot for %s failed: %s", quote(bay_id, 70), exc)  # quoted: a %0A in the path forged lines
        request.session.setdefault("flash", []).append(["error", f"{bay_id}: {_no_picture(request, exc)}"])
    return RedirectResponse("/bays", status_code=303)


@router.get("/installer", dependencies=[Depends(require_role(*MAY_INSTALL))])
def installer(request: Request):
    ctx = ctx_of(request)
    view, error = installer_picture(request, ctx)
    cam = ctx.cfg.camera
    bays = [{"id": b.id, "polygon": placed(b.id, [list(p) for p in b.polygon], view)} for b in ctx.cfg.bays]
    drift = max((_farthest(p["polygon"], [list(q) for q in b.polygon]) for p, b in zip(bays, ctx.cfg.bays)),
                default=0.0)
    return render(request, "installer.html", evidence_id=view.evidence_id if view else None, error=error, bays=bays,
                  size=[cam.width or 1280, cam.height or 720], writable=ctx.config_file is not None,
                  camera=view.camera if view else "ok", drift_px=round(drift),
                  # a lost, frozen, black or covered camera: the picture is its last frame, no moment to draw bays on
                  camera_problem=view.camera_problem if view else "")


def _no_picture(request: Request, exc: Exception) -> str:
    """Why no picture, in the page's language where the refusal's code has words (``snapshot_<code>``: a camera that
    sends nothing); the Chinese page said it in English (probe newuser40)."""
    code = exc.code if isinstance(exc, ControlError) else ""
    said = translator(lang_of(request)).label("snapshot", code) if code else ""
    return said if said and said != code else str(exc)


def installer_picture(request: Request, ctx: WebContext) -> tuple[InstallerView | None, str | None]:
    """The installer pages' picture (reused for ``SNAPSHOT_REUSE_S`` while the view holds), audited as looked at;
    or None and why not (the camera's failure: the page says it)."""
    view, error = None, None
    now, last = ctx.clock.monotonic(), ctx.installer_snapshot
    try:
        if last is not None and 0 <= now - last[0] < SNAPSHOT_REUSE_S and _unmoved(ctx.control, last[1]):
            view = last[1]
        elif not head_only(request):  # a HEAD (a probe, a link checker) takes and stores no camera picture
            view = _installer_view(ctx.control)
            ctx.installer_snapshot = (now, view)
            with ctx.installer_views_lock:
                ctx.installer_views[view.evidence_id] = view
                while len(ctx.installer_views) > INSTALLER_VIEWS:
                    del ctx.installer_views[next(iter(ctx.installer_views))]
    except sqlite3.Error as exc:
        if not (is_unavailable(exc) or is_no_space(exc)):
            error = str(exc)
            log.warning("installer snapshot failed: %s", exc)
        else:  # the database, not the camera: the page's 503 (507) in the user's language, with Retry-After
            raise
    except Exception as exc:
        error = _no_picture(request, exc)
        log.warning("installer snapshot failed: %s", exc)
    if view is not None:
        # the picture shows every parked car's plate: looked at only once audited (without this a log that could
        # not take the look left the page with a broken picture and no word why). This count is its fetch's
        # (``/evidence``), which counted it again until 2026-12-05: two views a visit
        viewed(request, "viewed_photo", f"{view.evidence_id}/frame", fetched_next=True)
    return view, error


def _installer_view(control: Any) -> InstallerView:
    """The picture to draw on, with the bays where the agent places them on it (a control without a camera loop
    of its own: only the picture)."""
    take = getattr(control, "installer_view", None)
    return take() if take is not None else InstallerView(control.snapshot(None))


def _unmoved(control: Any, view: InstallerView) -> bool:
    """Whether the agent still places the bays as on ``view``'s picture (else a new picture is due)."""
    now_of = getattr(control, "placement", None)
    return now_of is None or now_of() == (view.warp, view.camera, view.reference)


def _placement_now(control: Any) -> tuple[Warp, str, int] | None:
    now_of = getattr(control, "placement", None)
    return now_of() if now_of is not None else None


def _rebase_views(ctx: Any, before: tuple[Warp, str, int] | None) -> None:
    """After this page process started a new reference (a Save, a confirmed view), placed as ``before`` said: the
    new reference is the view as it was, so a picture's placement on the old one carries over by undoing the shift
    then. Without this, a second Save from a page still open (or from another tab) was carried by the old shift
    undone against the new reference: every bay 16 px off. A reference started elsewhere (SIGHUP, a moved camera)
    leaves the pictures on the old one, and a Save from them is refused (``StaleReference``)."""
    after = _placement_now(ctx.control)
    if before is None or after is None or before[1] != "ok" or after[2] != before[2] + 1:
        return
    undo = _invert(before[0])
    if undo is None:
        return
    with ctx.installer_views_lock:
        for eid, view in list(ctx.installer_views.items()):
            if view.reference == before[2]:
                ctx.installer_views[eid] = replace(view, warp=_compose(view.warp, undo), reference=after[2])


def placed(bay_id: str, drawn: list, view: InstallerView | None) -> list:
    """The outline the page shows and a Save writes: where the agent places the bay on the picture (the drawn one
    carried along with the camera's view), when it runs this outline; else as drawn (no picture, a control with
    no camera loop, or a config the agent has not applied: the page shows what its Save will keep)."""
    got = view.placed.get(bay_id) if view is not None else None
    if got is None or got[0] != [[float(x), float(y)] for x, y in drawn]:
        return drawn
    return got[1]


class ViewMoved(Exception):
    """The camera moved beyond what the bays follow (or to a view that matches nothing) since the page's picture."""


class StaleReference(Exception):
    """Another reference was taken since the page's picture, with no known way from one to the other."""


def _onto_current_view(ctx: Any, body: Any, bays: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``bays`` as drawn on the page's picture, carried to the view as it is now: the Save's reference is the view at
    the reload, and a page left open while the mount sagged on drew on an older one. The page names its picture
    (``picture``: its evidence id); one drawn while the camera counted as moved, or on a picture this page process
    did not take, is the installer's redraw as it stands. Raises ``ViewMoved`` when the view moved beyond tolerance
    or matches nothing since the picture was in place: no outline drawn on it can be placed now."""
    picture = body.get("picture") if isinstance(body, dict) else None
    with ctx.installer_views_lock:  # the Save runs on a worker thread, beside pages storing (and evicting) pictures
        view = ctx.installer_views.get(picture) if isinstance(picture, str) else None
    now_of = getattr(ctx.control, "placement", None)
    if view is None or now_of is None or view.camera != "ok":
        return bays
    warp, state, reference = now_of()
    if state != "ok":
        raise ViewMoved(f"the camera's view has changed since this page's picture was taken ({state}): reload the "
                        "page and draw on the current picture")
    if reference != view.reference:  # its shift was measured against another reference: it carries nothing now
        raise StaleReference("the bays were saved elsewhere (or the camera's view confirmed) since this page's "
                             "picture was taken: reload the page and draw on the current picture")
    inv = _invert(view.warp)
    if warp == view.warp or inv is None:  # the view has not moved since (the agent follows moves of 1 px or more)
        return bays
    carry = _compose(warp, inv)  # picture px -> drawn px -> the current view's px
    return [{**bay, "polygon": [list(p) for p in _apply(carry, bay["polygon"])]} for bay in bays]


def _invert(warp: Warp) -> Warp | None:
    (a, b, c), (d, e, f) = warp
    det = a * e - b * d
    if not det:
        return None
    return ((e / det, -b / det, (b * f - e * c) / det), (-d / det, a / det, (d * c - a * f) / det))


def _compose(outer: Warp, inner: Warp) -> Warp:
    (a, b, c), (d, e, f) = outer
    (p, q, r), (u, v, w) = inner
    return ((a * p + b * u, a * q + b * v, a * r + b * w + c), (d * p + e * u, d * q + e * v, d * r + e * w + f))


def _apply(warp: Warp, points: list) -> list[tuple[float, float]]:
    (a, b, c), (d, e, f) = warp
    return [(a * float(x) + b * float(y) + c, d * float(x) + e * float(y) + f) for x, y in points]


def _farthest(a: list, b: list) -> float:
    return max((math.hypot(x - u, y - v) for (x, y), (u, v) in zip(a, b)), default=0.0)


def _parse_bays(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("bays"), list):
        raise ValueError("body must be {\"bays\": [{\"id\": …, \"polygon\": [[x, y], …]}, …]}")
    out = []
    for i, b in enumerate(body["bays"]):
        poly = b.get("polygon") if isinstance(b, dict) else None
        if not isinstance(poly, list) or not all(
            isinstance(p, (list, tuple)) and len(p) == 2 and all(_is_pixel(c) for c in p) for p in poly
        ):
            raise ValueError(f"bays[{i}].polygon: must be a list of [x, y] numbers")
        bay_id = b.get("id", "")  # a dict: its polygon was found above
        if not isinstance(bay_id, str):  # str() made JSON null the bay "None", 5 "5" and true "True"
            raise ValueError(f"bays[{i}].id: must be text (letters, digits and _ . -)")
        out.append({"id": bay_id.strip(), "polygon": poly})
    return out


def _parse_size(body: Any) -> tuple[int, int] | None:
    """The snapshot's size the page drew on (``[width, height]``), or None when it sent none (no picture)."""
    size = body.get("size") if isinstance(body, dict) else None
    if size is None:
        return None
    if not isinstance(size, list) or len(size) != 2 or not all(
            isinstance(v, int) and not isinstance(v, bool) and 8 <= v <= 16384 for v in size):
        raise ValueError("size: must be [width, height], whole pixels from 8 to 16384")
    return size[0], size[1]


def _is_pixel(c: Any) -> bool:
    """A coordinate to hand to the config (which names a non-finite or out-of-range one): a number, but not
    JSON true/false (Python calls them ints) and not an integer too big for a float (float() overflowed:
    once an HTTP 500)."""
    if isinstance(c, bool) or not isinstance(c, (int, float)):
        return False
    if isinstance(c, int):
        try:
            float(c)
        except OverflowError:
            return False
    return True


@router.post("/installer", dependencies=[Depends(require_csrf), Depends(require_role(*MAY_INSTALL))])
async def save_bays(request: Request):
    """Validate like check-config, write the data dir's overrides (previous one kept), then ask the agent to reload."""
    ctx = ctx_of(request)
    if ctx.config_file is None:
        raise HTTPException(409, "this page was started without a config file to write")
    if is_form(request):  # its body is already read for the CSRF token: reading it again was a 500
        return JSONResponse({"ok": False, "problems": ["body: not JSON (a form was posted)"]}, status_code=400)
    raw = await request.body()
    # The rest on the page's thread pool, as the plain ``def`` routes run: the reload loads models and re-opens the
    # camera (seconds), and on the event loop it stalled every other visitor's page until it was done.
    return await run_in_threadpool(_save_bays, request, ctx, ctx.config_file, raw)


def _save_bays(request: Request, ctx: WebContext, config_file: ConfigFile, raw: bytes) -> JSONResponse:
    """``save_bays`` past reading the body; one Save at a time (each carries outlines from the view it finds and
    rebases the page's pictures on the reference its reload takes)."""
    with ctx.bay_saves:
        return _save_bays_now(request, ctx, config_file, raw)


def _save_bays_now(request: Request, ctx: WebContext, config_file: ConfigFile, raw: bytes) -> JSONResponse:
    row, drawn = None, ""
    try:
        body = json_body(raw)
        bays = _onto_current_view(ctx, body, _parse_bays(body))
        size = _parse_size(body)
        drawn = ", ".join(f"{b['id']}:{len(b['polygon'])}pts" for b in bays)
        # the row before anything is written (503 when the log cannot take it); what came of it amends it
        row = audit(request, "save_bays", str(config_file.overrides), drawn)
        learned = getattr(ctx.control, "bays_size", None)  # a config without camera.width / height: the agent's
        cfg, backup = config_file.set_bays(bays, size, learned() if learned is not None else None)
    except ViewMoved as exc:  # nothing written: the drawing stays on the page
        return JSONResponse({"ok": False, "view_moved": True, "problems": [str(exc)]}, status_code=409)
    except StaleReference as exc:
        return JSONResponse({"ok": False, "stale": True, "problems": [str(exc)]}, status_code=409)
    except ConfigError as exc:
        audit_outcome(request, row, f"{drawn}; refused: {'; '.join(exc.problems)}")
        return JSONResponse({"ok": False, "problems": exc.problems}, status_code=422)
    except ValueError as exc:
        return JSONResponse({"ok": False, "problems": [str(exc)]}, status_code=400)
    except OSError as exc:  # a data dir the agent cannot write: say where and why (507 / 503), keep running
        audit_outcome(request, row, f"{drawn}; not written: {exc.strerror or exc}")
        raise NotWritten(config_file.overrides, exc) from None
    ctx.cfg.bays = cfg.bays  # the page shows what was saved even before the agent reloads
    ctx.cfg.camera = cfg.camera
    ctx.installer_snapshot = None  # its outlines were placed for the bays before this Save: the page asks again
    before = _placement_now(ctx.control)
    try:
        result = ctx.control.reload_config(installer=True)  # drawn over the current picture: may take it as reference
        reload = {"ok": result.ok, "message": result.message}
    except Exception as exc:
        reload = {"ok": False, "message": str(exc)}
    # one line, as SIGHUP's and MQTT's reloads leave: the Save's said nothing in the log (operator15)
    log.log(logging.INFO if reload["ok"] else logging.ERROR, "installer save (%s): %s", drawn, reload["message"])
    _rebase_views(ctx, before)
    audit_outcome(request, row, f"{drawn}; backup {backup.name if backup else '-'}")
    return JSONResponse({"ok": True, "saved": str(config_file.overrides),
                         "backup": str(backup) if backup else None, "reload": reload,
                         "bays": [b["id"] for b in bays]})


AUDIT_PAGE = 300  # rows per page of /audit


@router.get("/audit", dependencies=[Depends(require_role(*MAY_AUDIT))])
def audit_page(request: Request, page: int = Query(1, ge=1, le=MAX_PAGE)):
    """Every row, newest first, a page at a time (a page past the end is the last). Only the newest 300 were
    shown: anyone on the network could push a decision off the page with failed logins (65 rows in 5 minutes
    from each address they use), and a busy site lost its older rows from view within weeks.

    The log of who looked at which plate is itself personal data (staff's: who worked when, from where; drivers':
    the plates a list edit names), so: ``admin`` only; each look is audited (``viewed_audit``, coalesced like the
    others, the page seen), before a row is shown; a list edit's plate is shown masked (``粤B***45``), and in full
    only for the row asked for (``reveal_plate``). Until 2026-12-05 every signed-in role read every list edit's
    plate here, unaudited."""
    return _audit_view(request, page, None)


@router.post("/audit", dependencies=[Depends(require_csrf), Depends(require_role(*MAY_AUDIT))])
def reveal_plate(request: Request, page: int = Form(1, ge=1, le=MAX_PAGE),
                 reveal: int = Form(ge=1, le=2**63 - 1)):
    """The audit page with one list edit's plate in full (its row's id: ``reveal``), that reveal audited
    (``plate#ID``). A form with the page's CSRF token: it was a GET (``/audit?reveal=ID``), which a link on any site
    made a signed-in admin's browser follow (SameSite=Lax sends the cookie with a top-level navigation), writing a
    row that said the admin had asked for that plate. Answered as the page itself, not a redirect: the plate is not
    put in a URL (history, a shared link) and a reload shows it only after the browser asks to send the form again."""
    return _audit_view(request, page, reveal)


def _audit_view(request: Request, page: int, reveal: int | None):
    ctx = ctx_of(request)
    log = ctx.log
    pages = max(1, -(-log.audit_count() // AUDIT_PAGE))
    page = min(page, pages)
    viewed(request, "viewed_audit", f"page={page}")  # before a row is read: AuditUnavailable is the 503
    ctx.views.flush()  # the looks coalesced in memory, counted as they stand now (this one too)
    entries = log.audit_entries(AUDIT_PAGE, (page - 1) * AUDIT_PAGE)
    revealed = next((a["id"] for a in entries if a["id"] == reveal and _plate_target(a)), None)
    if revealed is not None:
        viewed(request, "viewed_audit", f"plate#{revealed}")
        ctx.views.flush()
    return render(request, "audit.html", entries=entries, page=page, pages=pages, revealed=revealed, mask=masked)


def _plate_target(entry: dict[str, Any]) -> bool:
    """A row whose target names a plate (a list edit's ``plate:粤B12345``)."""
    return str(entry.get("target") or "").startswith("plate:")
