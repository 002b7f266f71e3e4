"""Violations: list with filters, CSV export, detail with evidence, decisions and list edits; images."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterator
from typing import Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from edge_agent.config.load import ConfigError
from edge_agent.csvcell import text_cell
from edge_agent.evidence.forget import masked
from edge_agent.evidence.violations import EXPIRED, STATES, StaleDecision, ViolationFilter
from edge_agent.freetext import hidden, said
from edge_agent.plates import check_plate_list, normalise_plate
from edge_agent.web.context import (
    NotWritten,
    WebContext,
    audit,
    audit_outcome,
    client_ip,
    ctx_of,
    current_user,
    lang_of,
    per_user_rate,
    render,
    require_csrf,
    require_role,
    require_user,
    viewed,
)
from edge_agent.web.i18n import translator
from edge_agent.web.inputs import PLATE_QUERY_MAX, ListQuery, violation_id
from edge_agent.web.roles import MAY_REVIEW

router = APIRouter(dependencies=[Depends(require_user)])
# Not kept by the browser: a photo is personal data, each look at it is audited (``views.py``), and a forget or the
# retention pass deletes it on the device; cached for a week it was seen with no audit row and outlived both there.
IMAGE_CACHE = "private, no-store"
CSV_FIELDS = ("id", "bay_id", "plate", "colour", "nev", "nev_reason", "reason", "started", "ended",
              "decision", "decision_reason", "decided_by", "evidence_id")



def natural_key(text: str) -> list[tuple[int, int | str]]:
    """``A2`` before ``A10``: digit runs compare as numbers."""
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", text) if p]


def _flash(request: Request, message: str, kind: str = "ok") -> None:
    request.session.setdefault("flash", []).append([kind, message])


@router.get("/")
def home():
    return RedirectResponse("/violations", status_code=303)


@router.get("/violations")
def violations(request: Request):
    ctx = ctx_of(request)
    q = dict(request.query_params)
    lq = ListQuery.parse(q)
    page = ctx.log.query(lq.filter(ctx.tz), lq.page, ctx.cfg.web.page_size)
    # the plates of a page of violations: which filter and page (checked, as for the export), coalesced
    viewed(request, "viewed_list", "&".join([*audited_filter(q), f"page={lq.page}"]))
    # the config's order (the operator's, as on the live page), then bays only the log knows in natural order:
    # sorted() put A10 before A2 on a pole of 12 bays
    configured = [b.id for b in ctx.cfg.bays]
    bays = configured + sorted(set(ctx.log.bay_ids()) - set(configured), key=natural_key)
    keep = {k: v for k, v in q.items() if k != "page" and v}
    from_list = ListQuery.carried(urlencode({**keep, "page": lq.page}))  # a violation opened from here goes back to it
    # retention closed these unseen (evidence.open_days): said above the list, a link to them, until reviewed or gone
    expired = ctx.log.count(EXPIRED)
    return render(request, "violations.html", page=page, q=q, keep=keep, from_list=from_list, bays=bays,
                  decisions=STATES,
                  plate_max=PLATE_QUERY_MAX, expired=expired, open_days=ctx.cfg.evidence.open_days,
                  flash=request.session.pop("flash", []))


def _cell(value: object) -> str:
    """Every cell, ids and times too, by the formula rule (``csvcell``)."""
    return text_cell(value)


CSV_CHUNK = 64 * 1024  # characters a response chunk gathers: one a row cost a thread hop and a send each (28 s
#                       for 30,000 rows, most of it that)


def _csv_rows(ctx: WebContext, flt: ViolationFilter) -> Iterator[str]:
    buf = io.StringIO()
    w = csv.writer(buf)
    buf.write("\ufeff")  # BOM: spreadsheet programs then read the Chinese plates correctly
    w.writerow(CSV_FIELDS)
    for v in ctx.log.iter_all(flt):
        w.writerow([_cell(c) for c in (
            v.id, v.bay_id, v.plate, v.colour, "" if v.nev is None else int(v.nev), v.nev_reason, v.reason,
            ctx.iso_local(v.started_at), ctx.iso_local(v.ended_at), v.decision, v.decision_reason, v.decided_by,
            v.evidence_id)])
        if buf.tell() >= CSV_CHUNK:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    if buf.tell():
        yield buf.getvalue()


EXPORT_FILTERS = ("bay", "decision", "plate", "from", "to")  # ListQuery's fields, as the query names them


def audited_filter(q: dict[str, str]) -> list[str]:
    """The list's or an export's filter as its audit row names it, the plate search masked as ``evidence forget``
    masks its own row's plate (``粤B***45``). Why: the search as typed (``粤b12345``, ``B12345``, ``粤B 12345``, a
    full-width ``粤Ｂ１２３４５``) is a plate the forget's whole-plate match did not reach: four of those five searches
    for one car were still readable in the audit log after the car's erasure. A fragment cannot be tied to one plate
    (``B123`` is in many), so none is kept: the row says a plate was searched, not which."""
    return [f"{k}={masked(normalise_plate(q[k])) if k == 'plate' else q[k]}" for k in EXPORT_FILTERS if q.get(k)]


@router.get("/violations.csv")
def export_csv(request: Request):
    ctx = ctx_of(request)
    q = dict(request.query_params)
    flt = ListQuery.parse(q).filter(ctx.tz)
    # the filter the export used, as checked: every other key of the query went into the audit too, so a link
    # from any site (a GET carries the session) wrote its own text, up to the URL's 16 KB, under the user's name
    audit(request, "export_csv", "", "&".join(audited_filter(q)))
    name = f"violations-{ctx.cfg.site.site_id}-{ctx.clock.now().astimezone(ctx.tz):%Y%m%d-%H%M}.csv"
    return StreamingResponse(_csv_rows(ctx, flt), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/violations/by-event/{event_id}")
def by_event(request: Request, event_id: str):
    """Where a notification's link lands: the violation its ``violation_started`` event opened."""
    vid = ctx_of(request).log.id_of_event(event_id[:64])
    if vid is None:
        raise HTTPException(404, "no violation for that event (yet)")
    return RedirectResponse(f"/violations/{vid}", status_code=303)


