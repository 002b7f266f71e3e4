"""Parking locks: drivers (gpiozero, Jetson.GPIO, simulator), the safety interlock, per-bay policy."""

from edge_agent.locks.manager import LockManager, build_locks

__all__ = ["LockManager", "build_locks"]
