"""``edge-agent review`` stops on SIGINT and SIGTERM even when it was started with SIGINT ignored.

Why: a child inherits ignored signals, and Python then never raises KeyboardInterrupt. In a full test
run some thread of the pytest process briefly ignores SIGINT and SIGQUIT (glibc ``system()`` does
exactly that), and a ``review`` started in that moment could not be stopped with Ctrl-C: the process
hung with ``SigIgn`` showing SIGINT (seen twice in ``make test``)."""

from __future__ import annotations

import json
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


def _wait_listening(proc: subprocess.Popen, port: int) -> None:
    """A real subprocess: poll until it listens (never asserts on the time it took)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/login")
            return
        except httpx.TransportError:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)


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
        _wait_listening(proc, port)
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("fmt", ["json", "plain"])
def test_review_logs_in_the_format_and_zone_the_config_sets(site, fmt):
    """``review`` on its own logged plain lines in UTC whatever ``ops.logging`` and ``site.timezone`` said: only
    ``run`` set up logging (found by an operator following deployment.md)."""
    data = yaml.safe_load(site.config_path.read_text(encoding="utf-8"))
    port = _free_port()
    data["web"]["port"] = port
    data.setdefault("ops", {})["logging"] = {"format": fmt}
    data["site"]["timezone"] = "Asia/Shanghai"
    site.config_path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "edge_agent", "review", "--config", str(site.config_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_listening(proc, port)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
            for _ in range(60):  # past the login bucket: the page logs the 429
                if c.post("/login", data={"username": "x", "password": "y"}).status_code == 429:
                    break
            else:
                pytest.fail("no 429 after 60 logins")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = [line for line in err.splitlines() if line.strip()]
    assert any("faster than allowed" in line for line in lines), err
    if fmt == "json":  # every line one JSON object (times in UTC, as run's)
        assert all(json.loads(line)["ts"].endswith("+00:00") for line in lines), err
    else:  # plain lines in the site's zone
        assert all("+08:00" in line.split(" ")[0] for line in lines), err