def one_line(text: str, field: str) -> str:
    """Text a person typed into one line: whitespace (a pasted TAB or line break) is a space; any other control
    character (NUL, ESC, DEL, C1) or invisible format character (a bidi override: the row then read reordered) is
    no text and is refused naming the field (``freetext.hidden``). They went as they were into the violation log,
    the audit, the page and the CSV export."""
    if (bad := hidden(text)) is not None:
        raise HTTPException(400, f"{field}: {said(bad)} is not text")
    return "".join(" " if unicodedata.category(c) == "Cc" else c for c in text)


REASON_MAX = 500  # a dismissal's reason; the page's box says the same (it said 200 and cut a longer one)


@router.get("/violations/{vid}")
def detail(request: Request, vid: str):
    ctx = ctx_of(request)
    v = ctx.log.get(violation_id(vid))
    if v is None:
        raise HTTPException(404, "no such violation")
    timeline = ctx.log.timeline(v.visit_id, v.bay_id, v.started_at, v.ended_at)
    viewed(request, "viewed_violation", f"#{v.id}", f"violation:{v.id}")
    # the photos the index has: one the evidence writer has not written yet (``run`` writes them off the frame loop)
    # or a process ended before it did is said so, not shown as a broken picture
    named = {v.evidence_id, v.end_evidence_id} | {e.evidence_id for e in timeline}
    store = ctx.store  # none: a page over the log alone (``web bench``), which links as before
    # "being written" only for a photo this process's writer holds: one retention deleted (a decided violation's
    # photos go max_age_days after it, its row review_days), or dropped, skipped or lost, never comes. A page with no
    # writer (``review`` beside ``run``) cannot tell the agent's queue from the rest, and says so. Asked before the
    # index: the writer lets go of a photo only after its row is in, so one written meanwhile is found there
    writer = store.writer if store is not None else None
    # and one whose row waits for another program's lock on the index (a backup): on disk, its row comes
    pending = {e for e in named if e and ((writer is not None and writer.holds(e))
                                          or (store is not None and store.holds(e)))}
    saved = {e for e in named if e and (store is None or store.get(e) is not None)}
    pending -= saved
    # named by the index, but its file gone or cut short under the store (by hand, a card's fault): said so, never
    # a broken picture (probe chaos43)
    damaged = {e for e in saved if store is not None and store.frame_damaged(e)}
    saved -= damaged
    from_list = ListQuery.carried(request.query_params.get("list"))
    return render(request, "detail.html", v=v, timeline=timeline, saved=saved, pending=pending, damaged=damaged,
                  from_list=from_list,
                  writes_here=writer is not None,
                  locks=[e for e in timeline if e.type.startswith("lock_")],
                  decisions=ctx.log.decisions(v.id), listed=ctx.lists.lookup(v.plate) if v.plate else None,
                  reason_max=REASON_MAX, flash=request.session.pop("flash", []))


@router.post("/violations/{vid}/decide", dependencies=[Depends(require_csrf), Depends(require_role(*MAY_REVIEW)),
                                                      Depends(per_user_rate("decide"))])
