"""``RefusalLimiter``: repeats of one refusal are counted, not stored — but a command's answer and the agent's own
word are two speakers. The policy's held raise (no operator), said once an episode, was swallowed when a command's
refusal of the same code had gone out within ``repeat_refusal_s``: a backend's last word was the command's "raise in
28s if it stays so", and the arm stayed down with nothing said (locks40)."""

from __future__ import annotations

from edge_agent.clock import FakeClock
from edge_agent.events.refusals import RefusalLimiter
from edge_agent.events.types import Event, EventType


def _refusal(clock: FakeClock, code: str, operator: str | None) -> Event:
    data = {"lock_id": "L1", "code": code, "reason": "r", **({"operator": operator} if operator else {})}
    return Event.make(EventType.LOCK_REFUSED, clock, bay_id="B1", data=data)


def test_the_agents_own_refusal_is_not_swallowed_by_a_commands():
    clock = FakeClock()
    lim = RefusalLimiter(clock, 60)
    assert lim.admit(_refusal(clock, "occupancy_unsure", "ops")) is not None
    clock.advance(23)
    assert lim.admit(_refusal(clock, "occupancy_unsure", None)) is not None  # the policy's hold, said
    clock.advance(1)
    assert lim.admit(_refusal(clock, "occupancy_unsure", "ops")) is None  # commands' repeats still counted
    assert lim.admit(_refusal(clock, "occupancy_unsure", "eve")) is None  # whoever asks: a flood is one speaker
    clock.advance(1)
    assert lim.admit(_refusal(clock, "occupancy_unsure", None)) is None  # and the agent's own repeats
    clock.advance(60)
    later = lim.admit(_refusal(clock, "occupancy_unsure", "ops"))
    assert later is not None and later.data["suppressed"] == 2
