"""Log format option (plain / JSON lines) and secrets never reaching the log."""

from __future__ import annotations

import gc
import io
import json
import logging
import os
import subprocess
import sys
import threading
import time
import weakref
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest

from edge_agent.config.ops import LoggingConfig
from edge_agent.ops.doctor import CHECKS
from edge_agent.ops.logging_setup import flush_logs, redact, setup_logging

SECRET = "s3cr3t-broker-pw"


@pytest.fixture
def root_restored():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
        if (writer := getattr(h, "background", None)) is not None:  # a ``background`` set-up's thread ends too
            writer.stop()
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def test_json_lines_with_fields_and_exception(root_restored):
    buf = io.StringIO()
    setup_logging(LoggingConfig(format="json", level="INFO"), stream=buf)
    log = logging.getLogger("edge_agent.test")
    log.debug("hidden at INFO")
    log.info("bay %s is %s", "A1", "free", extra={"bay_id": "A1", "fps": 4.9})
    try:
        raise RuntimeError("camera gone")
    except RuntimeError:
        log.exception("reader failed")
    lines = buf.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(ln) for ln in lines)
    assert first["msg"] == "bay A1 is free" and first["level"] == "INFO" and first["logger"] == "edge_agent.test"
    assert first["bay_id"] == "A1" and first["fps"] == 4.9
    assert first["ts"].endswith("+00:00")
    assert second["level"] == "ERROR" and "RuntimeError: camera gone" in second["exc"]


