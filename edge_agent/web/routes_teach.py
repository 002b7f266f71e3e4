"""The installer page's "teach this camera" mode (``web/teach.py`` has the why): label, calibrate, use it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from edge_agent.clock import parse_iso
from edge_agent.config.configfile import ConfigFile
from edge_agent.config.load import ConfigError
from edge_agent.config.models import AgentConfig
from edge_agent.control import InstallerView
from edge_agent.occupancy.labels import LabelInputError
from edge_agent.web.context import (
    NotWritten,
    WebContext,
    audit,
    audit_outcome,
    ctx_of,
    current_user,
    is_form,
    render,
    require_csrf,
    require_role,
    require_user,
)
from edge_agent.web.inputs import json_body
from edge_agent.web.roles import MAY_INSTALL
from edge_agent.web.routes_site import installer_picture, placed
from edge_agent.web.teach import (
    CALIBRATION_NAME,
    SITE_MODEL_NAME,
    TeachRefused,
    counts,
    go_back,
    labels_folder,
    parse_labels,
    way_back,
)

router = APIRouter(dependencies=[Depends(require_user), Depends(require_role(*MAY_INSTALL))])
log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024  # a flag per bay: far below the page's body limit


def _polygons(ctx: WebContext, view: InstallerView | None) -> dict[str, list]:
    """Each bay's outline where the agent places it on ``view``'s picture (as the installer page shows it)."""
    return {b.id: placed(b.id, [list(p) for p in b.polygon], view) for b in ctx.cfg.bays}


def _counts(ctx: WebContext) -> dict[str, Any]:
    try:
        return counts(ctx.cfg).as_dict()
    except LabelInputError as exc:  # a labels file someone broke by hand: say so, label nothing
        return {"error": str(exc)}


@router.get("/installer/teach")
def teach_page(request: Request):
    """The current picture with each bay tinted by the classifier's guess; a click flips it."""
    ctx = ctx_of(request)
    view, error = installer_picture(request, ctx)
    bays: list[dict[str, Any]] = []
    polygons = _polygons(ctx, view)
    # a lost, frozen, black or covered camera: its picture is no moment to label (the last frame it sent, again)
    if view is not None and view.camera == "ok" and not view.camera_problem:
        try:
            from edge_agent.camera.decode import decode_bytes

            data = ctx.store.read_image(view.evidence_id)  # never through a link (a FIFO there hung this view)
            if data is None:
                raise FileNotFoundError(view.evidence_id)
            guesses = {g.bay_id: g for g in ctx.teach.guesses(ctx.cfg, decode_bytes(data).image, polygons)}
        except Exception as exc:  # the model cannot be loaded, the picture is gone: the page says it
            error = str(exc)
            log.warning("teach: cannot classify the picture: %s", exc)
            guesses = {}
        for bay_id, poly in polygons.items():
            g = guesses.get(bay_id)
            seen = g is not None and not g.unseen
            # an unsure guess (between the agent's exit_p and enter_p) starts as the likelier state, tinted amber
            bays.append({"id": bay_id, "polygon": poly, "p": round(g.p, 3) if g is not None and seen else None,
                         "occupied": bool(g is not None and seen and g.p >= 0.5),
                         "unsure": bool(g is not None and seen and not g.occupied), "unseen": not seen})
    cam = ctx.cfg.camera
    return render(request, "teach.html", evidence_id=view.evidence_id if view else None, error=error,
                  camera=view.camera if view else "ok", camera_problem=view.camera_problem if view else "", bays=bays, size=[cam.width or 1280, cam.height or 720],
                  counts=_counts(ctx), result=ctx.teach.status(), writable=ctx.config_file is not None,
                  way_back=_way_back(ctx))


@router.get("/installer/teach/status")
def teach_status(request: Request):
    ctx = ctx_of(request)
    return JSONResponse({"counts": _counts(ctx), "result": ctx.teach.status()})


async def _body(request: Request) -> Any:
    if is_form(request):  # its body is already read for the CSRF token
        raise ValueError("body: not JSON (a form was posted)")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ValueError(f"body: over {MAX_BODY} bytes")
    return json_body(raw)


def _refused(status: int, problem: str, code: str = "", values: dict[str, float] | None = None) -> JSONResponse:
    """``problems`` for scripts and the log; ``code`` and ``values``, when given, for the page's own words."""
    body: dict[str, Any] = {"ok": False, "problems": [problem]}
    if code:
        body.update(code=code, values=values or {})
    return JSONResponse(body, status_code=status)


def _taken(ctx: WebContext, picture: str) -> float | None:
    """When the camera took ``picture`` (epoch), from its evidence row; None when the row cannot say."""
    record = ctx.store.get(picture)
    try:
        return parse_iso(record.ts).timestamp() if record is not None else None
    except ValueError:
        return None


@router.post("/installer/teach/frame", dependencies=[Depends(require_csrf)])
async def add_frame(request: Request):
    """Store the page's picture and the installer's flags (one per bay the picture shows) as labels."""
    ctx = ctx_of(request)
    try:
        body = await _body(request)
    except ValueError as exc:
        return _refused(400, str(exc))
    return await run_in_threadpool(_add_frame, request, ctx, body)