def decide(request: Request, vid: str, decision: str = Form(...), reason: str = Form("", max_length=REASON_MAX),
           seen: Literal["open", "confirmed", "dismissed", "expired"] | None = Form(None),
           from_list: str = Form("", alias="list")):
    """``seen``: the decision the page showed (its forms send it); a violation decided since is left as it stands.
    ``list``: the list view it was opened from, kept for its "back to list" (``ListQuery.carried``)."""
    ctx = ctx_of(request)
    reason = one_line(reason, "reason")
    vid_n, user, ip = violation_id(vid), current_user(request), client_ip(request)
    try:  # the decision and its audit row in one transaction: both or neither (a 503 when the log cannot take them)
        v = ctx.views.guard(lambda: ctx.log.decide(vid_n, decision, user, reason, seen, audit_ip=ip,
                                                   wait_s=ctx.views.wait_s), disk_full=True)
    except KeyError:
        raise HTTPException(404, "no such violation") from None
    except StaleDecision as stale:
        now = stale.current
        t = translator(lang_of(request))
        _flash(request, t("decided_meanwhile", id=now.id, decision=t(now.decision), user=now.decided_by or "-"),
               "error")
        return RedirectResponse(_detail_url(now.id, from_list), status_code=303)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    t = translator(lang_of(request))
    # in the reviewer's words ("#5: confirmed" before); a reopened one is not "decided as open"
    _flash(request, t("reopened", id=v.id) if v.decision == "open" else t("decided", id=v.id, decision=t(v.decision)))
    return RedirectResponse(_detail_url(v.id, from_list), status_code=303)


@router.post("/violations/{vid}/list", dependencies=[Depends(require_csrf), Depends(require_role(*MAY_REVIEW)),
                                                    Depends(per_user_rate("lists"))])
def add_to_list(request: Request, vid: str, which: str = Form(...), from_list: str = Form("", alias="list")):
    """Put the plate on the allow- or deny-list: persisted in the config, then handed to the agent."""
    ctx = ctx_of(request)
    v = ctx.log.get(violation_id(vid))
    if v is None:
        raise HTTPException(404, "no such violation")
    if which not in ("allow", "deny") or not v.plate:
        raise HTTPException(400, "which must be allow or deny, and the violation needs a plate")
    plate = normalise_plate(v.plate)
    try:
        check_plate_list(which, [plate])
    except ValueError as exc:  # a misread: the lists hold plates only (set-lists refuses the same)
        raise HTTPException(400, str(exc)) from None
    # the row before the edit: a log that cannot take it refuses the edit (503), nothing written or handed over
    row = audit(request, f"list_{which}", f"plate:{plate}", f"violation:{v.id}")
    # One edit at a time, each from the lists the last one left (the saved ones, read under the file's lock):
    # built from the page's copy, two plates listed at once each wrote lists without the other's plate.
    with ctx.list_edits:
        if ctx.config_file is not None:
            try:
                lists = ctx.config_file.list_plate(plate, which)[0].lists
            except ConfigError as exc:
                audit_outcome(request, row, f"violation:{v.id}; refused: {'; '.join(exc.problems)}")
                raise HTTPException(400, "; ".join(exc.problems)) from None
            except OSError as exc:
                audit_outcome(request, row, f"violation:{v.id}; not saved: {exc.strerror or exc}")
                raise NotWritten(ctx.config_file.overrides, exc) from None  # 507 / 503, never a 500
            new = {"allow": lists.allow, "deny": lists.deny}
        else:
            other = "deny" if which == "allow" else "allow"
            new = {which: sorted(set(getattr(ctx.lists, which)) | {plate}),
                   other: [p for p in getattr(ctx.lists, other) if p != plate]}
        result = ctx.control.set_lists(new["allow"], new["deny"])
        if result.ok:  # the word itself, for a held MQTT set-lists: the lists may not show it (``PlateLists.listed``)
            ctx.lists.listed(plate, which)
    audit_outcome(request, row, f"violation:{v.id}; agent: {result.message or result.ok}")
    t = translator(lang_of(request))
    if result.ok:
        _flash(request, t(f"listed_{which}", plate=plate))
    else:  # saved for the next start, but the running agent did not take it: say so, with the agent's reason
        _flash(request, t(f"listed_{which}_not_applied", plate=plate, why=result.message or "-"), "error")
    return RedirectResponse(_detail_url(v.id, from_list), status_code=303)


def _detail_url(vid: int, from_list: str) -> str:
    """A violation's page, keeping the list view it was opened from (``ListQuery.carried``)."""
    back = ListQuery.carried(from_list)
    return f"/violations/{vid}?{urlencode({'list': back})}" if back else f"/violations/{vid}"


@router.get("/evidence/{evidence_id}/{which}.jpg")
def image(request: Request, evidence_id: str, which: str):
    if which not in ("frame", "crop"):
        raise HTTPException(404)
    try:  # read here, never through a link (``read_photo``): a path handed on was opened again by name
        data = ctx_of(request).store.read_image(evidence_id, which=which)
    except (KeyError, ValueError, OSError):
        data = None
    if data is None:
        raise HTTPException(404, "no such image (retention may have removed it)")
    viewed(request, "viewed_photo", f"{evidence_id}/{which}")
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": IMAGE_CACHE})
