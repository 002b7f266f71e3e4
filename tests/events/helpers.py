"""Test side of the MQTT link: a real paho subscriber, a recording AgentControl, configs."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_agent.clock import FakeClock
from edge_agent.config import AgentConfig, parse_config
from edge_agent.control import ControlError, ControlResult
from edge_agent.events.bus import EventBus
from edge_agent.events.health import no_health
from edge_agent.events.mqtt_link import MqttLink, build_mqtt

BAYS = ["B1", "B2", "B3", "B4"]


def wait_until(pred: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll a condition on a real broker/process with a deadline (never a fixed sleep). The deadline is a hang guard,
    not a speed check: a loaded CI (two workers, brokers, subprocesses on two cores) took over 10 s for a reply."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def first_failure(link: Any, broker: Any, what: str) -> Any:
    """Start ``link``, wait for its first failed connection, stop it and ``broker``: the link's status then."""
    link.start()
    try:
        wait_until(lambda: link.status().failures >= 1, what=what)
        return link.status()
    finally:
        link.stop()
        broker.stop()


def config_dict(broker_url: str, data_dir: Path, **mqtt: Any) -> dict[str, Any]:
    square = [[0, 0], [100, 0], [100, 100], [0, 100]]
    return {
        "site": {"site_id": "s1", "device_id": "dev1"},
        "camera": {"source": "none"},
        "bays": [{"id": b, "polygon": square} for b in BAYS],
        "data_dir": str(data_dir),
        "mqtt": {"enabled": True, "brokers": [broker_url], "reconnect_max_s": 2, **mqtt},
    }


def make_config(broker_url: str, data_dir: Path, **mqtt: Any) -> AgentConfig:
    return parse_config(config_dict(broker_url, data_dir, **mqtt), base_dir=data_dir)


def write_config(path: Path, broker_url: str, data_dir: Path, **mqtt: Any) -> Path:
    path.write_text(yaml.safe_dump(config_dict(broker_url, data_dir, **mqtt)))
    return path


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    props: Any = None

    def json(self) -> Any:
        return json.loads(self.payload)


