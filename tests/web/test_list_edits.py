"""Plates put on the allow / deny lists from the page while other edits happen: none is lost."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from edge_agent.config.configfile import ConfigFile
from edge_agent.config.load import load_config
from edge_agent.web.server import WebServer
from tests.web.conftest import PASSWORD, publish_visit
from tests.web.test_api import logged_in, token


def test_a_list_edit_keeps_plates_another_writer_saved_meanwhile(site):
    """``edge-agent review`` beside the running agent, which took an MQTT ``set-lists`` (saved to the same
    overrides file) after the page started: listing a plate on the page kept the page's old copy of the
    lists and wrote it whole, so the backend's deny-listed plate was gone at the agent's next start."""
    c = logged_in(site)
    ConfigFile(site.config_path, site.clock).set_lists(["粤BD00001"], ["粤B54321"])  # the agent's set-lists
    r = c.post("/violations/1/list", data={"which": "allow", "csrf": token(c, "/violations")},
               follow_redirects=False)
    assert r.status_code == 303
    cfg = load_config(site.config_path)
    assert (cfg.lists.allow, cfg.lists.deny) == (["粤B12345", "粤BD00001"], ["粤B54321"])
    assert site.control.list_calls[-1] == (["粤B12345", "粤BD00001"], ["粤B54321"])  # what the agent runs
    assert site.lists.lookup("粤B54321") == "deny"


def test_plates_listed_at_once_are_all_kept(site):
    """Two reviewers (or tabs) listing plates at the same moment: each request built the lists from the page's
    copy before the other's reached it, and the later write dropped the earlier plate (16 at once kept 1)."""
    plates = [f"粤B2{i:04d}" for i in range(12)]
    for p in plates:
        publish_visit(site, "A2", p, "blue", False, "format+colour", "fuel_vehicle")
    with WebServer(site.app(), "127.0.0.1", 0) as srv, httpx.Client(base_url=srv.url) as c:
        tok = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
        assert c.post("/login", data={"username": "admin", "password": PASSWORD, "csrf": tok}).status_code == 303
        tok = re.search(r'name="csrf" value="([^"]+)"', c.get("/violations").text).group(1)
        cookies = dict(c.cookies)

        def deny(vid: int) -> int:
            with httpx.Client(base_url=srv.url, cookies=cookies) as one:
                return one.post(f"/violations/{vid}/list", data={"which": "deny", "csrf": tok}).status_code

        targets = [v.id for v in map(site.log.get, range(1, len(site.ids) + 1)) if v and v.plate in plates]
        assert len(targets) == len(plates)
        with ThreadPoolExecutor(len(targets)) as pool:
            assert set(pool.map(deny, targets)) == {303}
    assert load_config(site.config_path).lists.deny == sorted(plates)
    assert site.lists.deny == sorted(plates)


class _Watched:
    """The lists' editing lock, saying when someone asks for it."""

    def __init__(self) -> None:
        self.lock, self.asked = threading.RLock(), threading.Event()

    def __enter__(self) -> _Watched:
        self.asked.set()
        self.lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.lock.release()


def test_a_list_edit_waits_while_a_held_set_lists_merges(site):
    """A held MQTT ``set-lists`` reads the lists the agent runs, keeps the page's edits since on top and writes the
    result, on the command thread: a page edit landing in between was overwritten (review76). The page's edit takes
    the lists' own lock (``PlateLists.editing``), which the command holds from its read to its write; the page's lock
    of its own did not keep it out."""
    site.lists.editing = watched = _Watched()
    with WebServer(site.app(), "127.0.0.1", 0) as srv, httpx.Client(base_url=srv.url) as c:
        tok = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
        assert c.post("/login", data={"username": "admin", "password": PASSWORD, "csrf": tok}).status_code == 303
        tok = re.search(r'name="csrf" value="([^"]+)"', c.get("/violations").text).group(1)
        with ThreadPoolExecutor(1) as pool:
            with watched.lock:  # the MQTT command thread, between its read of the lists and its write
                done = pool.submit(c.post, "/violations/1/list", data={"which": "deny", "csrf": tok})
                assert watched.asked.wait(5), "the page's list edit did not take the lists' lock"
                assert site.control.list_calls == []  # it waits: nothing handed to the agent yet
            assert done.result(10).status_code == 303
    assert site.control.list_calls == [(["粤BD00001"], ["粤B12345"])]
    assert site.lists.words_since(0) == (1, [("粤B12345", "deny")])  # the word, for a held set-lists' merge
