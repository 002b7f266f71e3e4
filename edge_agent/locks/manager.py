"""All locks of the agent: built from the config, wired to the bus, driven by the runtime.

The runtime calls::

    locks = build_locks(cfg, bus, clock, vision=feed)  # pin_factory=None → gpiozero's default
    locks.start()                                  # reads every lock's switches, subscribes
    every 0.1 s:  locks.tick()                     # motor timeouts, timers, auto-raise
    occupancy:    locks.presence(bay_id)           # presence sensor → bay occupancy fusion
    at exit:      locks.stop()                     # motors off, pins released

Remote commands (MQTT, web) call ``lock`` / ``unlock`` / ``reset`` / ``set_maintenance``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from pydantic import TypeAdapter, ValidationError

from edge_agent.clock import Clock
from edge_agent.config.locks import SimStep
from edge_agent.config.models import AgentConfig
from edge_agent.control import ControlError, ControlResult, LockNote
from edge_agent.events.bus import EventBus
from edge_agent.events.types import BayVision, EventType
from edge_agent.locks.controller import LockController
from edge_agent.locks.driver import DriverUnavailable, LockDriver, make_driver
from edge_agent.locks.interlock import Decision, Interlock
from edge_agent.locks.latches import Latches
from edge_agent.locks.rule import VehicleEvidence
from edge_agent.locks.simulator import SimulatedLock

log = logging.getLogger(__name__)

SIM_STEP: TypeAdapter[Any] = TypeAdapter(SimStep)


class VisionFeed(Protocol):
    """Where the camera's evidence per bay comes from (``bays.feed.BayFeed`` in the agent)."""

    def vision(self, bay_id: str) -> BayVision | None: ...

    def watch(self, watcher: Callable[[str], None]) -> Callable[[], None]: ...


@dataclass
class LockUnit:
    bay_id: str
    driver: LockDriver
    interlock: Interlock
    controller: LockController
    judging_failed: bool = False  # the last judgement of the camera's evidence raised (logged once an episode)