def _add_frame(request: Request, ctx: WebContext, body: Any) -> JSONResponse:
    picture = body.get("picture") if isinstance(body, dict) else None
    with ctx.installer_views_lock:
        view = ctx.installer_views.get(picture) if isinstance(picture, str) else None
    if view is None:
        return _refused(409, "picture: not one this page took (or too old): reload the page", "stale_picture")
    if view.camera != "ok":
        return _refused(409, f"the camera's view was {view.camera} on this picture: its bays cannot be labelled")
    if view.camera_problem:
        return _refused(409, f"the camera was not delivering usable frames ({view.camera_problem}) when this picture "
                             "was taken: it is the last frame it sent, not a moment to label")
    polygons = _polygons(ctx, view)
    try:
        picture, flags = parse_labels(body, list(polygons))
    except ValueError as exc:
        return _refused(400, str(exc))
    rec = ctx.store.get(picture)
    if rec is None or rec.frame_file is None:
        return _refused(409, "the picture is gone from the evidence: reload the page")
    detail = ", ".join(f"{b}:{f}" for b, f in flags.items())
    row = audit(request, "teach_frame", f"picture:{picture}", detail)  # a copy of a picture with plates is kept
    try:
        taken = _taken(ctx, picture)
        now = ctx.teach.add_frame(ctx.cfg, picture, (ctx.store.root, rec.frame_file), polygons, flags, taken)
    except TeachRefused as exc:
        audit_outcome(request, row, f"{detail}; refused: {exc}")
        return _refused(exc.status, str(exc), exc.code, exc.values)
    except LabelInputError as exc:  # a labels file or folder the page cannot use: the operator's to remove
        audit_outcome(request, row, f"{detail}; not written: {exc}")
        return _refused(409, f"cannot store the labels: {exc}")
    except OSError as exc:  # a full or read-only data folder: 507 / 503, never a 500
        audit_outcome(request, row, f"{detail}; not written: {exc}")
        raise NotWritten(labels_folder(ctx.cfg), exc) from None
    audit_outcome(request, row, f"{detail}; stored")
    return JSONResponse({"ok": True, "counts": now.as_dict()})


@router.post("/installer/teach/forget", dependencies=[Depends(require_csrf)])
def forget(request: Request):
    """Remove the pictures this page labelled and their rows (they show plates; a wrong label had no way back)."""
    ctx = ctx_of(request)
    row = audit(request, "teach_forget", str(ctx.cfg.data_dir), "")
    try:
        removed = ctx.teach.forget(ctx.cfg)
    except LabelInputError as exc:  # a linked labels folder: nothing deleted, the operator's to remove
        audit_outcome(request, row, f"not removed: {exc}")
        return _refused(409, f"cannot remove the labelled pictures: {exc}")
    except OSError as exc:  # a read-only data folder: 503, never a 500
        audit_outcome(request, row, f"not removed: {exc}")
        raise NotWritten(labels_folder(ctx.cfg), exc) from None
    audit_outcome(request, row, f"{removed} picture(s) removed")
    log.info("teach: %d labelled picture(s) forgotten by %s", removed, current_user(request))
    return JSONResponse({"ok": True, "removed": removed, "counts": _counts(ctx)})


@router.post("/installer/teach/calibrate", dependencies=[Depends(require_csrf)])
def calibrate(request: Request):
    """Start the fit on a worker thread (one at a time); the page polls ``/installer/teach/status``."""
    ctx = ctx_of(request)
    try:
        job = ctx.teach.start(ctx.cfg)
    except TeachRefused as exc:
        return _refused(exc.status, str(exc), exc.code, exc.values)
    return JSONResponse({"ok": True, "job": job}, status_code=202)


@router.post("/installer/teach/use", dependencies=[Depends(require_csrf)])
async def use(request: Request):
    """Write the calibration, set the model and calibration in the overrides, and ask the agent to reload."""
    ctx = ctx_of(request)
    if ctx.config_file is None:
        raise HTTPException(409, "this page was started without a config file to write")
    try:
        body = await _body(request)
    except ValueError as exc:
        return _refused(400, str(exc))
    return await run_in_threadpool(_use, request, ctx, body)


def _use(request: Request, ctx: WebContext, body: Any) -> JSONResponse:
    job = body.get("job") if isinstance(body, dict) else None

    def write(config_file: ConfigFile, user: str) -> tuple[str, AgentConfig, Path | None]:
        written = ctx.teach.use(ctx.cfg, job)
        cfg, backup = config_file.set_occupancy(SITE_MODEL_NAME, CALIBRATION_NAME)
        return f"{written} used ({SITE_MODEL_NAME} set in {config_file.overrides} by {user})", cfg, backup

    return _apply(request, ctx, "use_calibration", f"job {job}", write)


