"""``edge-agent consume`` from the command line: a broker it cannot use is said, not waited on in silence."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def logged(text: str) -> Iterator[threading.Event]:
    """An event set once the consumer logs a line containing ``text`` (its paho thread logs; a test waits)."""
    said = threading.Event()

    class Seen(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if text in record.getMessage():
                said.set()

    handler = Seen()
    logging.getLogger("edge_agent.consumer").addHandler(handler)
    try:
        yield said
    finally:
        logging.getLogger("edge_agent.consumer").removeHandler(handler)


def test_an_unreachable_broker_is_logged(tmp_path, caplog):
    """Nothing listens on the port: the consumer says so (once) and keeps trying."""
    port = free_port()
    consumer = Consumer(f"mqtt://127.0.0.1:{port}", open_store(str(tmp_path / "c.sqlite")), client_id="t-1")
    with logged("cannot connect to the broker") as said:
        try:
            consumer.start()
            assert said.wait(20), "no log line for a broker that cannot be reached"
            assert not consumer.wait_ready(0)
        finally:
            consumer.stop()


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



def test_two_instances_on_one_client_id_are_named_as_the_cause(broker, tmp_path):
    """Two consumers left on the default ``--client-id`` kicked each other off about once a second, for ever,
    with nothing in either log (mosquitto 2.0 just closes the older connection). Each now says, once, what
    is probably wrong."""
    first = Consumer(broker.url(), open_store(str(tmp_path / "a.sqlite")))
    second = Consumer(broker.url(), open_store(str(tmp_path / "b.sqlite")))
    with logged("probably connected as 'consumer-1'") as said:
        try:
            first.start()
            assert first.wait_ready(20)
            second.start()
            assert said.wait(60), "two instances on one client id flapped in silence"
            assert not first.taken_over.is_set() and not second.taken_over.is_set()  # both keep trying
        finally:
            second.stop()
            first.stop()


def test_a_broker_that_says_the_session_was_taken_over_stops_this_instance(tmp_path):
    """MQTT 5 brokers that send DISCONNECT 142 (session taken over): the instance stops, exit 1 from the CLI,
    instead of taking the session back."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.reasoncodes import ReasonCode

    stopped = threading.Event()
    consumer = Consumer(f"mqtt://127.0.0.1:{free_port()}", open_store(str(tmp_path / "c.sqlite")),
                        client_id="c-9", on_taken_over=stopped.set)
    try:
        consumer.client.on_disconnect(consumer.client, None, None, ReasonCode(PacketTypes.DISCONNECT, identifier=142),
                                      None)
        assert stopped.is_set() and consumer.taken_over.is_set()
    finally:
        consumer.store.close()


@pytest.mark.parametrize("value", ["", "a\0b"])
def test_a_client_id_that_names_no_session_is_refused(value, capsys):
    """``--client-id ''`` consumed under a session the broker named anew at every connect: what it held for the
    instance when it crashed was never delivered to it again (exactly once per event_id, silently broken)."""
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["consume", "--client-id", value])
    assert exc.value.code == 2
    assert "argument --client-id" in capsys.readouterr().err


@pytest.mark.parametrize("db", ["postgresql://edge:Pg5ecretPw@db/edge", "postgres://edge:Pg5ecretPw@db:5432/edge",
                                "postgresql://edge@db/edge?sslmode=require&password=Pg5ecretPw"])
def test_a_database_password_on_the_command_line_is_refused(db, capsys):
    """``--db postgresql://edge:<password>@db/edge`` was taken: the password stood in the process's arguments, which
    every user on the host reads (``ps``, ``/proc/PID/cmdline``), and in shell history; the start line masked it,
    the process list did not. A password goes in libpq's own ``PGPASSWORD`` / ``~/.pgpass`` (as the broker's goes in
    ``--password-env``): exit 2, the password not echoed."""
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["consume", "--db", db])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "argument --db" in err and "PGPASSWORD" in err and "Pg5ecretPw" not in err, err


@pytest.mark.broker
@pytest.mark.postgres
def test_the_started_line_names_the_database_without_its_password(broker, pg_db, tmp_path, monkeypatch):
    """The password from ``PGPASSWORD`` (libpq reads it) is nowhere in the output; the URL is shown as given."""
    from tests.consumer.test_exactly_once import ConsumerProcess

    monkeypatch.setenv("PGPASSWORD", "Pg5ecretPw")  # the test cluster trusts: the password is not checked
    consumer = ConsumerProcess(broker.url(), pg_db, "c-mask", tmp_path / "consumer.log")
    try:
        consumer.ready()
    finally:
        consumer.stop()
    started = next(line for line in consumer.lines if line.startswith("consuming"))
    assert "Pg5ecretPw" not in started and "@127.0.0.1" in started, started
    assert "Pg5ecretPw" not in (tmp_path / "consumer.log").read_text()


def test_ctrl_c_while_the_broker_cannot_be_reached_stops_at_once(tmp_path):
    """``consume`` waited 30 s for its subscriptions in one piece: Ctrl-C (or systemd's SIGTERM) while the broker
    could not be reached did nothing for half a minute. It now stops within a second, with its summary line."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-m", "edge_agent", "consume", "--broker", f"mqtt://127.0.0.1:{free_port()}",
                             "--db", str(tmp_path / "c.sqlite")], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # the first refused connect: it is in the 30 s wait now
            if "cannot connect to the broker" in line:
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)  # was about 30 s from the start
    finally:
        proc.kill()
    assert out.startswith("stopped: 0 messages") and "not subscribed" not in err and "Traceback" not in err
