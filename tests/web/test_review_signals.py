"""``edge-agent review`` stops on SIGINT and SIGTERM even when it was started with SIGINT ignored.

Why: a child inherits ignored signals, and Python then never raises KeyboardInterrupt. In a full test
run some thread of the pytest process briefly ignores SIGINT and SIGQUIT (glibc ``system()`` does
exactly that), and a ``review`` started in that moment could not be stopped with Ctrl-C: the process
hung with ``SigIgn`` showing SIGINT (seen twice in ``make test``)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
import yaml


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_review_stops_on_a_signal_even_if_started_with_sigint_ignored(site, sig):
    data = yaml.safe_load(site.config_path.read_text(encoding="utf-8"))
    port = _free_port()
    data["web"]["port"] = port
    site.config_path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "edge_agent", "review", "--config", str(site.config_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_ignore_sigint)
    try:
        deadline = time.monotonic() + 60
        while True:  # a real subprocess: poll until it listens (never asserts on the time it took)
            try:
                httpx.get(f"http://127.0.0.1:{port}/login")
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
