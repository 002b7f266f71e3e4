"""A broker's MQTT 5 Receive Maximum: no more unacknowledged events in flight than the broker said it takes.

paho sends up to 20 QoS 1 messages before their PUBACKs whatever the CONNACK says. A broker that announces fewer
(HiveMQ's default is 10; mosquitto's ``max_inflight_messages``) may close the connection for the excess (MQTT 5
§4.9, DISCONNECT 0x93, as EMQX does): at the next connection paho would send the same 20 again, and a burst of
events (a morning's arrivals after an outage) would jam the outbox behind a disconnect at every reconnect. Measured
on a real mosquitto announcing 5 (it does not enforce it for QoS 1), held still so that no PUBACK comes back, from
paho's own log of what it sent.
"""

from __future__ import annotations

import logging
import os
import re
import signal

import pytest

from tests.events.helpers import Subscriber, wait_until
from tests.events.test_broker_refusals import EVENTS, _ids, _limited_broker, parts  # noqa: F401

pytestmark = pytest.mark.broker

SENT = re.compile(r"Sending PUBLISH \(d\d, q1, r\d, m(\d+)\)")
ACKED = re.compile(r"Received PUBACK \(Mid: (\d+)\)")


def _peak_in_flight(lines: list[str]) -> int:
    """The most QoS 1 messages sent and not yet acknowledged at once, in the order paho logged them."""
    out: set[int] = set()
    peak = 0
    for line in lines:
        if m := SENT.search(line):
            out.add(int(m.group(1)))
        elif m := ACKED.search(line):
            out.discard(int(m.group(1)))
        peak = max(peak, len(out))
    return peak


def test_no_more_events_in_flight_than_the_brokers_receive_maximum(parts, tmp_path, caplog):  # noqa: F811
    caplog.set_level(logging.DEBUG, logger="edge_agent.events.connection.paho")
    link_of, publish = parts
    broker = _limited_broker(tmp_path, "max_inflight_messages 5")  # announced as Receive Maximum 5
    backend = Subscriber(broker.port, EVENTS, client_id="backend", persistent=True).start()
    try:
        link = link_of(broker)
        os.kill(broker._proc.pid, signal.SIGSTOP)  # the broker takes its time: no PUBACK comes until it goes on
        try:
            ids = publish(60)
            wait_until(lambda: link.stats()["published"] == 60, what="every row handed to paho")
            lines = [r.getMessage() for r in caplog.records if r.name.endswith(".paho")]
        finally:
            os.kill(broker._proc.pid, signal.SIGCONT)
        assert _peak_in_flight(lines) == 5  # as many as the broker takes, not paho's own 20
        wait_until(lambda: _ids(backend) >= set(ids), 20, "every event, five at a time")
    finally:
        backend.stop()
        broker.stop()


def test_after_a_reconnect_paho_resends_no_more_than_the_receive_maximum(parts, tmp_path, caplog):  # noqa: F811
    """The events paho held when the connection went (5 sent, 55 waiting their turn) were all sent at once after the
    next CONNACK: paho's own reconnect reset never counts what it marks to send (every held message is "publish",
    none "queued"), and its CONNACK handler sends every one so marked — 60 in flight to a broker that takes 5, the
    DISCONNECT 0x93 and the same 60 again at every reconnect that the limit was there to end."""
    caplog.set_level(logging.DEBUG, logger="edge_agent.events.connection.paho")
    link_of, publish = parts
    # the backend's session saved as it subscribes: the SIGKILL below loses what mosquitto saves only at a clean stop,
    # and the link's reconnect then raced the backend's — events published before it subscribed again were lost to it
    # (a failing CI run, all 60 sent and acknowledged after the reconnect)
    broker = _limited_broker(tmp_path, "max_inflight_messages 5\nautosave_interval 1\nautosave_on_changes true")
    backend = Subscriber(broker.port, EVENTS, client_id="backend", persistent=True).start()
    try:
        link = link_of(broker)
        os.kill(broker._proc.pid, signal.SIGSTOP)  # no PUBACK: 5 in flight, the rest held by paho
        ids = publish(60)
        wait_until(lambda: link.stats()["published"] == 60, what="every row handed to paho")
        os.kill(broker._proc.pid, signal.SIGKILL)  # the connection goes with the 5 unacknowledged
        broker._proc.wait()
        wait_until(lambda: not link.status().connected, what="the link to see the broker gone")
        mark = len(caplog.records)
        broker.start()
        wait_until(lambda: _ids(backend) >= set(ids), 30, "every event after the reconnect")
        lines = [r.getMessage() for r in caplog.records[mark:] if r.name.endswith(".paho")]
        assert _peak_in_flight(lines) == 5
    finally:
        backend.stop()
        broker.stop()
