"""Events: the in-process bus, the durable outbox and the MQTT link."""

from edge_agent.events.bus import EventBus
from edge_agent.events.types import BayState, Event, EventType

__all__ = ["BayState", "Event", "EventBus", "EventType"]