def test_plain_format(root_restored):
    buf = io.StringIO()
    setup_logging(LoggingConfig(format="plain"), stream=buf)
    logging.getLogger("edge_agent.x").warning("disk %d%% full", 91)
    line = buf.getvalue().strip()
    assert line.endswith("WARNING edge_agent.x: disk 91% full")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_a_plain_record_stays_one_line_whatever_its_message_carries(root_restored):
    """A camera folder's file named ``f1\\n2026-12-05 ERROR …`` (any uploader may name one) wrote a second, forged
    line into the plain log of ``run`` / ``replay``. The message's control characters are escapes now; a
    traceback after it keeps its own lines."""
    buf = io.StringIO()
    setup_logging(LoggingConfig(format="plain"), stream=buf)
    log = logging.getLogger("edge_agent.x")
    log.warning("camera: truncated image: %s", "/cam/f1\n2026-12-05 ERROR lock A1 forced\r\x1b[2J\u2028.jpg")
    try:
        raise OSError("disk gone")
    except OSError:
        log.exception("outbox: %s", "two\nlines")
    lines = buf.getvalue().splitlines()
    assert lines[0].endswith("WARNING edge_agent.x: camera: truncated image: "
                             "/cam/f1\\n2026-12-05 ERROR lock A1 forced\\r\\x1b[2J\\u2028.jpg"), lines
    assert lines[1].endswith("ERROR edge_agent.x: outbox: two\\nlines") and lines[-1] == "OSError: disk gone"


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_no_terminal_control_reaches_the_log_raw_from_a_message_or_a_traceback(root_restored, fmt):
    """What a terminal obeys (ESC, BEL, CR, DEL, C1's CSI 0x9b) never reaches the log raw, in either format: a
    traceback's text (an exception quoting a value from outside, say one a database refused) set the reader's
    terminal title and erased lines in the plain log, and the JSON log left DEL, the C1 controls and U+2028 raw
    (``json.dumps`` escapes only U+0000-U+001F). Line breaks of a traceback stay; the JSON reads back the same."""
    buf = io.StringIO()
    setup_logging(LoggingConfig(format=fmt), stream=buf)
    log = logging.getLogger("edge_agent.x")
    hostile = "v\x1b]0;pwned\x07\r\x1b[2Kforged\x9b2J\x7f\u2028end"
    log.warning("command %s refused", hostile)
    try:
        raise ValueError(f"invalid input value {hostile!s}")
    except ValueError:
        log.exception("consumer: write failed")
    text = buf.getvalue()
    assert not any(c in text for c in "\x1b\x07\r\x9b\x7f\u2028"), repr(text)
    if fmt == "json":
        first, second = (json.loads(line) for line in text.splitlines())
        assert first["msg"] == f"command {hostile} refused" and second["exc"].endswith(f"ValueError: invalid input "
                                                                                     f"value {hostile}")
    else:
        assert text.splitlines()[-1] == "ValueError: invalid input value " \
            "v\\x1b]0;pwned\\x07\\r\\x1b[2Kforged\\x9b2J\\x7f\\u2028end"


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_secrets_never_logged(root_restored, fmt):
    buf = io.StringIO()
    redactor = setup_logging(LoggingConfig(format=fmt), secrets=[SECRET], stream=buf)
    redactor.add_secret("late-hmac-key-123")
    log = logging.getLogger("edge_agent.mqtt")
    log.info("connecting with %s", {"username": "dev1", "password": "pw-in-a-dict"})
    log.info("broker url mqtts://dev1:urlpass@broker.example:8883")
    log.info("password=plainpw token: tok123 extra %s", SECRET)
    log.info("config", extra={"detail": f"hmac key late-hmac-key-123 and {SECRET}"})
    try:
        raise ConnectionError(f"auth failed for password {SECRET}")
    except ConnectionError:
        log.exception("connect failed")
    out = buf.getvalue()
    for leaked in (SECRET, "pw-in-a-dict", "urlpass", "plainpw", "tok123", "late-hmac-key-123"):
        assert leaked not in out, leaked
    assert "dev1" in out and "broker.example:8883" in out and "***" in out
    assert "ConnectionError" in out


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_url_query_secrets_never_logged(root_restored, fmt):
    """A camera that takes its login in the query (``?usr=admin&pwd=…``, many MJPEG/CGI cameras) or a robot
    webhook's ``?key=…``: ``check-config`` masked these, the log filter did not, and ``run`` wrote the camera
    URL with its password into the journal at every start ("agent running: …, camera http://…&pwd=…")."""
    buf = io.StringIO()
    setup_logging(LoggingConfig(format=fmt), stream=buf)
    log = logging.getLogger("edge_agent.runtime")
    log.info("agent running: 2 bay(s), camera %s",
             "http://192.168.1.64/cgi-bin/CGIStream.cgi?cmd=GetMJStream&usr=admin&pwd=FoscamPw99")
    log.warning("notify %s: %s", "ops", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-robot")
    log.info("snapshot http://cam/snap.jpg?user=admin&pass=P4ssw0rd#x")
    # httpx logs each request at INFO with its URL: a DingTalk robot's 加签 signature rides in the query
    logging.getLogger("httpx").info('HTTP Request: %s %s "%s %d %s"', "POST", "https://oapi.dingtalk.com/robot/send"
                                    "?access_token=dt-tok-1&timestamp=1767225600000&sign=c2lnbmF0dXJl%2Bx", "HTTP/1.1",
                                    200, "OK")
    out = buf.getvalue()
    for leaked in ("FoscamPw99", "693a91f6-7xxx-robot", "P4ssw0rd", "dt-tok-1", "c2lnbmF0dXJl"):
        assert leaked not in out, leaked
    assert "usr=admin" in out and "cmd=GetMJStream" in out and "qyapi.weixin.qq.com" in out


def test_redact_leaves_ordinary_text_alone():
    text = "bay A1 vehicle_identified 粤B12345 nev=true conf=0.93"
    assert redact(text, ["xy"]) == text  # too-short secrets are not masked everywhere


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_a_short_password_is_masked_as_a_value_and_garbles_nothing_else(root_restored, fmt):
    """A broker password ``edge`` (or ``123``) was masked by substring search wherever it appeared: ``run``
    logged "data dir /var/lib/***-agent", "***4 events". A secret under 8 characters is masked only where it
    stands as a value; a longer one still everywhere."""
    buf = io.StringIO()
    setup_logging(LoggingConfig(format=fmt), secrets=["edge", "123", "1", SECRET], stream=buf)
    log = logging.getLogger("edge_agent.runtime")
    log.info("data dir /var/lib/edge-agent/edge, 1234 events, bay 1 of 12, edge_agent 0.12.1")
    log.info("connecting with %s", {"username": "dev1", "password": "edge"})
    log.info("password=123 pwd: 1 key='edge' args %s", ("edge", "x"))
    log.info("broker mqtts://dev1:edge@broker:8883, then %s inside/%s.txt", SECRET, SECRET)
    out = buf.getvalue()
    assert "/var/lib/edge-agent/edge, 1234 events, bay 1 of 12, edge_agent 0.12.1" in out
    for value in ("'edge'", '"edge"', "=123", ": 1 ", ":edge@", '\\"edge\\"', SECRET):
        assert value not in out, value
    assert out.count("***") >= 7 and "mqtts://dev1:***@broker:8883" in out


def test_plain_times_carry_their_offset_in_the_sites_zone(root_restored):
    """The hour that repeats when summer time ends (Berlin, 25 October 2026): two records an hour apart
    read the same ``02:30:00`` in logging's own format, and a host on UTC wrote UTC times beside events
    in +08:00 with nothing to say so. Each time now says its offset, in the zone ``run`` passes."""
    buf = io.StringIO()
    setup_logging(LoggingConfig(format="plain"), stream=buf, tz=ZoneInfo("Europe/Berlin"))
    first = datetime(2026, 10, 25, 0, 30, tzinfo=timezone.utc).timestamp()  # 02:30 CEST
    for created in (first, first + 3600):  # 02:30 CET
        rec = logging.LogRecord("edge_agent.x", logging.WARNING, __file__, 1, "lock A1 up", (), None)
        rec.created = created
        logging.getLogger("edge_agent.x").handle(rec)
    assert buf.getvalue().splitlines() == ["2026-10-25T02:30:00.000+02:00 WARNING edge_agent.x: lock A1 up",
                                           "2026-10-25T02:30:00.000+01:00 WARNING edge_agent.x: lock A1 up"]


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_under_systemd_each_line_carries_its_priority_for_the_journal(root_restored, monkeypatch, tmp_path, fmt):
    """journald files a line from the unit's stderr as "info" unless it starts with ``<N>`` (sd-daemon(3)):
    ``journalctl -u edge-agent -p warning`` showed nothing, and a traceback's lines after the first were
    info entries of their own. The stream systemd gave us is the one ``$JOURNAL_STREAM`` names."""
    import os

    path = tmp_path / "stderr"
    with open(path, "w", encoding="utf-8") as stream:
        st = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        setup_logging(LoggingConfig(format=fmt), stream=stream, verbose=True)
        log = logging.getLogger("edge_agent.x")
        log.debug("frame 12")
        log.info("agent running")
        log.warning("camera stream: cannot open")
        try:
            raise OSError("disk gone")
        except OSError:
            log.exception("outbox pump failed")
        log.critical("exiting")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [ln[:3] for ln in lines[:4]] == ["<7>", "<6>", "<4>", "<3>"] and lines[-1].startswith("<2>")
    if fmt == "json":  # one object a line, the traceback inside it: journald keeps MESSAGE as plain JSON
        assert len(lines) == 5 and json.loads(lines[3][3:])["exc"].endswith("OSError: disk gone")
    else:
        assert len(lines) > 6 and all(ln.startswith("<3>") for ln in lines[3:-1])  # the traceback's lines too


def test_a_terminal_or_a_redirect_gets_no_priority_prefix(root_restored, monkeypatch, tmp_path):
    """``edge-agent run … 2>file`` inside the unit's environment, or a journal stream inherited by a child:
    the stream is not the journal's, so its lines stay as they were."""
    monkeypatch.setenv("JOURNAL_STREAM", "8:12345")
    path = tmp_path / "stderr"
    with open(path, "w", encoding="utf-8") as stream:
        setup_logging(LoggingConfig(format="plain"), stream=stream)
        logging.getLogger("edge_agent.x").warning("disk 91% full")
    assert path.read_text(encoding="utf-8").rstrip().endswith("WARNING edge_agent.x: disk 91% full")
    assert not path.read_text(encoding="utf-8").startswith("<")


@pytest.mark.parametrize("command", [["check-config", "{path}"], ["doctor", "--config", "{path}",
                                     *(w for name in CHECKS for w in ("--skip", name))],
                                     # probe newuser34: replay's lines said +00:00 beside its events' +08:00
                                     ["replay", "{path}", "{frames}", "-o", "{frames}/../ev.jsonl", "--data-dir",
                                      "{frames}/../replay-data"]])
def test_check_config_doctor_and_replay_stamp_their_warnings_in_the_sites_zone(tmp_path, command):
    """They logged through the cli's handler in the host's zone: on a host (or container) on UTC a warning said
    ``+00:00`` while the events, the page and ``run``'s log said ``+08:00`` for the site in Shanghai."""
    (tmp_path / "frames").mkdir()
    cv2.imwrite(str(tmp_path / "frames" / "f1.png"), np.full((120, 160, 3), 90, np.uint8))  # replay plays one
    path = tmp_path / "site.yaml"
    path.write_text(f"""site: {{site_id: s1, device_id: d1, timezone: Asia/Shanghai}}
camera: {{source: {tmp_path / "frames"}}}
bays: [{{id: A, polygon: [[0, 0], [100, 0], [100, 100], [0, 100]]}}]
occupancy: {{learn_rate: 0.1}}
data_dir: {tmp_path / "data"}
""", encoding="utf-8")
    words = (w.format(path=path, frames=tmp_path / "frames") for w in command)
    proc = subprocess.run([sys.executable, "-m", "edge_agent", *words],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "TZ": "UTC"})
    assert proc.returncode == 0, proc.stderr
    warning = next(line for line in proc.stderr.splitlines() if "learn_rate no longer used" in line)
    assert warning.split(" ")[0].endswith("+08:00") and " WARNING edge_agent.config.bays: " in warning, warning


BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_bidirectional_controls_reach_the_log_escaped(root_restored, fmt):
    """A lock command's ``operator`` "ops\\u202e1A yab" logged as it came showed the rest of its line reversed
    (``bay A1``) to whoever read the log: outside text reordered what the line seemed to say. Escaped in both
    formats, message and traceback; the JSON reads back the same."""
    buf = io.StringIO()
    setup_logging(LoggingConfig(format=fmt), stream=buf)
    log = logging.getLogger("edge_agent.x")
    hostile = f"ops{BIDI}1A yab"
    log.warning("maintenance by %s", hostile)
    try:
        raise ValueError(hostile)
    except ValueError:
        log.exception("failed")
    text = buf.getvalue()
    assert not any(c in text for c in BIDI), ascii(text)
    if fmt == "json":
        first, second = (json.loads(line) for line in text.splitlines())
        assert first["msg"] == f"maintenance by {hostile}" and second["exc"].endswith(hostile)
    else:
        assert "maintenance by ops\\u202a\\u202b" in text and "\\u2069\\u200e\\u200f\\u061c1A yab" in text


def test_a_line_waiting_for_the_writer_holds_no_frame_of_the_call_that_failed(root_restored):
    """``run``'s lines wait on a queue while the stream stalls (up to ``QUEUED_LINES``). A queued record that kept
    its ``exc_info`` kept the failed call's traceback, every frame in it and their locals: a picture per failure
    (6 MB at 1080p), 10,000 of them while journald stalls. The traceback is text (``RedactFilter``) before it waits."""
    gate = threading.Event()

    class Stalled(io.StringIO):  # a reader that stopped: the writer waits in ``write``
        def write(self, text: str) -> int:
            gate.wait(10)
            return super().write(text)

    stream = Stalled()
    setup_logging(LoggingConfig(), stream=stream, background=True)
    pictures: list[weakref.ref[np.ndarray]] = []

    def fail() -> None:
        picture = np.zeros((1080, 1920, 3), np.uint8)
        pictures.append(weakref.ref(picture))
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("t").exception("saving evidence failed")

    for _ in range(3):
        fail()
    gc.collect()
    try:
        assert [p() is None for p in pictures] == [True] * 3
    finally:
        gate.set()
        flush_logs()
    assert stream.getvalue().count("ValueError: boom") == 3


