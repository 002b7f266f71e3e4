"""The agent's topic tree under one prefix (default ``edge/{site}/{device}``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from edge_agent.config.locks import SIM_ACTIONS
from edge_agent.config.mqtt import mqtt_text

COMMANDS = ("lock", "unlock", "lock-reset", "maintenance", "snapshot", "reload-config", "set-lists", "charger-status")
SIM_COMMANDS = SIM_ACTIONS  # {prefix}/sim/{name}: only subscribed when a lock has driver: simulator


@dataclass(frozen=True)
class Topics:
    prefix: str
    discovery_prefix: str | None = None  # Home Assistant's: never a reply topic (a reply there is a device config)
    template: str | None = None  # mqtt.topic_prefix ({site}, {device}): where every other device's documents are
    _any_device: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.template:
            # ``*``, not ``+``: an empty level is one too (MQTT's ``+`` matches it), and ``edge//dev2/status`` was
            # let through, where ``consume`` (``edge/+/+/status``) stored the reply as a device's
            levels = re.escape(self.template).replace(r"\{site\}", "[^/]*").replace(r"\{device\}", "[^/]*")
            object.__setattr__(self, "_any_device", re.compile(f"(?:{levels})(/.*)"))

    def _another_devices_document(self, topic: str) -> bool:
        """``topic`` is where some device (any site, any device id under our ``topic_prefix``) publishes its
        status, events, health, daily stats or a bay's state: a backend — ``edge-agent consume`` — stores what
        arrives there as that device's."""
        m = self._any_device.fullmatch(topic) if self._any_device else None
        return m is not None and _DOCUMENT.fullmatch(m.group(1)) is not None

    @property
    def status(self) -> str:
        return f"{self.prefix}/status"

    @property
    def events(self) -> str:
        return f"{self.prefix}/events"

    @property
    def health(self) -> str:
        return f"{self.prefix}/health"

    @property
    def stats_daily(self) -> str:
        """Retained: yesterday's per-bay figures (``edge_agent/stats/daily.py``)."""
        return f"{self.prefix}/stats/daily"

    @property
    def reply(self) -> str:
        """Where replies go when a command names no response topic (and malformed ones). Backends should
        point response topics under it too (``{prefix}/reply/…``): the device ACL and site bridges allow it."""
        return f"{self.prefix}/reply"

    @property
    def command_filter(self) -> str:
        return f"{self.prefix}/cmd/+"

    def state(self, bay_id: str) -> str:
        return f"{self.prefix}/bays/{bay_id}/state"

    def command(self, name: str) -> str:
        return f"{self.prefix}/cmd/{name}"

    def command_name(self, topic: str, namespace: str = "cmd") -> str | None:
        head = f"{self.prefix}/{namespace}/"
        return topic[len(head):] if topic.startswith(head) and "/" not in topic[len(head):] else None

    @property
    def sim_filter(self) -> str:
        return f"{self.prefix}/sim/+"

    def sim(self, name: str) -> str:
        return f"{self.prefix}/sim/{name}"

    def safe_reply_topic(self, topic: str | None) -> str:
        """``topic`` if a reply may go there, else :attr:`reply`.

        The rule (a backend can read it in the README): a reply goes to our reply namespace
        (``{prefix}/reply`` or below it) or to a topic outside our own tree, never into our
        own ``status`` / ``events`` / ``bays/…`` (a forged retained state or event), nor onto those
        documents of another device under the same ``topic_prefix`` (a backend stored the reply as that
        device's status, health or bay state), never into any command inbox (a ``cmd`` or ``sim`` level anywhere: ours or another device's), never
        under Home Assistant's discovery prefix (the device may write there: a reply would be read as
        a device's config), never to ``$``-topics, wildcards, over-long names or characters a broker may
        call malformed (:func:`mqtt_text`).
        """
        if not topic or len(topic) > MAX_REPLY_TOPIC or not mqtt_text(topic, "+#") or topic.startswith("$"):
            return self.reply
        if {"cmd", "sim"} & set(topic.split("/")):
            return self.reply
        if self.discovery_prefix and (topic == self.discovery_prefix or topic.startswith(self.discovery_prefix + "/")):
            return self.reply
        if topic == self.reply or topic.startswith(self.reply + "/"):
            return topic
        if topic == self.prefix or topic.startswith(self.prefix + "/"):
            return self.reply
        if self._another_devices_document(topic):
            return self.reply
        return topic


MAX_REPLY_TOPIC = 512
_DOCUMENT = re.compile(r"/(?:status|events|health|stats/daily|bays/[^/]+/state)")  # what every device publishes


def valid_topic_level(name: str) -> bool:
    """A bay id must be one topic level: no '/', no wildcards, nothing a broker may call malformed."""
    return bool(name) and mqtt_text(name, "/+#")


def valid_topic_name(topic: str) -> bool:
    """A topic one may publish to: not empty, no wildcards, no ``$`` start, nothing a broker may call malformed."""
    return bool(topic) and not topic.startswith("$") and len(topic) <= MAX_REPLY_TOPIC and mqtt_text(topic, "+#")
