"""Over a real mosquitto, signed: a ``lock`` delivered after the bay's later word is refused ``out_of_order``
(``CommandHandler._check_order``). Two ways a captured older ``lock`` still raised the arm against the backend's
``unlock`` (review68): a ``ts`` equal to the unlock's (a backend stamping whole seconds), and a restart of the agent
between the unlock and the captured lock's delivery (the newest word was kept in memory only)."""

from __future__ import annotations

import pytest

from edge_agent.events.command_handler import sign_command
from tests.events.test_command_hardening import (  # noqa: F401 - setup: the fixture
    KEY,
    now,
    reply_with,
    send,
    setup,
)

pytestmark = pytest.mark.broker


def _signed(name: str, ts: str, bay: str = "B2", **more) -> dict:
    body = {"ts": ts, "bay": bay, **more}
    if name in ("lock", "unlock"):
        body.update(reason="r", operator="alice")
    if name == "maintenance":
        body.update(operator="alice")
    return sign_command(name, body, KEY.encode())


def test_a_lock_with_the_same_ts_as_the_unlock_before_it_is_refused(setup):  # noqa: F811
    make, backend, control, clock = setup
    make(hmac_secret_env="EDGE_TEST_HMAC")
    ts = now(clock)
    lock, unlock = _signed("lock", ts), _signed("unlock", ts)
    assert reply_with(backend, send(backend, "unlock", unlock, "b/r")).json()["ok"]
    r = reply_with(backend, send(backend, "lock", lock, "b/r")).json()
    assert (r["ok"], r["code"]) == (False, "out_of_order")
    # the same ts after a lock, or after maintenance ended, is no reversal: two locks (a retry with its own id), or
    # "maintenance off, then lock" sent in one second, still run
    first, again = _signed("lock", ts, "B1"), _signed("lock", ts, "B1", id="retry")
    assert reply_with(backend, send(backend, "lock", first, "b/r")).json()["ok"]
    assert reply_with(backend, send(backend, "lock", again, "b/r")).json()["ok"]
    off = _signed("maintenance", ts, "B4", on=False)
    assert reply_with(backend, send(backend, "maintenance", off, "b/r")).json()["ok"]
    assert reply_with(backend, send(backend, "lock", _signed("lock", ts, "B4"), "b/r")).json()["ok"]
    assert [c[:2] for c in control.calls] == [
        ("unlock", "B2"),
        ("lock", "B1"),
        ("lock", "B1"),
        ("set_maintenance", "B4"),
        ("lock", "B4"),
    ]


def test_a_restart_does_not_forget_the_bays_last_word(setup, tmp_path):  # noqa: F811
    make, backend, control, clock = setup
    data = tmp_path / "same-data-dir"
    captured = _signed("lock", now(clock))  # never reached the device (it was offline: clean start)
    clock.advance(5)
    link = make(data_dir=data, hmac_secret_env="EDGE_TEST_HMAC")
    assert reply_with(backend, send(backend, "unlock", _signed("unlock", now(clock)), "b/r")).json()["ok"]
    link.stop()
    clock.advance(20)  # a restart: the captured lock is 25 s old, within the 60 s freshness window
    make(data_dir=data, hmac_secret_env="EDGE_TEST_HMAC")
    r = reply_with(backend, send(backend, "lock", captured, "b/r")).json()
    assert (r["ok"], r["code"]) == (False, "out_of_order")
    assert reply_with(backend, send(backend, "lock", _signed("lock", now(clock)), "b/r")).json()["ok"]
    assert [c[:2] for c in control.calls] == [("unlock", "B2"), ("lock", "B2")]
