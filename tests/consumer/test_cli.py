"""``edge-agent consume`` from the command line: a broker it cannot use is said, not waited on in silence."""

from __future__ import annotations

import logging
import threading

import pytest

from edge_agent.cli import build_parser
from edge_agent.consumer.service import Consumer
from edge_agent.consumer.store import open_store
from edge_agent.events.broker import free_port


@pytest.mark.parametrize(("url", "why"), [
    ("broker:1883", "scheme must be mqtt:// or mqtts://"),  # read as no host: it consumed from 127.0.0.1
    ("http://broker:1883", "scheme must be mqtt:// or mqtts://"),
    ("mqtt://user:pw@broker", "not in the URL"),
    ("mqtt://broker:0", "bad port"),
])
def test_a_broker_url_that_is_no_broker_is_refused_naming_the_option(url, why, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["consume", "--broker", url])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--broker" in err and why in err and "pw" not in err, err


@pytest.mark.parametrize(("option", "value"), [("--group", "a/b"), ("--group", "back+end"), ("--root", "edge/#"),
                                               ("--root", "")])
def test_a_group_or_root_that_is_no_topic_level_is_refused(option, value, capsys):
    """Either goes into the subscription filter ``$share/{group}/{root}/+/+/…``: the broker refused the filter
    and the consumer waited, subscribed to nothing."""
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["consume", option, value])
    assert exc.value.code == 2
    assert f"argument {option}: {value!r}" in capsys.readouterr().err


def test_an_unreachable_broker_is_logged(tmp_path, caplog):
    """Nothing listens on the port: the consumer says so (once) and keeps trying."""
    said = threading.Event()

    class Seen(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "cannot connect to the broker" in record.getMessage():
                said.set()

    handler = Seen()
    logging.getLogger("edge_agent.consumer").addHandler(handler)
    port = free_port()
    consumer = Consumer(f"mqtt://127.0.0.1:{port}", open_store(str(tmp_path / "c.sqlite")), client_id="t-1")
    try:
        consumer.start()
        assert said.wait(20), "no log line for a broker that cannot be reached"
        assert not consumer.wait_ready(0)
    finally:
        consumer.stop()
        logging.getLogger("edge_agent.consumer").removeHandler(handler)


def test_a_database_that_cannot_be_opened_is_one_line(tmp_path, capsys):
    """A SQLite path under a file (or a PostgreSQL server that is down) was the driver's traceback."""
    from edge_agent.cli import main

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["consume", "--db", str(blocker / "events.sqlite")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"consume: cannot open --db {blocker}/events.sqlite: ") and len(err.splitlines()) == 1, err


def test_a_password_variable_that_is_not_set_is_named(monkeypatch, capsys):
    """``--password-env`` naming an unset variable logged in without a password, as the agent never does."""
    from edge_agent.cli import main

    monkeypatch.delenv("EDGE_TEST_NO_SUCH_VAR", raising=False)
    assert main(["consume", "--username", "backend", "--password-env", "EDGE_TEST_NO_SUCH_VAR"]) == 2
    assert capsys.readouterr().err == ("consume: --password-env EDGE_TEST_NO_SUCH_VAR: that environment variable "
                                       "is not set\n")