class LockManager:
    def __init__(self, units: list[LockUnit], bus: EventBus, vision: VisionFeed) -> None:
        self._units = {u.bay_id: u for u in units}
        self._bus = bus
        self._vision = vision
        self._unsubscribe: list[Callable[[], None]] = []

    def start(self) -> None:
        for u in self._units.values():
            u.interlock.start()
            u.controller.start()
            states = self._bus.states()
            if u.bay_id in states:
                try:
                    u.controller.on_state(states[u.bay_id])
                except Exception:  # noqa: BLE001 - as the camera's evidence (``_on_vision``): a lowering owed whose motor
                    # line write fails again stays owed, the tick retries it (``tick_failed`` if that fails too);
                    # raised, it stopped the agent's start (review66)
                    log.exception("lock %s: judging the bay's state at start-up failed", u.interlock.cfg.id)
            self._unsubscribe.append(self._bus.subscribe(u.controller.on_event, set(EventType.BAY_STORY)))
            self._unsubscribe.append(self._bus.subscribe_state(u.controller.on_state))
        self._unsubscribe.append(self._vision.watch(self._on_vision))

    def _on_vision(self, bay_id: str) -> None:
        """The camera's evidence for a bay changed (frame loop's thread): judge it now, not at the next tick."""
        u = self._units.get(bay_id)
        if u is None:
            return
        try:
            u.controller.on_vision()
        except Exception:  # noqa: BLE001 - a lock's driver failing (a GPIO write's I/O error) must not end the
            # camera loop, which published the evidence: it did, and every camera and bay stopped with it. What the
            # lock owes (a lowering) stays owed; its tick retries it, and latches tick_failed when that fails too.
            # Logged once an episode: the evidence changes at nearly every classification (twice a second), and a
            # driver failing for good wrote a traceback at each
            if not u.judging_failed:
                log.exception("lock %s: judging the camera's evidence failed", u.interlock.cfg.id)
            else:
                log.debug("lock %s: judging the camera's evidence failed again", u.interlock.cfg.id, exc_info=True)
            u.judging_failed = True
            return
        if u.judging_failed:
            u.judging_failed = False
            log.warning("lock %s: the camera's evidence is judged again", u.interlock.cfg.id)

    def stop(self) -> None:
        for unsub in self._unsubscribe:
            unsub()
        self._unsubscribe.clear()
        for u in self._units.values():
            try:
                u.interlock.stop()  # the driver closed; a move under way: where the arm stands said
            except Exception:  # noqa: BLE001 - one driver's failed write must not leave the next lock's motor on:
                # raised out of this loop, the locks after it were never stopped and their motors ran on (review97)
                log.exception("lock %s: stopping it failed (its motor line may still be on)", u.interlock.cfg.id)

    def tick(self) -> None:
        """Call every ~0.1 s (≤ 0.25 s): motor timeouts, reversal, warning and raise timers. Each lock on its own:
        one whose tick raises (a driver that fails to read its pins) is stopped and faulted, and the locks after
        it are still ticked — one bad lock used to end the tick for every lock behind it, whose motor timeouts
        then ran on unwatched."""
        for u in self._units.values():
            try:
                if isinstance(u.driver, SimulatedLock):
                    with u.interlock.guard():  # as for sim commands: one thread at the arm at a time
                        u.driver.run_script()
                u.controller.tick()
            except Exception as exc:  # noqa: BLE001 - see above
                u.interlock.tick_failed(f"{type(exc).__name__}: {exc}")

    # -- commands ------------------------------------------------------------------------------
    def bay_ids(self) -> list[str]:
        return list(self._units)

    def lock(self, bay_id: str, reason: str, operator: str) -> ControlResult:
        u = self._unit(bay_id)
        return self._result(u, u.controller.lock(reason, operator))

    def unlock(self, bay_id: str, reason: str, operator: str) -> ControlResult:
        u = self._unit(bay_id)
        return self._result(u, u.controller.unlock(reason, operator))

    def reset(self, bay_id: str, operator: str = "operator") -> ControlResult:
        u = self._unit(bay_id)
        return self._result(u, u.controller.reset(operator))

    def set_maintenance(self, bay_id: str, on: bool, operator: str = "operator") -> ControlResult:
        u = self._unit(bay_id)
        res = self._result(u, u.controller.set_maintenance(on, operator))
        res.data["mode"] = u.controller.mode  # on also where ``ok`` is false: the arm not proven down (review56)
        return res

    def simulate(self, bay_id: str, action: str, fields: dict[str, Any]) -> ControlResult:
        """Inject a fault into a simulated lock now (MQTT ``sim/{action}``); refused for a real lock."""
        u = self._unit(bay_id)
        if not isinstance(u.driver, SimulatedLock):
            raise ControlError("no_simulator", f"bay {bay_id!r}: lock {u.interlock.cfg.id} is not driver: simulator")
        try:
            step = SIM_STEP.validate_python({**fields, "action": action})
        except ValidationError as exc:
            e = exc.errors()[0]
            where = ".".join(str(p) for p in e["loc"][1:]) or action
            raise ControlError("bad_value", f"sim {action}: {where}: {e['msg']}") from None
        with u.interlock.guard():  # one thread at the arm (the tick thread reads it); events after release
            done = u.driver.inject(step)
            u.interlock.check()  # judge the fault now, not at the next tick
        return ControlResult(True, done, {"lock_id": u.interlock.cfg.id, "state": u.interlock.public_state})

    # -- readings ------------------------------------------------------------------------------------
    def presence(self, bay_id: str) -> bool | None:
        """The bay's presence sensor: True vehicle, False clear, None no sensor / sensor lost — or judged unhealthy
        by its lock (FAULT ``presence_unknown``: flapping, or a "vehicle" the camera never saw), until a reset; its
        "clear" is None while the lock holds it blind (``presence_blind``). Such
        a sensor's word is no witness for the bay either: a stuck or bouncing one kept an empty bay occupied and
        opened an unidentified-vehicle violation on it, after the lock had said it was not to be trusted."""
        u = self._units.get(bay_id)
        if u is None or not u.driver.has_presence:
            return None
        with u.interlock.lock:
            if u.interlock.fault == "presence_unknown":
                return None
            seen = u.driver.read_presence()
            # judged blind (``presence_blind``: clear while the camera saw a car): its "clear" is no witness either —
            # it ended a restart's wait for a car parked off its beam under an untold drop (probe review94)
            return None if seen is False and u.interlock.presence_blind is not None else seen

    def driver(self, bay_id: str) -> LockDriver:
        """The bay's lock driver (the demo injects simulator faults through it)."""
        return self._unit(bay_id).driver

    def state(self, bay_id: str) -> str | None:
        """up | down | moving | fault (None: the bay has no lock)."""
        u = self._units.get(bay_id)
        return u.interlock.public_state if u else None

    def status(self) -> dict[str, dict[str, Any]]:
        out = {}
        for bay_id, u in self._units.items():
            with u.interlock.lock:
                out[bay_id] = {
                    "lock_id": u.interlock.cfg.id,
                    "state": u.interlock.public_state,
                    "fault": u.interlock.fault,
                    "mode": u.controller.mode,
                    "presence": u.driver.read_presence() if u.driver.has_presence else None,
                    "raise_due_in_s": _due_in(u),
                }
        return out

    def lock_notes(self) -> dict[str, LockNote]:
        """Per bay, what the live page says of its lock (``LockController.note``), each read under its lock."""
        out = {}
        for bay_id, u in self._units.items():
            with u.interlock.lock:
                out[bay_id] = u.controller.note()
        return out

    def _unit(self, bay_id: str) -> LockUnit:
        u = self._units.get(bay_id)
        if u is None:
            raise ControlError("no_lock", f"bay {bay_id!r} has no lock (locks on: {', '.join(self._units) or 'none'})")
        return u

    @staticmethod
    def _result(u: LockUnit, d: Decision) -> ControlResult:
        data = {"lock_id": u.interlock.cfg.id, "state": u.interlock.public_state}
        if d.code:
            data["code"] = d.code
        return ControlResult(ok=d.ok, message=d.message, data=data)


