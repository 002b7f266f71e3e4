"""Log in, log out, switch language."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from edge_agent.web.auth import KnownDevices
from edge_agent.web.context import (
    NEXT_MAX,
    WebContext,
    audit,
    client_ip,
    ctx_of,
    render,
    require_csrf,
    safe_next,
    session_user,
)
from edge_agent.web.i18n import LANGUAGES, translator
from edge_agent.web.sessions import SessionsUnavailable
from edge_agent.web.views import AuditUnavailable

router = APIRouter()
# rows an hour for refused logins and wrong passwords at names that are no user, over every address: ~1,440 rows a
# day (~150 KB) at most from anyone who can reach the page unauthenticated, kept ``evidence.review_days``
REFUSAL_ROWS_PER_HOUR = 60


@router.get("/login")
def login_form(request: Request, next: str | None = None, unsaved: str | None = None):
    return render(request, "login.html", next=safe_next(next), error=None, unsaved=bool(unsaved))


@router.post("/login", dependencies=[Depends(require_csrf)])
def login(request: Request, username: str = Form("", max_length=64), password: str = Form("", max_length=1024),
          next: str = Form("", max_length=NEXT_MAX)):
    ctx = ctx_of(request)
    ip = client_ip(request)
    name = username.strip()
    t = translator(request.session.get("lang") or ctx.cfg.web.language)
    by_name = not ctx.known.known(request.cookies.get(KnownDevices.COOKIE), name)  # see KnownDevices
    wait = ctx.limiter.attempt(ip, name, by_name)  # counted before hashing: parallel requests cannot slip through
    if wait > 0:
        _refused(ctx, name, "login_blocked", f"retry in {wait:.0f} s", ip)
        return _limited(request, next, t("login_limited"), wait)
    ok = ctx.checks.verify(name, password) if name else False
    if ok is None:  # every password-check slot taken: refuse at once, nothing hashed, nothing counted
        ctx.limiter.refund(ip, name, by_name)
        _refused(ctx, name, "login_busy", "", ip)
        return _limited(request, next, t("login_busy"), 1.0)
    if not ok:  # its row or a 503 (AuditUnavailable): a guess the log cannot keep is not answered
        who, unknown = _who(ctx, name)
        if unknown:  # counted in a coalesced row (or a 503 while the log fails)
            _failed_no_user(ctx, unknown, ip)
        else:  # a guess at a real account: a row each (the per-name limit bounds them)
            ctx.views.action(who, ip, "login_failed")
        return render(request, "login.html", status_code=401, next=safe_next(next), error=t("login_failed"))
    ctx.limiter.succeeded(ip, name, by_name)
    # the row first: no session opens that the log does not name (a read-only log opened one, then a bare 500)
    row = ctx.views.action(name, ip, "login")
    try:
        sid = ctx.sessions.open(name, ctx.users.stamp(name) or "")
    except SessionsUnavailable:  # no session without its row: a 503, the browser left as it was
        ctx.views.outcome(row, "refused: the sessions table cannot be written")
        raise
    lang = request.session.get("lang")
    # the session this browser had (another user's, or the same user's) ends with it: a copy of that cookie
    # stayed signed in for the rest of its 12 h after the browser had gone on as someone else
    ctx.sessions.end(request.session.get("sid"))
    request.session.clear()  # a fresh session (and CSRF token) on every login
    request.session.update(sid=sid, csrf=secrets.token_urlsafe(32))
    request.state.user = name
    if lang:
        request.session["lang"] = lang
    resp = RedirectResponse(safe_next(next), status_code=303)
    known = ctx.known.token(name)
    if known:
        resp.set_cookie(KnownDevices.COOKIE, known, max_age=KnownDevices.MAX_AGE_S, path="/login", httponly=True,
                        samesite="lax", secure=ctx.cfg.web.cookies_secure)
    return resp


def _refused(ctx: WebContext, name: str, kind: str, detail: str, ip: str) -> None:
    """Audit a refused login, coalesced: a flood must not write one row per request."""
    counts = ctx.refusals.note(ip, kind)
    if counts is not None:
        try:
            who, unknown = _who(ctx, name)
            ctx.views.action(who, ip, kind, "", "; ".join(p for p in (unknown, detail, *_more(counts, "refused")) if p))
        except AuditUnavailable:  # nothing was done: the refusal stands (logged once); it and the counts its row
            # carried go to the next row (answered either way: before, this one was in no row nor count)
            ctx.refusals.unnote(ip, kind, (counts[0] + 1, counts[1]))


def _failed_no_user(ctx: WebContext, unknown: str, ip: str) -> None:
    """Audit a wrong password at a name that is no user: one row for every address in each ``RefusalLog`` period,
    counting the others, under the hourly cap. Such a guess reaches no account, and made-up names from many
    addresses are not limited by name: one row each was ~4 rows a second kept two years from 254 addresses (the
    limit is per address), without end from an IPv6 host's /64s. A guess counted, not written, is still one the log
    keeps (the next row's count); while the log cannot be written it is written (or 503) like the others, and the
    counts a row that could not be written carried go to the next one (until 2026-12-05 they were dropped with it:
    guesses answered 401 that no row counted; and a guess written while the log failed was counted again)."""
    counts = ctx.refusals.note(ip, "login_failed", everyone=True, row=ctx.views.failing is not None)
    if counts is None:
        return
    try:
        ctx.views.action("-", ip, "login_failed", "", "; ".join((unknown, *_more(counts, "failed"))))
    except Exception:  # this guess: a 503 (a full disk: 507), not answered; those counted before it: the next row's
        ctx.refusals.unnote(ip, "login_failed", counts, everyone=True)
        raise


def _more(counts: tuple[int, int], what: str) -> list[str]:
    """What a coalesced row says of the refused (``what``) or failed logins it stands for besides its own."""
    skipped, capped = counts
    return [*([f"{skipped} more {what} since the last entry"] if skipped else []),
            *([f"{capped} more refused or failed logins not recorded (at most {REFUSAL_ROWS_PER_HOUR} such rows "
               "an hour)"] if capped else [])]


def _who(ctx: WebContext, name: str) -> tuple[str, str]:
    """The name a refused login's audit row may keep, and a note when it keeps none. A name that is no user is
    often a password typed into the wrong field (or a guesser's list); the log keeps its rows for years and every
    admin reads it, so only names of real users are written."""
    if name and ctx.users.role(name) is not None:
        return name, ""
    return "-", "no such user" if name else "no name"


def _limited(request: Request, next: str, message: str, wait: float):
    resp = render(request, "login.html", status_code=429, next=safe_next(next), error=message)
    resp.headers["Retry-After"] = str(max(1, int(wait + 0.999)))
    return resp


@router.post("/logout", dependencies=[Depends(require_csrf)])
def logout(request: Request):
    """Ends the session on the server too: a copy of the cookie is worth nothing afterwards."""
    try:
        request.state.user = session_user(request)
    except SessionsUnavailable:  # who it was cannot be read now: signed out all the same, without its row
        request.state.user = None
    if request.state.user:
        try:
            audit(request, "logout")
        except AuditUnavailable:  # signing out takes access away: it is never refused (logged once)
            pass
    ctx_of(request).sessions.end(request.session.get("sid"))
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.post("/lang", dependencies=[Depends(require_csrf)])
def set_lang(request: Request, lang: str = Form("zh", max_length=8), next: str = Form("", max_length=NEXT_MAX)):
    if lang in LANGUAGES:
        request.session["lang"] = lang
    return RedirectResponse(safe_next(next), status_code=303)
