"""Edits of the one YAML config at run time: validate like check-config, back up, replace atomically.

The web page changes two sections: ``bays`` (installer) and ``lists`` (allow / deny from a
violation); the agent persists lists changed over MQTT (``set-lists``) the same way.
Lists live in the config's ``lists`` section rather than a side file so there is one source of
truth that ``check-config`` validates and a restart picks up. Comments in the YAML are not kept
(PyYAML drops them); the previous file is kept as ``NAME.bak-YYYYmmddTHHMMSS`` beside it.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import Any, Callable

import yaml

from edge_agent.clock import Clock
from edge_agent.config.load import ConfigError, parse_config
from edge_agent.config.models import AgentConfig


class ConfigFile:
    def __init__(self, path: str | Path, clock: Clock) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()

    def read(self) -> dict[str, Any]:
        data = yaml.safe_load(self.path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}

    def update(self, change: Callable[[dict[str, Any]], None]) -> tuple[AgentConfig, Path]:
        """Apply ``change`` to the raw YAML mapping, validate, back up and write.

        Raises ``ConfigError`` (file untouched) when the result would not pass check-config.
        Returns the validated config and the backup's path.
        """
        with self._lock:
            data = self.read()
            change(data)
            cfg = parse_config(data, str(self.path), base_dir=self.path.parent)
            stamp = self._clock.now().strftime("%Y%m%dT%H%M%S")
            backup = self.path.with_name(f"{self.path.name}.bak-{stamp}")
            shutil.copy2(self.path, backup)
            text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=None)
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, self.path)
            return cfg, backup

    def set_bays(self, bays: list[dict[str, Any]]) -> tuple[AgentConfig, Path]:
        """Replace bay ids and polygons; charger and lock ids of bays that keep their id stay."""
        def change(data: dict[str, Any]) -> None:
            old = {b.get("id"): b for b in data.get("bays") or [] if isinstance(b, dict)}
            new = []
            for b in bays:
                entry = dict(old.get(b.get("id"), {}))
                entry["id"] = b.get("id")
                entry["polygon"] = [[round(float(x), 1), round(float(y), 1)] for x, y in b.get("polygon", [])]
                new.append(entry)
            data["bays"] = new
        return self.update(change)

    def lists(self) -> tuple[list[str], list[str]]:
        """The allow and deny lists as the file has them now."""
        lists = self.read().get("lists")
        lists = lists if isinstance(lists, dict) else {}
        return list(lists.get("allow") or []), list(lists.get("deny") or [])

    def set_lists(self, allow: list[str], deny: list[str]) -> tuple[AgentConfig, Path]:
        def change(data: dict[str, Any]) -> None:
            lists = data.get("lists") if isinstance(data.get("lists"), dict) else {}
            lists["allow"] = list(allow)
            lists["deny"] = list(deny)
            data["lists"] = lists
        return self.update(change)


__all__ = ["ConfigError", "ConfigFile"]
