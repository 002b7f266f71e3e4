"""Edits at run time: validated like check-config, written to ``<data_dir>/overrides.yaml``.

The web page changes three sections: ``bays`` (installer, with the snapshot's frame size as
``camera.width`` / ``height``), ``occupancy`` (``model`` and ``calibration``: the installer page's per-site
calibration) and ``lists`` (allow / deny from a violation); the agent
persists lists changed over MQTT (``set-lists``) the same way. The operator's config file is
only read: on a device it is root-owned and the unit may write only its data dir
(``config/overrides.py`` has the why and the merge rule). The previous overrides file is kept
in ``<data_dir>/config-backups/`` under a new name every time. Every writer (the agent's
``set-lists``, its web page, ``edge-agent review`` in another process) reads, changes and writes
the file under one lock on its folder (``durable.folder_lock``), so no save is lost to another's stale copy.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable

from edge_agent.clock import Clock
from edge_agent.config.load import ConfigError, parse_config
from edge_agent.config.models import AgentConfig
from edge_agent.config.overrides import merge, overrides_path, read_overrides, write_overrides
from edge_agent.config.yamlfile import read_yaml
from edge_agent.durable import folder_lock
from edge_agent.plates import normalise_plate

Change = Callable[[dict[str, Any], dict[str, Any]], None]  # (overrides, merged config now) -> edit overrides


class ConfigFile:
    def __init__(self, path: str | Path, clock: Clock) -> None:
        self.path = Path(path)  # the operator's config: read, never written
        self._clock = clock
        self._lock = threading.Lock()

    def read(self) -> dict[str, Any]:
        """The config as the agent loads it: the file with the overrides merged."""
        base = self._base()
        over = read_overrides(overrides_path(base))
        return merge(base, over[0]) if over else base

    @property
    def overrides(self) -> Path:
        """Where the edits go."""
        return overrides_path(self._base())

    def _base(self) -> dict[str, Any]:
        data, _text = read_yaml(self.path)  # ConfigError: unreadable, too big, not UTF-8, a key twice
        return data if isinstance(data, dict) else {}

    def update(self, change: Change) -> tuple[AgentConfig, Path | None]:
        """Apply ``change`` to the overrides, validate the merged config, back up and write.

        Raises ``ConfigError`` (nothing written) when the result would not pass check-config,
        ``OSError`` when the data dir is not writable. Returns the validated config and the
        previous overrides' backup (None on the first save: the config file is the original).
        """
        with self._lock:
            base = self._base()
            target = overrides_path(base)
            with folder_lock(target.parent):  # read, change, write: nobody else's save in between
                found = read_overrides(target)
                over = found[0] if found else {}
                change(over, merge(base, over))
                cfg = parse_config(merge(base, over), f"{self.path} with the overrides in {target}",
                                   base_dir=Path(os.path.abspath(self.path)).parent,  # as load_config
                                   quiet=True)  # its warnings: the agent's reload after a Save says new ones
                backup = write_overrides(target, over, self._clock)
                return cfg, backup

    def set_bays(self, bays: list[dict[str, Any]], size: tuple[int, int] | None = None,
                 learned: tuple[int, int] | None = None) -> tuple[AgentConfig, Path | None]:
        """Replace bay ids and polygons; charger and lock ids of bays that keep their id stay
        (they come from the config file's bay of that id). ``size``: the frame the polygons were
        drawn on, kept as ``camera.width`` / ``height`` (None: the size stays as it was), with the
        masks scaled to it as the bays' pixels are (``scaled_masks``). ``learned``: the running agent's frame size
        of the bays where the config names none (learned from the frames): the masks' pixels too."""
        base_ids = [b.get("id") for b in self._base().get("bays") or [] if isinstance(b, dict)]

        def change(over: dict[str, Any], now: dict[str, Any]) -> None:
            if size is not None:
                kept = over.get("camera") if isinstance(over.get("camera"), dict) else {}
                over["camera"] = {"width": int(size[0]), "height": int(size[1]),
                                  **scaled_masks(self._base(), now, kept, (int(size[0]), int(size[1])), learned)}
            over["bays"] = [{"id": b.get("id"),
                             "polygon": [[round(float(x), 1), round(float(y), 1)] for x, y in b.get("polygon", [])]}
                            for b in bays]
            kept = {b.get("id") for b in bays}
            over["removed_bays"] = [i for i in base_ids if i not in kept]
            # the bays the installer added: a saved bay not among them that the config later drops was renamed or
            # removed there, and is left out rather than kept beside its successor (overrides.dropped_bays)
            over["added_bays"] = [b.get("id") for b in bays if b.get("id") not in base_ids]
        return self.update(change)

    def set_occupancy(self, model: str, calibration: str) -> tuple[AgentConfig, Path | None]:
        """Run ``model`` (in ``perception.models_dir``) with the site calibration ``calibration`` (in ``data_dir``):
        the installer page's "Use it" after a calibration made there."""
        def change(over: dict[str, Any], _now: dict[str, Any]) -> None:
            over["occupancy"] = {"model": model, "calibration": calibration}
        return self.update(change)

    def clear_occupancy(self) -> tuple[AgentConfig, Path | None]:
        """Drop the page's model and calibration from the overrides: the agent runs the config file's classifier
        (the shipped model unless the config names another). The installer page's "Use the shipped model"."""
        def change(over: dict[str, Any], _now: dict[str, Any]) -> None:
            over.pop("occupancy", None)
        return self.update(change)

    def occupancy_overridden(self) -> bool:
        """Whether the overrides set the classifier (the installer page's calibration)."""
        found = read_overrides(self.overrides)
        return bool(found and found[0].get("occupancy"))

    def lists(self) -> tuple[list[str], list[str]]:
        """The allow and deny lists as the agent would load them now."""
        lists = self.read().get("lists")
        lists = lists if isinstance(lists, dict) else {}
        return list(lists.get("allow") or []), list(lists.get("deny") or [])

    def record_added_bays(self) -> list[str] | None:
        """Say, once, which saved bays of an overrides file from before ``added_bays`` the installer added: those
        the config file does not have now. Returns them (None: nothing to record, the file unchanged).

        Why: such a file cannot tell a bay added on the page from one renamed in the config since, so every saved
        bay is kept — and a bay renamed in the config after an upgrade came back by its old id beside its
        successor (every car in two bays), the very thing ``added_bays`` ended. ``run`` records it at its first
        start: the config is then still the one the file was saved against (an upgrade keeps it), so what it
        lacks was added by the installer. The merge is the same before and after; only later renames differ."""
        found = read_overrides(self.overrides)
        if not found or not _legacy(found[0]):
            return None
        recorded: list[str] = []

        def change(over: dict[str, Any], _now: dict[str, Any]) -> None:
            if _legacy(over):  # another process may have recorded it meanwhile
                known = {b.get("id") for b in self._base().get("bays") or [] if isinstance(b, dict)}
                recorded[:] = [b["id"] for b in over["bays"] if isinstance(b, dict) and b.get("id") not in known]
                over["added_bays"] = list(recorded)
        self.update(change)
        return recorded

    def set_lists(self, allow: list[str], deny: list[str]) -> tuple[AgentConfig, Path | None]:
        def change(over: dict[str, Any], _now: dict[str, Any]) -> None:
            over["lists"] = {"allow": list(allow), "deny": list(deny)}
        return self.update(change)

    def list_plate(self, plate: str, which: str) -> tuple[AgentConfig, Path | None]:
        """Put ``plate`` on the ``which`` list ("allow" / "deny") and off the other, starting from the lists as they
        are saved now, read under the file's lock. Why: the page built both lists from its own copy and wrote them
        whole; two plates listed at once (two reviewers, or the page while the agent took a ``set-lists``, or
        ``edge-agent review`` beside the running agent) each wrote their copy, and the later one removed the
        other's plate: 16 plates listed at once left 1."""
        if which not in ("allow", "deny"):
            raise ValueError(f"unknown list {which!r}")
        other = "deny" if which == "allow" else "allow"
        plate = normalise_plate(plate)

        def change(over: dict[str, Any], now: dict[str, Any]) -> None:
            lists = now.get("lists") if isinstance(now.get("lists"), dict) else {}
            have = {k: v if isinstance(v := lists.get(k), list) else [] for k in ("allow", "deny")}
            if all(isinstance(p, str) for k in have for p in have[k]):
                new = {which: sorted({normalise_plate(p) for p in have[which]} | {plate}),
                       other: sorted({normalise_plate(p) for p in have[other]} - {plate})}
            else:  # not plates: left as they are (with the new one) for the config's check to name
                new = {which: [*have[which], plate], other: have[other]}
            over["lists"] = {"allow": new["allow"], "deny": new["deny"]}
        return self.update(change)


__all__ = ["ConfigError", "ConfigFile"]


def scaled_masks(base: dict[str, Any], now: dict[str, Any], kept: dict[str, Any],
                 size: tuple[int, int], learned: tuple[int, int] | None = None) -> dict[str, Any]:
    """The overrides' ``camera.masks`` / ``masks_of`` for a Save at ``size``: the masks as they run now (``now``, the
    merged config) scaled per axis from the bays' size now to ``size``, as the page carries a kept drawing to a
    picture of another size and the agent an old outline (``BayMonitor._drawn_scale``); at the same size (or one not
    known before: a config without ``camera.width`` / ``height``, whose frames are the first Save's) the ones
    ``kept`` in the overrides, never dropped. Empty when the config draws no masks. A config without ``camera.width``
    / ``height`` has its masks in the pixels of the size the agent learned from the frames (``learned``): scaled from
    it. Until 2026-12-06 they were kept as they were (probe leftovers29): with the camera switched from 1920x1080 to
    a 4:3 640x480 stream (the bays blind), the installer's Save of the bays redrawn on its picture failed on a mask
    past 640 px ("outside the 640x480 camera frame"), and one inside covered other pixels than the text.

    Why: ``camera.masks`` are pixels of the frame the bays are drawn on. A Save on a 4:3 sub-stream's 640x480 picture
    under a 1280x720 config wrote the bays and the size, not the masks: one past 640 px made the Save fail ("outside
    the 640x480 camera frame", the installer with no way to fix it on the page); one inside covered other pixels than
    the text, which was judged again, and the bays under it vouched for empty ground."""
    camera = base.get("camera") if isinstance(base.get("camera"), dict) else {}
    masks = camera.get("masks")
    if not isinstance(masks, list) or not masks:
        return {}
    was = now.get("camera") if isinstance(now.get("camera"), dict) else {}
    w0, h0 = was.get("width"), was.get("height")
    if w0 is None and h0 is None and learned is not None:
        w0, h0 = learned
    if not (isinstance(w0, int) and isinstance(h0, int) and w0 > 0 and h0 > 0) or (w0, h0) == size:
        return {k: kept[k] for k in ("masks", "masks_of") if k in kept}
    running = was.get("masks")
    if not isinstance(running, list):
        return {}
    kx, ky = size[0] / w0, size[1] / h0
    try:
        scaled = [[[min(size[0], round(float(x) * kx, 1)), min(size[1], round(float(y) * ky, 1))] for x, y in m]
                  for m in running]
    except (TypeError, ValueError):  # not polygons: left for the config's own check to name
        return {}
    return {"masks": scaled, "masks_of": masks}


def _legacy(over: dict[str, Any]) -> bool:
    """An overrides file with saved bays that does not say which of them the installer added (written before
    ``added_bays``)."""
    return isinstance(over.get("bays"), list) and "added_bays" not in over