def test_the_watchdogs_last_line_reaches_a_background_log_before_the_process_ends(tmp_path):
    """A stuck loop ends the process with ``os._exit`` (``lifecycle._exit_now``), after logging why: with ``run``'s
    lines written by a thread of their own, that line and those queued before it were lost (5 of 10 tries with 200
    lines: no "exiting now" in the journal, the operator's only record of why the agent ended)."""
    script = (
        "import logging\n"
        "from edge_agent.config.ops import LoggingConfig\n"
        "from edge_agent.ops.logging_setup import setup_logging\n"
        "from edge_agent.ops.lifecycle import _exit_now\n"
        "setup_logging(LoggingConfig(), background=True)\n"
        "for i in range(2000):\n"
        "    logging.getLogger('t').warning('line %d', i)\n"
        "_exit_now(1)\n"
    )
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=repo)
    assert out.returncode == 1
    assert "line 1999" in out.stderr and "exiting now (1)" in out.stderr, out.stderr[-500:]


def test_one_line_the_background_writer_cannot_write_ends_no_writer(root_restored):
    """``emit`` re-raises a RecursionError (a field's ``repr`` that recursed, written in the json format by the log's
    thread): it ended the writer thread, silently, and every later line of the process was queued, then dropped."""
    buf = io.StringIO()
    setup_logging(LoggingConfig(format="json"), stream=buf, background=True)

    class Deep:
        def __repr__(self) -> str:
            return repr(self)

    log = logging.getLogger("t")
    log.warning("deep", extra={"deep": Deep()})
    log.warning("after")
    flush_logs()
    assert [json.loads(line)["msg"] for line in buf.getvalue().splitlines()] == ["after"]


