"""What the demo without a broker says on a first run: its own plain line, not the link's warning about its
placeholder broker (``mqtt://127.0.0.1:9``: "connection refused: is the broker running on that port?" read like
the user's fault), and no "daily statistics … held back" line (the fake clock's story is minutes of one day: the
rule that holds a day before the first recorded event always trips). ``run`` reports both as before
(tests/events/test_connection*.py, tests/stats/)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def no_broker_demo(tmp_path_factory) -> subprocess.CompletedProcess:
    data = tmp_path_factory.mktemp("demo")
    r = subprocess.run([sys.executable, "-m", "edge_agent", "demo", "--no-broker", "--data-dir", str(data)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return r


def test_the_demo_without_a_broker_says_so_in_its_own_words_not_connection_refused(no_broker_demo):
    said = no_broker_demo.stdout + no_broker_demo.stderr
    assert "connection refused" not in said and "127.0.0.1:9" not in said, said[:2000]
    headline = no_broker_demo.stdout.splitlines()[0]
    assert "MQTT → no broker (--no-broker): events wait in the outbox on disk" in headline, headline


def test_the_demo_prints_no_daily_statistics_held_back_line(no_broker_demo):
    said = no_broker_demo.stdout + no_broker_demo.stderr
    assert "held back" not in said and "never set" not in said, said[:2000]
    assert "WARNING" not in no_broker_demo.stderr and "INFO" not in no_broker_demo.stderr, no_broker_demo.stderr
