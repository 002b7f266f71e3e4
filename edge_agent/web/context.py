"""What every route needs: the injected parts, the current user, CSRF check, rendering.

Routes take ``ctx = request.app.state.ctx`` instead of globals, so tests build an app per case.
"""

from __future__ import annotations

import errno
import hmac
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.templating import Jinja2Templates

from edge_agent.clock import Clock, utc_offset
from edge_agent.config.configfile import ConfigFile
from edge_agent.config.models import AgentConfig
from edge_agent.control import InstallerView
from edge_agent.events.types import EventType
from edge_agent.evidence.violations import ViolationLog
from edge_agent.perception.lists import PlateLists
from edge_agent.web.auth import KnownDevices, LoginLimiter, PasswordChecks, RefusalLog, UsersFile
from edge_agent.web.i18n import LANGUAGES, translator
from edge_agent.web.ratelimit import Limits
from edge_agent.web.roles import MAY_AUDIT, MAY_INSTALL, MAY_REVIEW
from edge_agent.web.sessions import SessionsUnavailable, SessionTable
from edge_agent.web.teach import Teacher
from edge_agent.web.views import ViewAudit

TEMPLATES = Path(__file__).parent / "templates"
HEAD_ONLY = "edge_agent.head_only"  # scope key: a HEAD answered as GET (``app.HeadAsGet``): no body goes out


class NotAuthenticated(Exception):
    """Raised by ``require_user``; pages redirect to the login form, images and actions get 401."""


class CsrfFailed(Exception):
    pass


class RateLimited(Exception):
    """Raised by ``per_user_rate``: answered as the middleware's 429 (``app.rate_refusal``)."""

    def __init__(self, kind: str, retry: int) -> None:
        super().__init__(kind)
        self.kind, self.retry = kind, retry


