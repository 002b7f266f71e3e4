"""The review web app: FastAPI with server-rendered Jinja2 pages, signed session cookie, CSRF on POST.

Everything it touches is passed in (config, evidence store, violation log, agent control, plate
lists, event bus, clock), so ``edge-agent run`` and ``edge-agent review`` and the tests build the
same app around different parts.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge_agent.clock import Clock
from edge_agent.config.configfile import ConfigFile
from edge_agent.config.models import AgentConfig
from edge_agent.events.types import EventType
from edge_agent.evidence.violations import ViolationLog
from edge_agent.perception.lists import PlateLists
from edge_agent.sqlite_damage import is_no_space, is_unavailable
from edge_agent.web import routes_auth, routes_site, routes_stats, routes_teach, routes_violations
from edge_agent.web.auth import (
    KnownDevices,
    LoginLimiter,
    PasswordChecks,
    RefusalLog,
    UsersFile,
    session_secret,
)
from edge_agent.web.connections import with_mapped
from edge_agent.web.context import (
    HEAD_ONLY,
    TEMPLATES,
    CsrfFailed,
    NotAuthenticated,
    NotWritten,
    RateLimited,
    WebContext,
    error_json,
    error_page,
    form_next,
    lang_of,
    render,
    safe_next,
    same_site_referer,
    wants_html,
    wants_json,
)
from edge_agent.web.hosts import HostCheck, loopback, own_names
from edge_agent.web.i18n import translator
from edge_agent.web.ratelimit import Limits, RateLimit
from edge_agent.web.sessions import SessionsUnavailable, SessionTable
from edge_agent.web.views import AuditUnavailable, ViewAudit

_log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
# No inline script or style anywhere (the pages' code is in /static), so an injected <script>
# or on*= attribute would not run even if escaping ever failed.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; object-src 'none'; "
       "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
# With web.tls: browsers go to https:// for this host by themselves for a day after each visit, so a link or a typed
# address in http:// is not sent in clear (the page's port closes it unanswered: nothing to strip). A day and this
# host only: HSTS binds the host, every port of it, and a browser keeps it for max-age; turning web.tls off, or a
# plain-HTTP service on another port of the same name, is then unreachable by that name until it runs out.
# includeSubDomains / preload are the site's domain's to decide. Browsers ignore HSTS from an IP address and over a
# certificate they warned about (a self-signed one accepted by hand), the usual install: it costs them nothing.
HSTS = "max-age=86400"
SESSIONS_RETRY_S = "10"  # a session check refused on a busy database: a lock held longer than a moment is rare


class OwnFiles(StaticFiles):
    """The page's own CSS and scripts: kept, but asked again with their ETag each time (a 304 of a few hundred
    bytes), so an upgrade shows at once. They were ``no-store`` like the pages: every view fetched them whole."""

    async def get_response(self, path: str, scope):  # noqa: ANN001, ANN201 - Starlette's signature
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = "no-cache"
        return response


# Static files go out gzip-compressed to a browser that takes it (ECharts: 1,034 KB → 335 KB, 8 s → 3 s at 1 Mbit/s
# on a phone at the edge of the site's Wi-Fi). Pages are not: they carry the CSRF token beside text from the query
# string, what BREACH reads through compression.
GZIP_MIN_BYTES = 1024
# A form's body at most (a sign-in with the longest name, password and ``next`` its fields allow, every character
# escaped, is 9.3 KiB in ASCII, 27.6 KiB in Chinese; the fields count characters, so only one of emoji passes it):
# a form is parsed on the page's event loop before any check, at ~4 µs a byte for one full of
# ``&`` (``FormBodyLimit``)
FORM_MAX_BYTES = 32 * 1024
GZIP_LEVEL = 6  # 335.6 KB in 70 ms here; level 9 (Starlette's default) saves 1 KB for 113 ms of the device's CPU


class VendorFiles(StaticFiles):
    """Third-party release files (ECharts: 1 MB) change only with an upgrade: let browsers keep them a day."""

    async def get_response(self, path: str, scope):  # noqa: ANN001, ANN201 - Starlette's signature
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=86400"
        return response


class FormBodyLimit:
    """A form's body is capped at ``FORM_MAX_BYTES`` (413), well below the page's body cap for the installer's JSON.

    Why: a form is parsed on the page's event loop, and before the route's checks (FastAPI reads the form fields
    before its dependencies, the CSRF check among them): 255 KiB of ``&`` posted to /login by anyone, no session
    or token needed, held every other visitor's page 1.07 s, 30 such posts at once 4.2 s. Matched as Starlette
    tells a form (the media type, any case), so no spelling of it is parsed past the cap. Inside the page's body
    limiter, which it lowers for this request (Starlette's nested limit)."""

    def __init__(self, app: ASGIApp, max_body_size: int = FORM_MAX_BYTES) -> None:
        self.app = app
        self.limited = RequestBodyLimitMiddleware(app, max_body_size)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._is_form(scope):
            await self.limited(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    @staticmethod
    def _is_form(scope: Scope) -> bool:
        media = Headers(scope=scope).get("content-type", "").split(";", 1)[0].strip().lower()
        return media in ("application/x-www-form-urlencoded", "multipart/form-data")


class SecurityHeaders:
    """The headers every response carries, set on its start message (a plain ASGI middleware: Starlette's
    ``BaseHTTPMiddleware`` wraps what the app raises in an ``ExceptionGroup``, and the body limiter's 413
    outside it became a 500).

    An exception no handler took is answered here, a bare 500 with these headers and no word of the error (the
    traceback goes to the log): Starlette's ``ServerErrorMiddleware``, which answered it before, sits outside every
    middleware the app adds, so its 500 went out without CSP, nosniff or HSTS; and re-raised to uvicorn, which closes
    the connection after a started answer, a client over HTTPS got no answer at all."""

    def __init__(self, app: ASGIApp, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts  # web.tls: the page speaks HTTPS itself (a proxy in front sets its own)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                if self.hsts:
                    headers.setdefault("Strict-Transport-Security", HSTS)
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                headers.setdefault("Content-Security-Policy", CSP)
                if "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except _HeadDone:  # HeadAsGet stopping a HEAD's streamed body once its headers went out: no failure
            raise
        except Exception:
            _log.exception("review page: %s %s failed", scope.get("method"), quote(scope.get("path", ""), "/"))
            if started:  # part of an answer is out: nothing sound can follow it on this connection
                raise
            await PlainTextResponse("Internal Server Error", status_code=500)(scope, receive, send_with_headers)


class HeadAsGet:
    """HEAD answers as GET does, without the body (RFC 9110 9.3.2), on every route: FastAPI's routes take only the
    methods they name, so ``curl -I`` and a load balancer's HEAD probe got 405 from every page. The request goes
    in as GET, so sessions, the login check and every limit see what a GET gets; the headers (Content-Length,
    Set-Cookie, the security headers) go out as they are, the body does not.

    Nor is a body made to be thrown away: a streamed one (the violations export: every row of the log) is stopped
    at its first chunk, and the request is marked (``context.HEAD_ONLY``) so that it writes no audit row. Before,
    each HEAD of ``/violations.csv`` read the whole log and recorded an export that never left."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        done = False

        async def headers_only(message: Message) -> None:
            nonlocal done
            if message["type"] == "http.response.body":
                if done:
                    raise _HeadDone
                done = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                if message.get("more_body", False):
                    raise _HeadDone  # the rest of a streamed body is not made
                return
            await send(message)

        try:
            await self.app({**scope, "method": "GET", HEAD_ONLY: True}, receive, headers_only)
        except _HeadDone:
            pass


class _HeadDone(Exception):
    """The headers of a HEAD went out: what the app would send next is not wanted (``HeadAsGet``)."""


def rate_refusal(scope: Scope, kind: str, retry: int, whose: str = "address") -> ASGIApp | None:
    """A request past its rate (``ratelimit.RateLimit``) as the page's other refusals are answered: a browser the
    error page in its user's language (without the menu: who it is would be a read of the sessions' table, which a
    flood must not cost), the installer's Save the JSON its script shows (``title``: ``message``, the drawing kept for
    a reload), a script the plain text (None). It was that text for all of them: the Save showed "未保存: 429 Too Many
    Requests", the browser's English status text, with no word of when to try again."""
    request = Request(scope)
    if not (wants_html(request) or wants_json(request)):
        return None
    t = translator(lang_of(request))
    words = {"title": t("err_429"), "message": t("err_429_msg", s=retry)}
    text = f"too many requests ({kind}) from this {whose}: retry in {retry} s"
    headers = {"Retry-After": str(retry)}
    if wants_html(request):
        request.state.user = ""  # no menu: known without a database read (``error_page``)
        return error_page(request, 429, text, headers=headers, **words)
    return error_json(request, 429, text, kind="err_429", headers=headers, **words)


def _say_if_nobody_can_sign_in(users: UsersFile, config_path: Path | None) -> None:
    """A first install's page (deployment.md adds users after the start) answered every login "wrong user name or
    password" and logged nothing why (probe newuser41). A file that cannot be read: the login says so itself."""
    try:
        if users.load():
            return
    except OSError:
        return
    _log.warning("review page: no users in %s: nobody can sign in; add one with `edge-agent users add NAME "
                 "--role admin --config %s`", users.path, config_path or "CONFIG")


def create_app(
    cfg: AgentConfig,
    store: Any,
    log: ViolationLog,
    control: Any,
    lists: PlateLists,
    bus: Any,
    clock: Clock,
    config_path: str | Path | None = None,
) -> FastAPI:
    """Build the app. ``config_path`` is the YAML the installer and list edits write (None: read-only)."""
    cfg = cfg.model_copy(deep=True)  # the installer updates the page's view; the agent's copy changes on reload
    web = cfg.web
    app = FastAPI(title="edge-agent review", docs_url=None, redoc_url=None, openapi_url=None)
    path = Path(config_path) if config_path else cfg.source_path
    users = UsersFile(web.file(web.users_file, path))
    _say_if_nobody_can_sign_in(users, path)
    secret = session_secret(web.secret_file(path, cfg.data_dir))
    app.state.ctx = WebContext(
        cfg=cfg, store=store, log=log, control=control, lists=lists, bus=bus, clock=clock,
        config_file=ConfigFile(path, clock) if path else None,
        users=users, checks=PasswordChecks(users, web.login_concurrency),
        limiter=LoginLimiter(clock, web.login_max_failures, web.login_window_s),
        refusals=RefusalLog(clock, per_hour=routes_auth.REFUSAL_ROWS_PER_HOUR),
        sessions=SessionTable(log.db_path, clock, web.session_max_age_s), known=KnownDevices(secret, users),
        tz=ZoneInfo(cfg.site.timezone),
        templates=Jinja2Templates(directory=str(TEMPLATES)), views=ViewAudit(log, clock), limits=Limits(clock),
        list_edits=lists.editing,
    )
    if bus is not None:  # the page lives as long as the agent: never unsubscribed
        bus.subscribe(app.state.ctx.heard, {EventType.CAMERA_MOVED})
    # costly paths (snapshots, exports, evidence pictures, sign-in) at a bounded rate per client, refused before the
    # session's row is read; inside the security headers, so a 429 carries them too, and inside the signed cookie's
    # decoding (no database), so the 429 is in the user's language (``rate_refusal``)
    app.add_middleware(RateLimit, clock=clock, refusal=rate_refusal, known=app.state.ctx.known.valid,
                       limits=app.state.ctx.limits)
    app.add_middleware(
        SessionMiddleware, secret_key=secret, session_cookie="edge_session",
        max_age=web.session_max_age_s, same_site="lax", https_only=web.cookies_secure,
    )

    # The request body cap (web.max_body_kib): counted as read, chunked bodies too, 413 past it; outside the
    # rest of the page's middleware. Starlette's limiter, not FastAPI(max_body_size=…): that needs
    # FastAPI ≥ 0.165, which needs Python ≥ 3.11, and the Jetson's JetPack 6 has 3.10 (its install failed).
    app.add_middleware(FormBodyLimit, max_body_size=min(FORM_MAX_BYTES, web.max_body_kib * 1024))  # inside it
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=web.max_body_kib * 1024)
    # a Host not this page's (DNS rebinding: another site's script reading the page through a staff browser): 400
    app.add_middleware(HostCheck, names=own_names([*web.hostnames, urlsplit(web.public_url or "").hostname or ""]),
                       enabled=not loopback(web.host) and web.tls is None, proxies=with_mapped(web.trusted_proxies))
    # outside the body cap too: its 413 went out without them (no CSP, no nosniff)
    app.add_middleware(SecurityHeaders, hsts=web.tls is not None)
    app.add_middleware(HeadAsGet)  # outermost: everything inside sees the GET it answers

    # A browser gets each refusal as a page in its user's language (error_page); scripts and other clients
    # the plain text they always had.
    @app.exception_handler(NotAuthenticated)
    async def _login_first(request: Request, exc: NotAuthenticated):
        if wants_html(request):
            # a form sent after the session ended (12 h on a desk, a logout in another tab): to the login,
            # then back to the page the form was on; nothing is done (was a bare "login required" text)
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "") \
                if request.method == "GET" else await form_next(request) or same_site_referer(request) or "/violations"
            # a form's action is lost: the login says so (newuser35: a dismissal typed and sent after the 12 h landed on
            # a bare login form, and after signing in the violation was still open, nothing said why)
            unsaved = "" if request.method == "GET" else "&unsaved=1"
            return RedirectResponse(f"/login?next={quote(target)}{unsaved}", status_code=303)
        return PlainTextResponse("login required", status_code=401)

    @app.exception_handler(RateLimited)
    async def _per_user_rate(request: Request, exc: RateLimited):
        answer = rate_refusal(request.scope, exc.kind, exc.retry, "user")
        if answer is not None:
            return answer
        return PlainTextResponse(f"too many requests ({exc.kind}) from this user: retry in {exc.retry} s\n"
                                 f"请求过于频繁，请 {exc.retry} 秒后再试\n", status_code=429,
                                 headers={"Retry-After": str(exc.retry)})

    @app.exception_handler(RequestValidationError)
    async def _bad_input(request: Request, exc: RequestValidationError):
        def where(loc: tuple) -> str:
            return ".".join(str(p) for p in loc if p not in ("body", "query", "path"))

        text = "; ".join(f"{where(e['loc'])}: {e['msg']}" for e in exc.errors())
        return error_page(request, 400, text) if wants_html(request) else PlainTextResponse(text, status_code=400)

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, exc: CsrfFailed):
        text = "missing or wrong CSRF token"
        if not wants_html(request):
            return PlainTextResponse(text, status_code=403)
        if request.url.path == "/login":  # a login page left open past the session's age: the form again
            t = translator(lang_of(request))
            ref = urlsplit(same_site_referer(request) or "")
            # the form's own ``next`` first: without a Referer (no-referrer) it went to the list (probe review108)
            nxt = await form_next(request) or safe_next((parse_qs(ref.query).get("next") or [""])[0])
            return render(request, "login.html", status_code=403, next=nxt, error=t("err_csrf_login"))
        return error_page(request, 403, text, kind="err_csrf")

    @app.exception_handler(sqlite3.OperationalError)
    async def _storage(request: Request, exc: sqlite3.OperationalError):
        """A full disk under the page's database: a decision, a login, an audit entry that cannot be written is a
        page saying so (507), not a bare "Internal Server Error" that reads like a bug in the page. A database locked
        past the wait or read-only (the installer's picture stored on it) is a 503 with Retry-After alike."""
        if is_unavailable(exc):
            _log.warning("review page: %s %s: the database cannot be written now (%s)", request.method,
                         quote(request.url.path, "/"), exc)
            text = f"the device's database cannot be written now ({exc}): nothing was stored; try again later"
            if wants_html(request):
                return error_page(request, 503, text, kind="err_db_busy", headers={"Retry-After": "60"})
            if wants_json(request):
                return error_json(request, 503, text, kind="err_db_busy", headers={"Retry-After": "60"})
            return PlainTextResponse(text, status_code=503, headers={"Retry-After": "60"})
        if not is_no_space(exc):
            raise exc
        _log.error("review page: %s %s: the disk is full (%s): not saved", request.method, request.url.path, exc)
        if wants_html(request):
            return error_page(request, 507, str(exc), kind="err_disk_full")
        if wants_json(request):
            return error_json(request, 507, str(exc), kind="err_disk_full")
        return PlainTextResponse(f"disk full: not saved ({exc})", status_code=507)

    @app.exception_handler(AuditUnavailable)
    async def _unaudited(request: Request, exc: AuditUnavailable):
        """A look at personal data, or an action, whose audit row cannot be written: refused, not shown or done
        un-audited (a bare 500 and a traceback a request before, an action's after it was done); logged once by
        ``ViewAudit``."""
        look = request.method == "GET"
        text = f"the audit log cannot be written ({exc}): " + (
            "personal data is not shown until it can" if look else "nothing was done; try again when it can")
        kind = "err_audit" if look else "err_audit_action"
        if wants_html(request):
            return error_page(request, 503, text, kind=kind, headers={"Retry-After": "60"})
        if wants_json(request):  # the installer's Save (a fetch): the same words, on the page it stays on
            return error_json(request, 503, text, kind=kind, headers={"Retry-After": "60"})
        return PlainTextResponse(text, status_code=503, headers={"Retry-After": "60"})

    @app.exception_handler(SessionsUnavailable)
    async def _sessions_busy(request: Request, exc: SessionsUnavailable):
        """The sessions table locked by another connection or unreadable: the request is refused, its user neither
        let in nor signed out (each check waited 10 s before, and an ended session's removal was then a 500)."""
        text = f"the sign-in cannot be checked now ({exc}): try again in a moment"
        if wants_html(request):
            return error_page(request, 503, text, kind="err_sessions", headers={"Retry-After": SESSIONS_RETRY_S})
        if wants_json(request):
            return error_json(request, 503, text, kind="err_sessions", headers={"Retry-After": SESSIONS_RETRY_S})
        return PlainTextResponse(text, status_code=503, headers={"Retry-After": SESSIONS_RETRY_S})

    @app.exception_handler(NotWritten)
    async def _not_written(request: Request, exc: NotWritten):
        """A Save, a list edit, a labelled picture the data folder cannot take: the disk's status (507 full, 503
        read-only or not the agent's to write, as the database's), the path and the cause in the user's words.
        The page never answers these 500: a full or read-only card is the operator's to fix, not a bug."""
        _log.error("review page: %s %s: %s", request.method, quote(request.url.path, "/"), exc)
        status, kind = (507, "err_disk_full") if exc.full else (503, "err_not_writable")
        headers = None if exc.full else {"Retry-After": "60"}
        message = translator(lang_of(request))("err_not_written_msg", path=exc.path, why=exc.why)
        if wants_html(request):
            return error_page(request, status, str(exc), kind=kind, headers=headers, message=message)
        if wants_json(request):
            return error_json(request, status, str(exc), kind=kind, headers=headers, message=message)
        return PlainTextResponse(str(exc), status_code=status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _refused(request: Request, exc: StarletteHTTPException):
        if wants_html(request) and exc.status_code >= 400:
            return error_page(request, exc.status_code, str(exc.detail), headers=exc.headers)
        return await http_exception_handler(request, exc)

    app.mount("/static/vendor", GZipMiddleware(VendorFiles(directory=str(STATIC / "vendor")),
                                               minimum_size=GZIP_MIN_BYTES, compresslevel=GZIP_LEVEL), name="vendor")
    app.mount("/static", GZipMiddleware(OwnFiles(directory=str(STATIC)), minimum_size=GZIP_MIN_BYTES,
                                        compresslevel=GZIP_LEVEL), name="static")
    app.include_router(routes_auth.router)
    app.include_router(routes_violations.router)
    app.include_router(routes_site.router)
    app.include_router(routes_teach.router)
    app.include_router(routes_stats.router)
    return app
