"""A real ``edge-agent run --quiet`` as a child process, for tests against it and a real mosquitto.

Its stderr goes to a file, never to an unread pipe: a pipe's buffer (64 KiB) fills with the agent's log lines and
then blocks the agent in logging (probe flood: ~1,971 lines in 40 s of refused commands stopped a run answering).
``log_tail`` reads it for a failing assertion. ``Backend`` asks the agent's MQTT commands and waits for each reply.
"""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tests.events.helpers import Subscriber


class RunningAgent:
    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        with log.open("ab") as err:  # the child holds its own descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "edge_agent", "run", "--config", str(config), "--quiet"],
                stdout=subprocess.DEVNULL,
                stderr=err,
            )

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM; its exit status (killed past ``timeout``: the caller's assertion on 0 fails)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return -9

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


class Backend:
    """MQTT commands to the agent under ``prefix``, each answered on ``replies`` (matched by correlation data)."""

    def __init__(self, sub: Subscriber, prefix: str, replies: str) -> None:
        self.sub, self.prefix, self.replies = sub, prefix, replies
        self._corr = itertools.count()

    def ask(self, name: str, **body: Any) -> dict:
        c = f"req-{next(self._corr)}".encode()
        body["ts"] = datetime.now(timezone.utc).isoformat()
        self.sub.request(f"{self.prefix}/cmd/{name}", body, self.replies, c)
        return self.sub.wait_for(self.replies, lambda m: m.props.CorrelationData == c, timeout=20).json()
