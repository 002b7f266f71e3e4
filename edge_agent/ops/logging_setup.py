"""Log format (plain or one JSON object per line) with secrets scrubbed from every record.

Why JSON: journald forwards lines verbatim, and a fleet's log pipeline (Loki, ELK) indexes fields
only when each line is one object. Why a redaction filter on the handler rather than care at each
call site: one forgotten ``log.debug("%s", cfg)`` must not leak the MQTT password into a central log
store. The filter masks the known secret values (passwords read from env/files) and common shapes
(``password=…``, ``"secret": "…"``, ``scheme://user:pass@host``) in the message and exception text.

Runtime hook: ``setup_logging(cfg.ops.logging, secrets=[mqtt_password, hmac_key])`` once after the
config is loaded (it replaces the handlers ``cli.main`` installed).
"""

from __future__ import annotations

import atexit
import copy
import json
import logging
import os
import queue
import re
import sys
import threading
from datetime import datetime, timezone, tzinfo
from logging.handlers import QueueHandler
from pathlib import Path
from typing import IO, TYPE_CHECKING, Iterable

from edge_agent.masking import MASK, URL_CREDENTIALS, URL_QUERY_SECRETS, mask_secrets

if TYPE_CHECKING:  # the config models only when a config is set up: every command's start imports this module
    from edge_agent.config.models import AgentConfig
    from edge_agent.config.ops import LoggingConfig

