"""Requests for fuzzing the review / installer page: its own routes with odd path parameters, query strings, form
fields, JSON bodies (the installer's save, the teach page's), headers and cookies, signed in or not, with the
session's CSRF token, a wrong one or none."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import quote

from hypothesis import strategies as st

ROUTES = [  # (method, path template): every route of the app (tests/web/test_csrf_everywhere.py walks them)
    ("GET", "/"), ("GET", "/login"), ("POST", "/login"), ("POST", "/logout"), ("POST", "/lang"), ("GET", "/bays"),
    ("POST", "/camera/confirm"), ("POST", "/bays/{bay_id}/snapshot"), ("GET", "/installer"), ("POST", "/installer"),
    ("GET", "/audit"), ("POST", "/audit"), ("GET", "/stats"), ("GET", "/stats.csv"), ("GET", "/installer/teach"),
    ("GET", "/installer/teach/status"), ("POST", "/installer/teach/frame"), ("POST", "/installer/teach/forget"),
    ("POST", "/installer/teach/calibrate"), ("POST", "/installer/teach/use"), ("POST", "/installer/teach/back"),
    ("POST", "/installer/teach/shipped"), ("GET", "/violations"), ("GET", "/violations.csv"),
    ("GET", "/violations/by-event/{event_id}"), ("GET", "/violations/{vid}"), ("POST", "/violations/{vid}/decide"),
    ("POST", "/violations/{vid}/list"), ("GET", "/evidence/{evidence_id}/{which}.jpg"), ("GET", "/static/page.js"),
]
QUERY_KEYS = ["page", "bay", "decision", "plate", "from", "to", "next", "table", "lang", "reveal"]
FORM_KEYS = ["csrf", "decision", "reason", "seen", "which", "username", "password", "next", "lang", "page", "reveal"]

TEXT = st.one_of(st.text(max_size=20), st.sampled_from([
    "", " ", "1", "0", "-1", "1e20", "1.5", "NaN", "inf", "-0", "99999999999999999999999", "2026-03-02", "9999-12-31",
    "0001-01-01", "2026-02-30", "A1", "A2", "粤B12345", "confirmed", "dismissed", "open", "allow", "deny", "en", "zh",
    "//evil.example", "/\\evil", "https://evil.example/", "javascript:alert(1)", "../../etc/passwd", "%00", "\x00",
    "\r\nSet-Cookie: x=1", "<script>alert(1)</script>", "'\"", "a" * 3000, "\u202e", "\ud7ff", "frame", "crop",
    "bay_days", "visits", "admin",
]))
NUMBER = st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                   st.sampled_from([0, -1, 1e308, -1e308, 5e-324, 2**63, 10**40]))
JUNK = st.recursive(st.one_of(st.none(), st.booleans(), NUMBER, TEXT),
                    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=3)),
                    max_leaves=10)
POINT = st.one_of(st.tuples(NUMBER, NUMBER).map(list), JUNK)
BAY = st.fixed_dictionaries({"id": st.one_of(st.sampled_from(["A1", "A2", "B9"]), TEXT),
                             "polygon": st.one_of(st.lists(POINT, max_size=6), JUNK)})
INSTALLER_JSON = st.one_of(
    st.fixed_dictionaries({"bays": st.one_of(st.lists(BAY, max_size=3), JUNK)},
                          optional={"size": st.one_of(st.tuples(NUMBER, NUMBER).map(list), JUNK),
                                    "picture": TEXT, "view": JUNK, "reference": NUMBER, "job": TEXT,
                                    "flags": st.dictionaries(TEXT, JUNK, max_size=3)}),
    JUNK,
)
RAW_BODIES = st.sampled_from([
    b"", b"{", b"[" * 100_000, b'{"bays": NaN}', b'{"bays": [], "bays": []}', b"\xff\xfe\x00", b"null", b"1e999",
    b'{"bays": [{"id": "A1", "polygon": [[1e999, 0], [1, 1], [2, 2]]}]}', b"a=1&b=2", b"--x\r\n\r\n--x--",
    b'{"size": [1e308, 1e308], "bays": []}', b'{"bays": [{"id": "A1", "polygon": [[0, 0], [1, 1], [2, 2]]}], '
    b'"size": [0, 0]}',
])
CONTENT_TYPES = st.sampled_from([
    None, "application/json", "application/x-www-form-urlencoded", "multipart/form-data",
    "multipart/form-data; boundary=x", "text/plain", "application/json; charset=gbk", "application/x-www-form-"
    "urlencoded; charset=utf-16", "*/*", "", "application/json\u00e9", "image/jpeg",
])


@dataclass
class Req:
    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    form: dict[str, str] | None = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    token: str = "none"  # "good": the session's CSRF token goes in the form / header; "bad" a wrong one


def _param(draw: st.DrawFn) -> str:
    return quote(draw(st.one_of(st.sampled_from(["1", "2", "A1", "frame", "crop"]), TEXT)), safe="")


@st.composite
def requests(draw: st.DrawFn, evidence_ids: list[str]) -> Req:
    method, template = draw(st.sampled_from(ROUTES))
    if draw(st.integers(0, 9)) == 0:
        method = draw(st.sampled_from(["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"]))

    def fill(m: re.Match[str]) -> str:
        if m[1] == "evidence_id" and evidence_ids and draw(st.booleans()):
            return draw(st.sampled_from(evidence_ids))
        return _param(draw)

    path = re.sub(r"\{(\w+)\}", fill, template)
    if draw(st.integers(0, 19)) == 0:
        path = draw(st.sampled_from(["//", "/%2e%2e/%2e%2e/etc/passwd", "/static/../app.py", "/" + "a" * 9000,
                                     "/violations/%00", "/violations/1%0d%0a", "/evidence/..%2f..%2fx/frame.jpg"]))
    query = draw(st.lists(st.tuples(st.one_of(st.sampled_from(QUERY_KEYS), TEXT), TEXT), max_size=4))
    req = Req(method, path, query, token=draw(st.sampled_from(["good", "good", "bad", "none"])))
    kind = draw(st.sampled_from(["none", "form", "form", "json", "raw"])) if method != "GET" else "none"
    if kind == "form":
        req.form = draw(st.dictionaries(st.one_of(st.sampled_from(FORM_KEYS), TEXT), TEXT, max_size=5))
    elif kind == "json":
        req.body = json.dumps(draw(INSTALLER_JSON), ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
        req.headers["content-type"] = "application/json"
    elif kind == "raw":
        req.body = draw(st.one_of(RAW_BODIES, st.binary(max_size=64)))
        ctype = draw(CONTENT_TYPES)
        if ctype is not None:
            req.headers["content-type"] = ctype
    req.headers["accept"] = draw(st.sampled_from(["text/html", "application/json", "*/*", "", "image/*,text/csv"]))
    if draw(st.integers(0, 4)) == 0:
        req.headers[draw(st.sampled_from(["accept-language", "referer", "origin", "x-forwarded-for", "user-agent",
                                          "x-requested-with", "x-csrf-token", "cookie"]))] = draw(st.one_of(
            st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=40),
            st.sampled_from(["zh-CN,zh;q=0.9", "en;q=abc", "*", "1.2.3.4, 5.6.7.8", "edge_session=" + "A" * 8000,
                             "edge_session=\u00e9\u00e9", "null"])))
    return req


def query_string(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