def _page_state(ctx: WebContext) -> tuple[bool, bool]:
    """(the overrides set the classifier, the calibration the agent is set to run is the page's file)."""
    config_file = ctx.config_file
    if config_file is None:
        return False, False
    occupancy = config_file.read().get("occupancy")
    cal = occupancy.get("calibration") if isinstance(occupancy, dict) else None
    data_dir = Path(ctx.cfg.data_dir)
    return (config_file.occupancy_overridden(),
            isinstance(cal, str) and bool(cal) and data_dir / cal == data_dir / CALIBRATION_NAME)


def _way_back(ctx: WebContext) -> dict[str, bool]:
    """The page's way-back buttons (none when the overrides cannot be read: the page's other writes say why)."""
    try:
        return way_back(ctx.cfg, *_page_state(ctx))
    except (ConfigError, OSError) as exc:
        log.warning("teach: cannot tell which calibration is in use: %s", exc)
        return {"previous": False, "shipped": False}


Write = Callable[[ConfigFile, str], tuple[str, AgentConfig, Path | None]]


def _apply(request: Request, ctx: WebContext, action: str, detail: str, write: Write) -> JSONResponse:
    """Audit ``action``, ``write`` the calibration and the overrides, have the agent reload, and say it in its log:
    "Use it" and both ways back, one writer of the overrides and one reload at a time (with the bays' Save)."""
    config_file = ctx.config_file
    assert config_file is not None  # checked by the route
    user = current_user(request) or "?"
    row = audit(request, action, str(config_file.overrides), detail)
    with ctx.bay_saves:
        try:
            said, cfg, backup = write(config_file, user)
        except TeachRefused as exc:
            audit_outcome(request, row, f"refused: {exc}")
            return _refused(exc.status, str(exc))
        except ConfigError as exc:
            audit_outcome(request, row, f"refused: {'; '.join(exc.problems)}")
            return JSONResponse({"ok": False, "problems": exc.problems}, status_code=422)
        except OSError as exc:
            audit_outcome(request, row, f"not written: {exc.strerror or exc}")
            raise NotWritten(ctx.cfg.data_dir, exc) from None  # the overrides or a calibration file: 507 / 503
        ctx.cfg.occupancy = cfg.occupancy  # the page guesses with what was saved even before the agent reloads
        try:
            result = ctx.control.reload_config()
            reload = {"ok": result.ok, "message": result.message}
        except Exception as exc:
            reload = {"ok": False, "message": str(exc)}
        state = _way_back(ctx)
    # the agent's own log says when its classifier changed and who changed it, as a SIGHUP's reload does: a page's
    # reload wrote no line, and the journal of a site whose occupancy verdicts changed that hour said nothing
    if reload["ok"]:
        log.info("teach: %s: %s", said, reload["message"])
    else:
        log.error("teach: %s, but the agent refused to reload, the running classifier kept: %s", said,
                  reload["message"])
    audit_outcome(request, row, f"{said}; reload {'ok' if reload['ok'] else 'refused'}; "
                                f"backup {backup.name if backup else '-'}")
    return JSONResponse({"ok": True, "saved": said, "reload": reload, "way_back": state})


@router.post("/installer/teach/back", dependencies=[Depends(require_csrf)])
def back(request: Request):
    """Put the previous calibration in use again (one generation kept by "Use it"), or, after "Use the shipped
    model", the one in use before it. Why: a calibration made on bad frames was overwritten with no way back."""
    ctx = ctx_of(request)
    if ctx.config_file is None:
        raise HTTPException(409, "this page was started without a config file to write")

    def write(config_file: ConfigFile, user: str) -> tuple[str, AgentConfig, Path | None]:
        _overridden, in_use = _page_state(ctx)
        written = go_back(ctx.cfg, in_use)
        cfg, backup = config_file.set_occupancy(SITE_MODEL_NAME, CALIBRATION_NAME)
        return (f"{written} ({'the previous calibration' if in_use else 'the last one used'}) used again "
                f"({SITE_MODEL_NAME} set in {config_file.overrides} by {user})", cfg, backup)

    return _apply(request, ctx, "calibration_back", "", write)


@router.post("/installer/teach/shipped", dependencies=[Depends(require_csrf)])
def shipped(request: Request):
    """Take the page's model and calibration out of the overrides: the config file's classifier (the shipped
    model unless the config names another) runs again. The calibration files stay for "Go back"."""
    ctx = ctx_of(request)
    if ctx.config_file is None:
        raise HTTPException(409, "this page was started without a config file to write")

    def write(config_file: ConfigFile, user: str) -> tuple[str, AgentConfig, Path | None]:
        if not config_file.occupancy_overridden():
            raise TeachRefused(409, "the page's calibration is not set in the overrides: the agent runs the "
                                    "config file's classifier already")
        cfg, backup = config_file.clear_occupancy()
        return (f"the page's calibration taken out of {config_file.overrides} by {user}: the config file's "
                f"classifier ({cfg.occupancy.model}) runs", cfg, backup)

    return _apply(request, ctx, "calibration_shipped", "", write)