_KEYS = r"(?:password|passwd|secret|token|api[_-]?key|hmac[_-]?key|psk)"
_PATTERNS = [
    # key=value and key: value (also "key": "value" in JSON/dict reprs)
    re.compile(rf"(?i)(['\"]?{_KEYS}['\"]?\s*[=:]\s*['\"]?)([^'\"\s,}}&]+)"),
    URL_CREDENTIALS,  # credentials inside URLs: mqtts://user:pass@host
    # a URL's query secrets (a camera's ?usr=admin&pwd=…, a robot's ?key=…): check-config and the config errors
    # masked them, this filter did not, so `run` logged a camera URL's pwd at every start
    URL_QUERY_SECRETS,
]
# LogRecord attributes that are not user "extra" fields.
_STD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask known secret values and anything that looks like a credential."""
    text = mask_secrets(text, secrets)  # a short one only where it stands as a value: no garbled paths
    for pat in _PATTERNS:
        text = pat.sub(lambda m: m.group(1) + MASK, text)
    return text


class RedactFilter(logging.Filter):
    """Rewrites each record's message (args merged) and exception text with secrets masked."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def add_secret(self, value: str | None) -> None:
        if value:
            self.secrets.append(value)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage(), self.secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        for key, value in list(vars(record).items()):
            if key not in _STD_ATTRS and isinstance(value, str):
                setattr(record, key, redact(value, self.secrets))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC ISO-8601), level, logger, msg, plus any ``extra=`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STD_ATTRS and key not in out:
                out[key] = value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        # json.dumps escapes C0 controls only: DEL, the C1 controls (0x9b is a terminal's CSI, as ESC [) and the
        # Unicode line separators went out raw to whoever reads the journal in a terminal; as \uXXXX the line
        # stays the same JSON
        return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(out, ensure_ascii=False))


PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Line breaks and other control characters a message may carry from outside (a file name in a camera folder):
# written as escapes, so that one record stays one line. Bidirectional controls too (U+202A-202E, U+2066-2069, the marks
# U+061C, U+200E, U+200F): a lock command's ``operator`` with U+202E showed the rest of its line reversed to whoever
# read the log, so text from outside could reorder what the line seemed to say (plate, bay, who).
_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


# what ``json.dumps`` leaves raw of the above (it escapes U+0000-U+001F)
_JSON_RAW = re.compile("[\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# a traceback keeps its line breaks (and tabs); every other control character is escaped
_IN_TRACEBACK = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def one_line(text: str) -> str:
    """``text`` with its control characters (tab kept) as Python escapes: ``\\n``, ``\\x1b``."""
    return _CONTROLS.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class PlainFormatter(logging.Formatter):
    """``PLAIN_FORMAT`` with the time as ISO-8601 with its UTC offset, in ``tz`` (the site's zone; default
    the host's). Why: logging's own ``asctime`` is the host's local time without offset, so the hour that
    repeats when summer time ends wrote the same times twice, and a container on UTC logged times 8 h off
    the events and the review page of a site in China, with nothing to say so."""

    def __init__(self, tz: tzinfo | None = None) -> None:
        super().__init__(PLAIN_FORMAT)
        self.tz = tz

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's
        when = datetime.fromtimestamp(record.created, self.tz) if self.tz else \
            datetime.fromtimestamp(record.created).astimezone()
        return when.isoformat(timespec="milliseconds")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's
        """The message on one line (a traceback after it keeps its lines). Why: a camera folder's file named
        ``f1\\n2026-12-05 ERROR …`` wrote a second, forged line into the log under ``run`` and ``replay``; the
        JSON format was never split."""
        return self._style._fmt % dict(vars(record), message=one_line(record.message))  # type: ignore[operator]

    def format(self, record: logging.LogRecord) -> str:
        """The record with its traceback's control characters escaped too (its lines kept). Why: an exception's
        text may quote what came from outside (a value a database refused, a path), and ESC, BEL or CR in it
        reached the terminal of whoever read the log: a title set, a line erased and written over."""
        return _IN_TRACEBACK.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), super().format(record))


# syslog priorities (sd-daemon(3)) of logging's levels: what journald files each line under
_PRIORITY = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))


def journal_priority(levelno: int) -> int:
    return next((p for level, p in _PRIORITY if levelno >= level), 7)


def writes_to_journal(stream: IO[str]) -> bool:
    """Whether ``stream`` is the journal's stream systemd connected us to: ``$JOURNAL_STREAM`` names its
    ``device:inode`` (systemd.exec(5)); a terminal or a redirect under the same unit does not match."""
    dev, _, ino = os.environ.get("JOURNAL_STREAM", "").partition(":")
    if not (dev.isdigit() and ino.isdigit()):
        return False
    try:
        st = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):  # a StringIO, a closed stream
        return False
    return (st.st_dev, st.st_ino) == (int(dev), int(ino))


class JournalPriority(logging.Formatter):
    """Each line of a record starts with its syslog priority, ``<4>`` for a warning, which journald takes off
    and keeps as the entry's PRIORITY. Why: under the systemd unit every line was filed as "info":
    ``journalctl -u edge-agent -p warning`` showed nothing, errors were not highlighted, and each line of a
    traceback after the first was an info entry of its own."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{journal_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in self.inner.format(record).split("\n"))


def setup_logging(
    cfg: LoggingConfig | None = None,
    secrets: Iterable[str] = (),
    stream: IO[str] | None = None,
    verbose: bool = False,
    tz: tzinfo | None = None,
    background: bool = False,
) -> RedactFilter:
    """Replace the root logger's handlers with one stream handler in the configured format (plain: times
    in ``tz``, the site's zone, with their offset). ``background`` (``run``): the stream is written by a thread of
    its own (``_Background``), so a stream nobody reads delays or drops lines, never the thread that logs.

    Returns the redaction filter so secrets loaded later (e.g. a password file read at connect) can
    be added with ``add_secret``.
    """
    if cfg is None:
        from edge_agent.config.ops import LoggingConfig

        cfg = LoggingConfig()
    stream = stream or sys.stderr
    handler = logging.StreamHandler(_RawStream.of(stream) if background else stream)
    formatter: logging.Formatter = JsonFormatter() if cfg.format == "json" else PlainFormatter(tz)
    handler.setFormatter(JournalPriority(formatter) if writes_to_journal(stream) else formatter)
    redactor = RedactFilter(secrets)
    front: logging.Handler = handler
    if background:
        front = _Background(handler).front
    front.addFilter(redactor)  # in the caller's thread: a queued record holds no secret and its args are merged
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        if isinstance(old, _Dropping) and old.background is not None:  # an earlier set-up's writer: done
            old.background.stop()
    root.addHandler(front)
    root.setLevel(logging.DEBUG if verbose else getattr(logging, cfg.level))
    return redactor


QUEUED_LINES = 10_000  # log lines waiting for a stalled stream; past them lines are dropped, counted


class _Dropping(QueueHandler):
    """Puts each record on a bounded queue; a full one drops it (counted) instead of waiting."""

    def __init__(self, q: queue.Queue[logging.LogRecord | None], background: _Background | None = None) -> None:
        super().__init__(q)
        self.dropped = 0  # lines lost, a line below WARNING displaced by a later warning among them
        self.background = background
        self._only_warnings = False  # the full queue holds no line below WARNING

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        """A copy to wait on the queue: its args merged and its traceback made text (``RedactFilter``), its
        ``exc_info`` dropped: a waiting traceback kept every frame of the failed call alive, their pictures too."""
        record = copy.copy(record)
        if record.exc_info:
            record.exc_text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        return record

    def flush(self) -> None:
        """Wait for the queued lines (``EXIT_S`` at most): ``logging.shutdown`` before an ``os._exit`` (a stuck
        loop's, ``lifecycle``) lost the last lines, the one saying why the process ended among them."""
        if self.background is not None and self.background.running():  # stopped: nothing more will be written
            self.background.drain(self.background.EXIT_S)

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
            self._only_warnings = False
        except queue.Full:
            self.dropped += 1
            if record.levelno >= logging.WARNING and not self._only_warnings:
                self._only_warnings = not self._displace(record)

    def _displace(self, record: logging.LogRecord) -> bool:
        """Put ``record`` in the place of the oldest waiting line below WARNING (that line is the one dropped).

        Why: a full queue dropped the newest line whatever its level, so the ERROR saying why the lock loop failed
        was lost while thousands of older INFO lines waited. A queue of WARNING-and-above lines alone drops the new
        one (``_only_warnings`` spares the scan until a line is queued again)."""
        waiting = self.queue.queue  # type: ignore[attr-defined]  # queue.Queue's deque, under its own mutex
        with self.queue.mutex:  # type: ignore[attr-defined]
            for i, old in enumerate(waiting):
                if old is not None and old.levelno < logging.WARNING:
                    del waiting[i]
                    waiting.append(record)  # one out, one in: ``unfinished_tasks`` stays right
                    return True
        return False


class _RawStream:
    """A stream's descriptor written with ``os.write``: no buffer, no lock, nothing to flush (``_Background``)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @staticmethod
    def of(stream: IO[str]) -> IO[str] | _RawStream:
        """``stream``'s descriptor (``stream`` itself where it has none: a test's StringIO)."""
        try:
            fd = stream.fileno()
            stream.flush()  # what was written through it before comes first
        except (AttributeError, OSError, ValueError):
            return stream
        return _RawStream(fd)

    def write(self, text: str) -> None:
        data = text.encode("utf-8", "backslashreplace")
        while data:
            data = data[os.write(self.fd, data):]

    def flush(self) -> None:
        pass


class _Background:
    """``handler`` (a stream's) written by a daemon thread from a bounded queue (``front`` takes the records).

    Why: a log line is written in the thread that logs it, and stderr is a pipe to journald: a stuck journald (or
    any reader that stops) fills the pipe's 64 KiB and every thread that logs then waits in ``write`` — the lock
    loop among them. A real ``run`` on a full pipe raised no free bay's arm in 70 s (27.9 s with stderr to a file) and
    did not obey SIGTERM in 15 s (probe locks41). A stall now delays lines, then drops them past ``QUEUED_LINES``,
    and says how many once the stream takes lines again; at exit the queue is written for at most ``EXIT_S``."""

    EXIT_S = 2.0

    def __init__(self, handler: logging.Handler) -> None:
        self.handler = handler
        self.queue: queue.Queue[logging.LogRecord | None] = queue.Queue(QUEUED_LINES)
        self.front = _Dropping(self.queue, self)
        self._said_dropped = 0
        self._stopped = False
        self._thread = threading.Thread(target=self._write, name="log-writer", daemon=True)
        self._thread.start()
        atexit.register(self.stop)

    def _write(self) -> None:
        # ``emit``, not ``handle``: this thread alone writes, and a write stalled holding the handler's lock would
        # stall ``logging.shutdown`` at exit too (its stream, ``_RawStream``, holds no lock of its own)
        while (record := self.queue.get()) is not None:
            try:
                self._emit(record)
            finally:
                self.queue.task_done()
            if (dropped := self.front.dropped) > self._said_dropped:
                self._emit(logging.makeLogRecord({
                    "name": __name__, "levelno": logging.WARNING, "levelname": "WARNING",
                    "msg": f"{dropped - self._said_dropped} log line(s) dropped: the log's reader (journald, a pipe) "
                           "stopped taking them"}))
                self._said_dropped = dropped

    def _emit(self, record: logging.LogRecord) -> None:
        """One line written; one it cannot write is lost, never the writer (the dropped-lines notice too: raising
        outside the ``try`` it ended the thread, and every later line was queued, then dropped)."""
        try:
            self.handler.emit(record)
        except Exception:  # noqa: BLE001 - emit re-raises a RecursionError: one line lost, never the writer
            pass

    def running(self) -> bool:
        """Whether lines may still be written: the thread is alive and ``stop`` has not had its time yet."""
        return self._thread.is_alive() and not self._stopped

    def drain(self, timeout: float) -> None:
        """Wait until what is queued now is written (``timeout`` at most)."""
        with self.queue.all_tasks_done:
            self.queue.all_tasks_done.wait_for(lambda: not self.queue.unfinished_tasks, timeout)

    def stop(self) -> None:
        """Write what is queued, for at most ``EXIT_S`` (a stream still stalled keeps the rest)."""
        if not self.running():
            return
        self._stopped = True  # its ``EXIT_S`` is all the exit gives the lines: ``logging.shutdown`` waits no more
        try:
            self.queue.put(None, timeout=self.EXIT_S)
        except queue.Full:
            return
        self._thread.join(self.EXIT_S)


def flush_logs(timeout: float = _Background.EXIT_S) -> None:
    """Wait (``timeout`` at most) for the lines a ``background`` set-up has queued: at the end of ``run``, so what it
    logged comes before what is printed after it, and a test reading its stream sees every line."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, _Dropping) and handler.background is not None:
            handler.background.drain(timeout)


class _Held(logging.Handler):
    """Keeps the records given it, to be written once the site's zone is known."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _put_in_zone(handler: logging.Handler, tz: tzinfo) -> None:
    formatter = handler.formatter
    if isinstance(formatter, JournalPriority):
        formatter = formatter.inner
    if isinstance(formatter, PlainFormatter):
        formatter.tz = tz


def load_config_in_site_zone(path: str | Path) -> AgentConfig:
    """``load_config``, with what it logs (a deprecated key, an ``Etc/GMT`` zone, two bays overlapping) and every
    later record stamped in the config's ``site.timezone``, as ``run`` and ``review`` log.

    Why: ``check-config`` and ``doctor`` log through the cli's handler, in the host's zone: on a host or container
    on UTC their warnings said ``+00:00`` while the events, the page and the agent's log say ``+08:00``. The
    records are held while the file is read (its zone is not known before) and written after it, at the time
    each was made; a config refused (``ConfigError``) has them written in the host's zone, before its report."""
    from zoneinfo import ZoneInfo

    from edge_agent.config.load import load_config

    root = logging.getLogger()
    handlers, held = list(root.handlers), _Held()
    for handler in handlers:
        root.removeHandler(handler)
    root.addHandler(held)
    zone: tzinfo | None = None
    try:
        cfg = load_config(path)
        zone = ZoneInfo(cfg.site.timezone)  # checked by the config: a zone this host's database has
        return cfg
    finally:
        root.removeHandler(held)
        for handler in handlers:
            root.addHandler(handler)
            if zone is not None:
                _put_in_zone(handler, zone)
        for record in held.records:
            for handler in handlers:
                if record.levelno >= handler.level:
                    handler.handle(record)