class Subscriber:
    """A real paho client on the backend side; collects every message it gets."""

    def __init__(
        self,
        port: int,
        topics: list[str] | str = "#",
        client_id: str = "",
        persistent: bool = False,
        v5: bool = True,
        **tls_auth: Any,
    ) -> None:
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self.port = port
        self.topics = [topics] if isinstance(topics, str) else topics
        self.persistent = persistent
        self.c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else not persistent,
        )
        if tls_auth.get("ca"):
            self.c.tls_set(ca_certs=str(tls_auth["ca"]))
        if tls_auth.get("username"):
            self.c.username_pw_set(tls_auth["username"], tls_auth.get("password"))
        self.v5 = v5
        self.c.reconnect_delay_set(1, 1)
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message

    def _on_connect(self, c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if not rc.is_failure:
            c.subscribe([(t, 1) for t in self.topics])
            self._connected.set()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain), msg.properties))

    def start(self) -> "Subscriber":
        kw: dict[str, Any] = {}
        if self.v5:
            props = Properties(PacketTypes.CONNECT)
            if self.persistent:
                props.SessionExpiryInterval = 3600
            kw = {"clean_start": not self.persistent, "properties": props}
        self.c.connect_async("127.0.0.1", self.port, 30, **kw)
        self.c.loop_start()
        wait_until(self._connected.is_set, 10, "the subscriber to connect")
        return self

    def stop(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()

    def on(self, topic: str) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def all(self) -> list[Received]:
        with self._lock:
            return list(self.messages)

    def wait_for(self, topic: str, pred: Callable[[Received], bool] = lambda m: True, timeout: float = 30.0) -> Received:
        return wait_until(lambda: next((m for m in reversed(self.on(topic)) if pred(m)), None), timeout, f"{topic}")

    def request(self, topic: str, body: Any, response_topic: str, correlation: bytes, raw: bytes | None = None) -> None:
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = response_topic
        props.CorrelationData = correlation
        payload = raw if raw is not None else json.dumps(body).encode()
        self.c.publish(topic, payload, qos=1, properties=props if self.v5 else None).wait_for_publish(5)


@dataclass
class RecordingControl:
    """AgentControl for tests: records each call; ``lock`` refuses on bays in ``occupied``."""

    bays: list[str] = field(default_factory=lambda: list(BAYS))
    occupied: set[str] = field(default_factory=set)
    calls: list[tuple] = field(default_factory=list)
    allow: list[str] = field(default_factory=list)  # the lists it runs (``set_lists``: None keeps one)
    deny: list[str] = field(default_factory=list)
    editing: threading.RLock = field(default_factory=threading.RLock)  # ``lists_lock``
    words: list[tuple[str, str]] = field(default_factory=list)  # the page's list edits (``page_lists``)

    def bay_ids(self) -> list[str]:
        return list(self.bays)

    def plate_lists(self) -> tuple[list[str], list[str]]:
        return list(self.allow), list(self.deny)

    def lists_lock(self) -> threading.RLock:
        return self.editing

    def plate_words(self, since: int | None) -> tuple[int, list[tuple[str, str]]]:
        return len(self.words), [] if since is None else self.words[since:]

    def page_lists(self, plate: str, which: str) -> None:
        """The page's list edit (``routes_violations.add_to_list``): on ``which``, off the other, the word noted."""
        with self.editing:
            lists = dict(zip(("allow", "deny"), self.plate_lists(), strict=True))
            other = "deny" if which == "allow" else "allow"
            lists[which], lists[other] = sorted({*lists[which], plate}), [p for p in lists[other] if p != plate]
            self.set_lists(lists["allow"], lists["deny"])
            self.words.append((plate, which))

    def lock(self, bay_id: str, reason: str, operator: str) -> ControlResult:
        self.calls.append(("lock", bay_id, reason, operator))
        if bay_id in self.occupied:
            return ControlResult(False, "vehicle present: the lock stays down")
        return ControlResult(True, "raised", {"lock": "up"})

    def unlock(self, bay_id: str, reason: str, operator: str) -> ControlResult:
        self.calls.append(("unlock", bay_id, reason, operator))
        return ControlResult(True, "lowered", {"lock": "down"})

    def snapshot(self, bay_id: str | None) -> str:
        self.calls.append(("snapshot", bay_id))
        return f"ev-{len(self.calls)}"

    def reload_config(self) -> ControlResult:
        self.calls.append(("reload_config",))
        raise ControlError("config_invalid", "bays[0].polygon: needs at least 3 points")

    def set_lists(self, allow: list[str] | None, deny: list[str] | None) -> ControlResult:
        self.calls.append(("set_lists", allow, deny))
        self.allow = list(self.allow if allow is None else allow)
        self.deny = list(self.deny if deny is None else deny)
        return ControlResult(True, "lists replaced", {"allow": len(allow or []), "deny": len(deny or [])})

    def charger_status(self, bay_id: str, status: str) -> ControlResult:
        self.calls.append(("charger_status", bay_id, status))
        return ControlResult(True, f"charger {status}")

    def reset_lock(self, bay_id: str, operator: str) -> ControlResult:
        self.calls.append(("reset_lock", bay_id, operator))
        return ControlResult(True, "fault cleared", {"lock": "down"})

    def set_maintenance(self, bay_id: str, on: bool, operator: str) -> ControlResult:
        self.calls.append(("set_maintenance", bay_id, on, operator))
        return ControlResult(True, f"maintenance {'on' if on else 'off'}", {"lock": "down"})


class ChildAgent:
    """``python -m tests.events.agent_child`` as a real process we can SIGKILL."""

    def __init__(self, config: Path, events: int = 0, ids: Path | None = None) -> None:
        import subprocess
        import sys

        repo = Path(__file__).resolve().parents[2]
        args = [sys.executable, "-m", "tests.events.agent_child", str(config)]
        if events:
            args += ["--events", str(events)]
        if ids:
            args += ["--ids", str(ids)]
        self.log_path = config.with_suffix(f".{time.monotonic_ns()}.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, cwd=repo, stdout=subprocess.PIPE, stderr=self._log)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.append(raw.decode().strip())

    def wait_line(self, prefix: str, timeout: float = 30.0) -> str:
        def seen() -> str | None:
            if self.proc.poll() is not None and not any(line.startswith(prefix) for line in self.lines):
                raise AssertionError(f"agent exited ({self.proc.returncode}): {self.log_path.read_text()[-2000:]}")
            return next((line for line in self.lines if line.startswith(prefix)), None)

        return wait_until(seen, timeout, f"agent output {prefix!r}")

    def kill(self) -> None:
        """SIGKILL: no clean-up, no DISCONNECT — what a power cut or OOM kill looks like."""
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text()


@contextmanager
def online_link(broker: Any, data_dir: Path, topics: list[str], v5: bool
                ) -> Iterator[tuple[MqttLink, Subscriber, RecordingControl, FakeClock]]:
    """The agent's MQTT link on a fake clock and a recording control, online, and a backend subscribed to
    ``topics`` (the link's status among them); both stopped after."""
    clock, control = FakeClock(), RecordingControl()
    backend = Subscriber(broker.port, topics, v5=v5).start()
    link = build_mqtt(make_config(broker.url(), data_dir), EventBus(), control, clock, no_health)
    link.start()
    try:
        backend.wait_for(link.topics.status, lambda m: m.json()["state"] == "online")
        yield link, backend, control, clock
    finally:
        link.stop()
        backend.stop()


COMMAND_PREFIX = "edge/s1/dev1"
_raw_corr = itertools.count(1)


@contextmanager
def command_link(broker: Any, data_dir: Path) -> Iterator[tuple[Subscriber, RecordingControl, Any]]:
    """An online MQTT 5 link with a backend subscribed to its replies: (backend, control, clock)."""
    with online_link(broker, data_dir, ["backend/#", f"{COMMAND_PREFIX}/status"], v5=True) as (_, backend, control,
                                                                                                   clock):
        yield backend, control, clock


def ask_raw(backend: Subscriber, name: str, raw: bytes) -> dict:
    """Send ``raw`` bytes as command ``name`` and wait for the reply that carries its correlation data."""
    corr = f"raw-{next(_raw_corr)}".encode()
    backend.request(f"{COMMAND_PREFIX}/cmd/{name}", None, "backend/replies", corr, raw=raw)
    return backend.wait_for("backend/replies", lambda m: m.props.CorrelationData == corr).json()