def _due_in(u: LockUnit) -> float | None:
    due = u.controller.raise_due()
    return None if due is None else max(0.0, round(due - u.controller.clock.monotonic(), 1))


def build_locks(cfg: AgentConfig, bus: EventBus, clock: Clock, pin_factory: object | None = None, *,
                vision: VisionFeed, latches: Latches | None = None) -> LockManager:
    """One driver + interlock + controller per configured lock. ``pin_factory`` goes to gpiozero;
    ``vision`` is the camera's evidence per bay, without which no lock rises. Which bay each lock
    guards comes from the validated config (``AgentConfig.lock_bays``; the config check owns those rules).
    ``latches``: faults and maintenance mode saved by the last run (the agent's ``LatchFile``);
    None keeps them in memory only (tests, tools)."""
    bays = cfg.lock_bays()
    latches = latches or Latches(clock)
    units: list[LockUnit] = []
    try:
        for i, lk in enumerate(cfg.locks):
            try:
                driver = make_driver(lk, clock, pin_factory=pin_factory)
            except DriverUnavailable as exc:  # one line naming the key: `run` says it and exits 2
                raise DriverUnavailable(f"locks[{i}].driver: {lk.driver}: {exc}") from exc
            il = Interlock(lk, bays[lk.id], driver, bus, clock,
                           VehicleEvidence(vision=partial(vision.vision, bays[lk.id])), latches)
            units.append(LockUnit(bays[lk.id], driver, il, LockController(lk, bays[lk.id], il, bus, clock)))
    except Exception:
        for u in units:  # each on its own: one close raising skipped the rest, and hid the error said (review105)
            try:
                u.driver.close()
            except Exception:  # noqa: BLE001 - the next lock's lines are still released; the build's error is said
                log.exception("lock %s: closing it failed (its lines may still be claimed)", u.interlock.cfg.id)
        raise
    return LockManager(units, bus, vision)