def test_a_stalled_stream_gets_its_exit_time_once(root_restored):
    """At exit ``stop`` gives a stalled stream ``EXIT_S``; ``logging.shutdown``, after it, flushes every handler: had
    the flush waited again, a stop with journald stuck took 2 s more of the 5 s systemd gives the interpreter's exit."""
    gate = threading.Event()

    class Stalled(io.StringIO):
        def write(self, text: str) -> int:
            gate.wait(10)
            return super().write(text)

    setup_logging(LoggingConfig(), stream=Stalled(), background=True)
    logging.getLogger("t").warning("waits")
    front = logging.getLogger().handlers[0]
    try:
        front.background.stop()  # type: ignore[attr-defined]
        began = time.monotonic()
        front.flush()  # what ``logging.shutdown`` calls
        assert time.monotonic() - began < 0.5
    finally:
        gate.set()


def test_a_full_queue_keeps_warnings_and_errors_by_dropping_the_oldest_info_line(root_restored, monkeypatch):
    """With the stream stalled and the queue full, the newest line was dropped whatever its level: the ERROR that said
    why the lock loop failed was lost while thousands of older INFO lines waited. Now a WARNING-or-above line takes the
    place of the oldest waiting line below WARNING; only where none waits is it dropped (and counted)."""
    monkeypatch.setattr("edge_agent.ops.logging_setup.QUEUED_LINES", 20)
    gate, writing = threading.Event(), threading.Event()

    class Stalled(io.StringIO):
        def write(self, text: str) -> int:
            writing.set()
            gate.wait(10)
            return super().write(text)

    stream = Stalled()
    setup_logging(LoggingConfig(), stream=stream, background=True)
    log = logging.getLogger("t")
    try:
        log.info("info first")
        assert writing.wait(5)  # the writer holds that line: 20 places wait behind it
        for i in range(40):
            log.info("info %d", i)
        log.error("the lock loop failed")
        for i in range(25):
            log.warning("warning %d", i)
    finally:
        gate.set()
        flush_logs()
    text = stream.getvalue()
    assert "the lock loop failed" in text
    assert [f"warning {i}" in text for i in range(19)] == [True] * 19  # 20 places, the ERROR in one
    assert "warning 19" not in text  # no line below WARNING left to give its place: dropped, counted
    assert "log line(s) dropped" in text


def test_a_dropped_lines_notice_the_writer_cannot_write_ends_no_writer(root_restored):
    """The writer's "N log line(s) dropped" notice was written outside the ``try`` that keeps one bad line from ending
    the writer: a handler raising on it ended the thread, and every later line was queued, then dropped."""
    from edge_agent.ops.logging_setup import _Background

    buf = io.StringIO()

    class Refusing(logging.StreamHandler):  # type: ignore[type-arg]
        def emit(self, record: logging.LogRecord) -> None:
            if "dropped" in record.getMessage():
                raise RecursionError("as emit re-raises")
            super().emit(record)

    writer = _Background(Refusing(buf))
    try:
        writer.front.dropped = 3  # as a full queue counts them
        writer.front.handle(logging.makeLogRecord({"msg": "first", "levelno": logging.WARNING}))
        writer.drain(2)
        writer.front.handle(logging.makeLogRecord({"msg": "after", "levelno": logging.WARNING}))
        writer.drain(2)
        assert writer.running()
        assert buf.getvalue().splitlines() == ["first", "after"]
    finally:
        writer.stop()
