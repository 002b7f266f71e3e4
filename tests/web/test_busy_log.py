"""The review page while the agent records events on a database another program holds locked.

The violation log's one connection, and its lock, served the recorder (every bus event, written on the camera loop,
waiting up to 10 s for another connection's write lock) and every page: each page's reads, and its audit row,
queued behind each event's 10 s wait. Measured here with a backup's ``BEGIN IMMEDIATE`` held and three events
being recorded: the live page took 21.0 s (62.9 s when each event's wait ran out: a batch's 10 s, then the same
event's own 10 s), the violation list 41.7 s to its 503. Now the pages read on a connection of their own (WAL: a
write lock holds up no reader) and their writes wait for the recorder's turn within the same second as for the
database's lock.
"""

from __future__ import annotations

import sqlite3
import threading
import time

from edge_agent.events.types import Event, EventType
from tests.web.test_api import HTML, logged_in


def test_pages_answer_in_a_second_while_the_recorder_waits_on_a_locked_database(site):
    c = logged_in(site)
    other = sqlite3.connect(site.log.db_path, isolation_level=None)
    writing = threading.Event()
    site.log._db.set_trace_callback(lambda sql: writing.set() if "INSERT" in sql and "events" in sql else None)
    other.execute("BEGIN IMMEDIATE")  # a backup, `evidence forget`, another program
    recorder = threading.Thread(target=lambda: [site.bus.publish(Event.make(
        EventType.VEHICLE_ARRIVED, site.clock, bay_id="A2", visit_id=f"busy-{i}")) for i in range(3)])
    try:
        recorder.start()
        assert writing.wait(5)  # the recorder holds the log and waits out the database's lock (10 s an event)
        timed = {}
        for path in ("/bays", "/violations", "/violations/1", "/audit"):
            started = time.monotonic()
            r = c.get(path, headers=HTML)
            timed[path] = (r.status_code, time.monotonic() - started)
        assert all(took < 3 for _code, took in timed.values()), timed
        assert timed["/bays"][0] == 200  # the states, locks and warnings, without plates (no audit row)
        assert {code for code, _took in timed.values()} <= {200, 503}
        d = c.post("/violations/1/decide", data={"decision": "confirmed", "csrf": _token(c)}, follow_redirects=False)
        assert d.status_code == 503 and site.log.get(1).decision == "open"
    finally:
        other.execute("ROLLBACK")
        recorder.join(60)
        site.log._db.set_trace_callback(None)
        other.close()
    assert c.get("/violations", headers=HTML).status_code == 200


def _token(c) -> str:
    import re
    return re.search(r'name="csrf" value="([^"]+)"', c.get("/bays").text).group(1)