@dataclass
class WebContext:
    cfg: AgentConfig
    store: Any  # edge_agent.evidence.store.EvidenceStore
    log: ViolationLog
    control: Any  # edge_agent.control.AgentControl
    lists: PlateLists
    bus: Any  # edge_agent.events.bus.EventBus
    clock: Clock
    config_file: ConfigFile | None
    users: UsersFile
    limiter: LoginLimiter
    checks: PasswordChecks
    refusals: RefusalLog
    sessions: SessionTable
    known: KnownDevices
    tz: ZoneInfo
    templates: Jinja2Templates
    views: ViewAudit  # who looked at which violation and photo (coalesced rows of the audit log)
    # the request rates (``ratelimit.py``): the middleware's per address, and ``per_user_rate``'s per signed-in user
    limits: Limits
    # (monotonic time, picture and placed bays) of the installer page's last camera picture: a GET that any site
    # can make a logged-in browser send must not store a new picture each time
    installer_snapshot: tuple[float, InstallerView] | None = None
    # the pictures recent installer pages drew on, by evidence id: a Save carries its outlines from the view then to
    # the view now (``routes_site.save_bays``)
    installer_views: dict[str, InstallerView] = field(default_factory=dict)
    # page requests run on a thread pool: two pages storing a picture at once evicted the same oldest one (KeyError)
    installer_views_lock: threading.Lock = field(default_factory=threading.Lock)
    # list edits (add to allow / deny) one at a time: each reads, changes and hands the agent the whole lists; the
    # lists' own (``PlateLists.editing``, ``create_app``), which a held MQTT ``set-lists`` holds from its read to its write
    list_edits: threading.RLock = field(default_factory=threading.RLock)
    # installer Saves one at a time: each writes the overrides, reloads and rebases the pictures' references
    bay_saves: threading.Lock = field(default_factory=threading.Lock)
    # the event id of the last ``camera_moved`` heard on the bus: which move the live page's banner is about, so a
    # session told of one move is alerted again for the next (``routes_site.live_bays``)
    camera_move: str = ""
    # the installer's "teach this camera": the classifier it guesses with and its one calibration at a time
    teach: Teacher = field(default_factory=Teacher)

    def heard(self, event: Any) -> None:
        """A bus event the page keeps track of (subscribed in ``create_app``)."""
        if event.type == EventType.CAMERA_MOVED:
            self.camera_move = event.event_id

    def config_applied(self, cfg: AgentConfig, _restart_needed: list[str]) -> None:
        """After the agent applied a reload: the pages show the bays that run. Why: a SIGHUP that added bay C
        left the installer showing the start's bays, and its next Save (every bay it shows) removed C."""
        self.cfg = cfg.model_copy(deep=True)  # the installer's Save updates its own copy

    def local(self, ts: str | datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
        """An ISO timestamp shown in the site's time zone with its UTC offset: the hour that repeats when
        daylight saving time ends reads ``02:30 +02:00``, then ``02:30 +01:00``, as the events say."""
        if not ts:
            return ""
        dt = (datetime.fromisoformat(ts) if isinstance(ts, str) else ts).astimezone(self.tz)
        return f"{dt.strftime(fmt)} {utc_offset(dt)}"

    def iso_local(self, ts: str | datetime | None) -> str:
        """For exports: ISO-8601 in the site's time zone with its offset, to the second (events' form)."""
        if not ts:
            return ""
        dt = datetime.fromisoformat(ts) if isinstance(ts, str) else ts
        return dt.astimezone(self.tz).isoformat(timespec="seconds")


def ctx_of(request: Request) -> WebContext:
    return request.app.state.ctx


def session_user(request: Request) -> str | None:
    """The user of this request's session, checked against the server's table (see sessions.py)."""
    ctx = ctx_of(request)
    return ctx.sessions.user(request.session.get("sid"), ctx.users.stamp)


def require_user(request: Request) -> str:
    user = session_user(request)
    if not user:
        request.session.pop("sid", None)
        raise NotAuthenticated()
    request.state.user = user
    return user


def require_role(*roles: str) -> Callable[[Request], None]:
    """A route dependency: the signed-in user's role (read from the users file on each request, so a change
    applies at once) must be one of ``roles``; else 403 naming what the action needs."""

    def check(request: Request) -> None:
        user = require_user(request)
        role = ctx_of(request).users.role(user)
        if role not in roles:
            raise HTTPException(403, f"{user} is {role or 'no user'}: this needs the role {' or '.join(roles)}")

    return check


def per_user_rate(kind: str) -> Callable[[Request], None]:
    """A route dependency after the CSRF and role checks: one token of the signed-in user's ``kind`` bucket
    (``ratelimit.PER_USER``), else ``RateLimited``. After them, so a forged post from another site (no token) cannot
    spend a reviewer's bucket and keep them at 429."""

    def take(request: Request) -> None:
        user = require_user(request)
        wait = ctx_of(request).limits.take(kind, user, f"user {user}", user=True)
        if wait > 0:
            raise RateLimited(kind, max(1, int(wait + 0.999)))

    return take


def current_user(request: Request) -> str | None:
    """Who ``require_user`` let in for this request (None on the login page)."""
    return getattr(request.state, "user", None)


def csrf_token(request: Request) -> str:
    tok = request.session.get("csrf")
    if not tok:
        tok = request.session["csrf"] = secrets.token_urlsafe(32)
    return tok


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def is_form(request: Request) -> bool:
    """A form post: ``require_csrf`` reads (and so consumes) its body to find the token."""
    return request.headers.get("content-type", "").startswith(FORM_TYPES)


async def require_csrf(request: Request) -> None:
    """Every POST carries the session's token in the form (``csrf``) or the ``X-CSRF-Token`` header."""
    expected = request.session.get("csrf")
    sent = request.headers.get("x-csrf-token")
    if sent is None and is_form(request):
        sent = (await request.form()).get("csrf")
    # compared as bytes: compare_digest raises TypeError on text that is not ASCII (an HTTP 500 before)
    if not expected or not isinstance(sent, str) or \
            not hmac.compare_digest(expected.encode(), sent.encode("utf-8", "surrogatepass")):
        raise CsrfFailed()


def lang_of(request: Request) -> str:
    lang = request.session.get("lang")
    return lang if lang in LANGUAGES else ctx_of(request).cfg.web.language


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "?"


def render(request: Request, name: str, status_code: int = 200, **context: Any):
    ctx = ctx_of(request)
    lang = lang_of(request)
    user = current_user(request)
    role = ctx.users.role(user) if user else None
    context.update(
        t=translator(lang), lang=lang, user=user, csrf=csrf_token(request),
        local=ctx.local, site=ctx.cfg.site, active=request.url.path.strip("/").split("/")[0].split(".")[0],
        may_review=role in MAY_REVIEW, may_install=role in MAY_INSTALL,  # which controls to show (routes check)
        may_audit=role in MAY_AUDIT,
        # the page a form on it is sent from (``form_next``): only a page reached by GET is one to come back to
        here=request.url.path + (f"?{request.url.query}" if request.url.query else "") if request.method == "GET"
        else None,
    )
    return ctx.templates.TemplateResponse(request, name, context, status_code=status_code)


NEXT_MAX = 2048  # characters of a ``next`` the login's form takes


def _site_path(target: str | None) -> bool:
    """A path on this site: ``/`` then not ``/`` or ``\\`` (``//host`` and ``/\\host`` are another host's, to a
    browser), no backslash anywhere; and one the login's form takes (a longer one put in it made the login a 400,
    nobody signed in: probe review108)."""
    return target is not None and target.startswith("/") and not target.startswith("//") and "\\" not in target \
        and len(target) <= NEXT_MAX


def safe_next(target: str | None) -> str:
    """Only same-site paths: never bounce a fresh login to another host."""
    return target if target is not None and _site_path(target) else "/violations"


def wants_html(request: Request) -> bool:
    """A browser navigating (a link, a form): it gets pages, other clients (scripts, the installer's fetch) text."""
    return "text/html" in request.headers.get("accept", "")


def wants_json(request: Request) -> bool:
    """A page's own script asking (the installer's Save): a refusal as JSON it shows in the user's words."""
    return "application/json" in request.headers.get("accept", "")


async def form_next(request: Request) -> str | None:
    """The page a form says it was sent from (its ``next`` field, ``here``), when it is a path of this site. Why: a
    browser that sends no Referer (a strict referrer policy) lost the violation and its list at a login."""
    if not is_form(request):
        return None
    try:
        target = (await request.form()).get("next")
    except Exception:  # a body that cannot be read as a form (cut off, malformed): the Referer, or the list
        return None
    return target if isinstance(target, str) and _site_path(target) else None


def same_site_referer(request: Request) -> str | None:
    """The page a browser came from (path and query), when it is one of ours."""
    ref = urlsplit(request.headers.get("referer", ""))
    target = ref.path + (f"?{ref.query}" if ref.query else "")
    # the same rule as ``safe_next``: our page ``http://agent//evil.example/x`` (a 404 that still shows the menu)
    # made the error page's "Go back" a link to //evil.example/x, another host
    if ref.netloc and ref.netloc == request.url.netloc and _site_path(target):
        return target
    return None


ERROR_KEYS = (400, 403, 404, 409, 413, 500)


class NotWritten(Exception):
    """A file of the data folder the page could not write: a full disk (507), a card gone read-only or a folder the
    agent may not write (503). An operator's matter, answered by the app's handler with the path and the cause, in
    the user's language; raised only once nothing was changed. Until 2026-12-05 each route answered these a 500."""

    def __init__(self, path: str | Path, exc: OSError) -> None:
        self.path = str(path)  # the file the user's action writes, not a scratch copy of it the error may name
        self.why = exc.strerror or str(exc)
        self.full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        super().__init__(f"cannot write {self.path}: {self.why}: nothing was changed")


def named_fields(detail: str) -> list[str]:
    """The fields a refusal names: every message here is ``field: what is wrong`` (``; `` between several)."""
    fields = []
    for part in detail.split("; "):
        head, sep, _ = part.partition(": ")
        if sep and head and len(head) <= 32 and head not in fields:
            fields.append(head)
    return fields


def error_page(request: Request, status: int, detail: str, kind: str | None = None,
               headers: dict[str, str] | None = None, title: str | None = None, message: str | None = None):
    """A refusal as a page in the user's language (the raw JSON or English text it was before, on a phone
    set to Chinese): a title and a sentence per status (or these words), the fields named, the technical text
    folded away. ``request.state.user`` set to "" beforehand: a page without the menu, no sessions' read."""
    if current_user(request) is None:  # a route that failed before require_user ran: still show the menu
        try:
            request.state.user = session_user(request)
        except SessionsUnavailable:  # the refusal is that very check's: a page without the menu's user
            request.state.user = None
    key = kind or (f"err_{status}" if status in ERROR_KEYS else "err_other")
    t = translator(lang_of(request))
    response = render(request, "error.html", status_code=status, status=status, title=title or t(key),
                      message=message or t(f"{key}_msg"), fields=named_fields(detail) if status == 400 else [],
                      detail=detail, back=same_site_referer(request))
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def error_json(request: Request, status: int, detail: str, kind: str, headers: dict[str, str] | None = None,
               title: str | None = None, message: str | None = None):
    """A refusal for a page's own script, with the words its error page would show (``title``, ``message``) in the
    user's language: the installer's Save showed "未保存: 503 Service Unavailable", in English, with no reason."""
    t = translator(lang_of(request))
    return JSONResponse({"ok": False, "status": status, "title": title or t(kind),
                         "message": message or t(f"{kind}_msg"), "detail": detail}, status_code=status, headers=headers)


def head_only(request: Request) -> bool:
    """The request is a HEAD, answered as GET without the body: it must change and record nothing."""
    return bool(request.scope.get(HEAD_ONLY))


def audit(request: Request, action: str, target: str = "", detail: str = "") -> int | None:
    """The row of an action, written before it is done; its id (None: a HEAD, no row) for ``audit_outcome``. Raises
    ``AuditUnavailable`` (503, logged once): do not do it. Until 2026-12-05 the row came after the action, and a
    read-only database made it a bare 500 and a traceback once the list edit, the Save or the snapshot was done."""
    if head_only(request):  # a HEAD took nothing away (an export's headers, no rows): no row says it did
        return None
    return ctx_of(request).views.action(current_user(request) or "-", client_ip(request), action, target, detail)


def audit_outcome(request: Request, row: int | None, detail: str) -> None:
    """What came of the action ``row`` recorded; not raised when it cannot be written (the action is done)."""
    if row is not None:
        ctx_of(request).views.outcome(row, detail)


def viewed(request: Request, action: str, item: str, target: str = "", fetched_next: bool = False) -> None:
    """A look at personal data (a violation, a photo), for the audit log: coalesced (``web/views.py``);
    ``fetched_next``: the page counts ``item``'s fetch that follows (``ViewAudit.seen``)."""
    if head_only(request):  # a HEAD showed nothing
        return
    ctx_of(request).views.seen(current_user(request) or "-", client_ip(request), action, item, target, fetched_next)
