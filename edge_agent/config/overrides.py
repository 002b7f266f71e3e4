"""What the agent changes at run time lives in ``<data_dir>/overrides.yaml``, merged over the config.

Why: on a device the operator's config is ``/etc/edge-agent/config.yaml`` (root-owned, 0640)
and the unit runs with ``ProtectSystem=strict`` and ``ReadWritePaths=/var/lib/edge-agent``:
the agent cannot write the config, and should not (its comments and layout are the
operator's). The installer page (bay polygons) and ``set-lists`` / the review page (allow and
deny lists) write this file instead; every load (start, reload, ``check-config``) merges it.

Merge rule — the merged document goes through the same models as any config:

- ``bays``: the bays the installer saved, with their ``polygon``; every other key of a bay
  (``charger_id``, ``lock_id`` …) comes from the config's bay with the same id.
  ``removed_bays``: config bays the installer deleted. A bay of the config in neither list
  (added to the config after the last save) is kept, after the saved ones: an operator's
  new bay is never silently dropped. ``added_bays``: the saved bays the installer added (not in the
  config when saved); any other saved bay the config no longer has was renamed or removed there
  since and is left out (a file without ``added_bays``, from before, keeps every saved bay).
- ``lists.allow`` / ``lists.deny``: each replaces the config's list when present.
- ``camera.width`` / ``camera.height``: the size of the snapshot the installer drew the saved
  bays on, which replaces the config's (polygons are pixels of one frame size: bays redrawn on a
  camera that now sends another shape would otherwise stay blind until someone edits the config).
- ``camera.masks`` / ``camera.masks_of``: the config's masks scaled to that size by a Save at another size
  (``masks_of``: the config's masks they were scaled from). They replace the config's masks only while the
  config's are still ``masks_of``: masks edited in the config since are its own, drawn on the frames as they are.
- ``occupancy.model`` / ``occupancy.calibration``: the installer page's "Use it" after a per-site calibration
  (the model the calibration was made for, and the calibration file in ``data_dir``); each replaces the config's.

Nothing else may appear in the file (an error names the key). To hand control back to the
config file, delete the overrides file (its backups stay in ``config-backups/``).
"""

from __future__ import annotations

import copy
import errno
import logging
import os
from datetime import timezone
from pathlib import Path
from typing import Any

import yaml

from edge_agent.clock import Clock
from edge_agent.config.errors import ConfigError, key_path
from edge_agent.config.yamlfile import MAX_BYTES, read_yaml
from edge_agent.durable import NotRegularFile, read_small, write_durably

OVERRIDES_NAME = "overrides.yaml"
BACKUPS_DIR = "config-backups"
log = logging.getLogger(__name__)
KEEP_BACKUPS = 20  # the newest ones; the first backup (the first version written) is never pruned
_BAY_KEYS = {"id", "polygon"}
_LIST_KEYS = {"allow", "deny"}
_CAMERA_KEYS = {"width", "height"}
_MASK_KEYS = {"masks", "masks_of"}  # camera.masks as a Save at another size scaled them (``scaled_masks``)
_OCCUPANCY_KEYS = {"model", "calibration"}
DEFAULT_DATA_DIR = "/var/lib/edge-agent"


def data_dir_of(raw: dict[str, Any]) -> Path:
    value = raw.get("data_dir")
    return Path(value if isinstance(value, str) and value else DEFAULT_DATA_DIR)


def overrides_path(raw: dict[str, Any]) -> Path:
    """Where the overrides of the config ``raw`` (its YAML mapping) live."""
    return data_dir_of(raw) / OVERRIDES_NAME


def read_overrides(path: Path) -> tuple[dict[str, Any], str] | None:
    """The file's mapping and text, or None when there is none (or ``data_dir`` is no folder: the config's
    own check names that). Raises ``ConfigError`` naming the key; read under the config file's rules
    (``config/yamlfile.py``: bounded, regular file, UTF-8, no key twice)."""
    try:
        path.lstat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise ConfigError(str(path), [f"(file): cannot read: {exc.strerror or exc}"]) from None
    data, text = read_yaml(path)
    data = {} if data is None else data
    problems = _shape_problems(data)
    if problems:
        raise ConfigError(str(path), problems)
    return data, text


def _shape_problems(data: Any) -> list[str]:
    if not isinstance(data, dict):
        return ["(top level): must be a mapping with bays and/or lists"]
    # every key as key_path shows it: an unknown one by a short prefix, as the config's own errors (a key with a line
    # break in it wrote a line of its own into the report, and an empty one left the line without a key)
    problems = [f"{key_path((k,))}: not allowed in overrides (only bays, removed_bays, added_bays, lists, camera "
                "width / height / masks / masks_of and occupancy model / calibration; set it in the config file)"
                for k in data if k not in ("bays", "removed_bays", "added_bays", "lists", "camera", "occupancy")]
    occupancy = data.get("occupancy", {})
    if not isinstance(occupancy, dict):
        problems.append("occupancy: must be a mapping with model and/or calibration")
    else:
        problems += [f"{key_path(('occupancy', k))}: not allowed in overrides (only model and calibration; set it "
                     "in the config file)" for k in occupancy if k not in _OCCUPANCY_KEYS]
        problems += [f"occupancy.{k}: must be a file name (text)" for k in _OCCUPANCY_KEYS & set(occupancy)
                     if not isinstance(occupancy[k], str) or not occupancy[k]]
    camera = data.get("camera", {})
    if not isinstance(camera, dict):
        problems.append("camera: must be a mapping with width and height (and masks, masks_of)")
    else:
        problems += [f"{key_path(('camera', k))}: not allowed in overrides (only width, height, masks and "
                     "masks_of; set it in the config file)" for k in camera
                     if k not in _CAMERA_KEYS | _MASK_KEYS]
        problems += [f"camera.{k}: must be a list of polygons" for k in sorted(_MASK_KEYS & set(camera))
                     if not isinstance(camera[k], list)]
        if len(_MASK_KEYS & set(camera)) == 1:
            problems.append("camera: masks and masks_of go together in overrides (the config's masks as a Save "
                            "scaled them, and the ones they were scaled from): give both or neither")
        # one of them merged over the config's other made a size no snapshot had (1920 over a 960x540 config:
        # 1920x540, every bay blind for "another aspect ratio"), and check-config printed "1920xNone"
        if len(_CAMERA_KEYS & set(camera)) == 1:
            problems.append("camera: width and height go together in overrides (the size of the snapshot the saved "
                            "bays were drawn on): give both or neither")
    for key in ("removed_bays", "added_bays"):
        ids = data.get(key, [])
        if not isinstance(ids, list) or not all(isinstance(x, str) for x in ids):
            problems.append(f"{key}: must be a list of bay ids")
    bays = data.get("bays", [])
    if not isinstance(bays, list):
        problems.append("bays: must be a list of {id, polygon}")
    else:
        for i, b in enumerate(bays):
            if not isinstance(b, dict):
                problems.append(f"bays[{i}]: must be a mapping with id and polygon")
                continue
            problems += [f"{key_path(('bays', i, k))}: not allowed in overrides (set it in the config file)"
                         for k in b if k not in _BAY_KEYS]
            if "id" in b and not isinstance(b["id"], str):  # merge() keys bays by id: a list there was a TypeError
                problems.append(f"bays[{i}].id: must be a bay id (text)")
    lists = data.get("lists", {})
    if not isinstance(lists, dict):
        problems.append("lists: must be a mapping with allow and/or deny")
    else:
        problems += [f"{key_path(('lists', k))}: unknown key (allow or deny)" for k in lists if k not in _LIST_KEYS]
        # merge() copies each as a list: a number was a TypeError, a text one plate per character
        problems += [f"lists.{k}: must be a list of plates" for k in _LIST_KEYS & set(lists)
                     if lists[k] is not None and not isinstance(lists[k], list)]
    return problems


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """The config ``base`` with the overrides ``over`` applied (neither is changed).

    A section of ``base`` that is not of its shape (``bays: A``, ``lists: [1]``, a bay whose id is a list) is
    left as written, so the models name the config's own mistake: merging over it raised a ``TypeError`` or
    replaced it, and the config's error went unseen."""
    out = copy.deepcopy(base)
    base_bays = base.get("bays")
    if ("bays" in over or "removed_bays" in over) and isinstance(base_bays, list):
        known = {b["id"]: b for b in base_bays if isinstance(b, dict) and isinstance(b.get("id"), str)}
        gone = set(dropped_bays(base, over))
        saved = [b for b in over.get("bays") or [] if _bay_id(b) not in gone]
        skip = ({b.get("id") for b in saved} | set(over.get("removed_bays") or [])) - {None}
        out["bays"] = [{**copy.deepcopy(known.get(b.get("id"), {})), **copy.deepcopy(b)} for b in saved]
        out["bays"] += [copy.deepcopy(b) for b in base_bays if _bay_id(b) not in skip]
    if over.get("camera") and _mapping_or_absent(base.get("camera")):  # the saved bays' frame size
        camera: dict[str, Any] = out.get("camera") or {}
        camera.update({k: over["camera"][k] for k in _CAMERA_KEYS if k in over["camera"]})
        if "masks" in over["camera"] and camera.get("masks") == over["camera"].get("masks_of"):
            camera["masks"] = copy.deepcopy(over["camera"]["masks"])  # as the Save scaled them (still the config's)
        out["camera"] = camera
    if over.get("occupancy") and _mapping_or_absent(base.get("occupancy")):  # the page's per-site calibration
        occupancy: dict[str, Any] = out.get("occupancy") or {}
        occupancy.update({k: over["occupancy"][k] for k in _OCCUPANCY_KEYS if k in over["occupancy"]})
        out["occupancy"] = occupancy
    if over.get("lists") and _mapping_or_absent(base.get("lists")):
        lists: dict[str, Any] = out.get("lists") or {}
        lists.update({k: list(v or []) for k, v in over["lists"].items()})
        out["lists"] = lists
    return out


def dropped_bays(base: dict[str, Any], over: dict[str, Any]) -> list[str]:
    """The saved bays left out of the merge: ones the config had when the installer saved them (not in
    ``added_bays``) and has no more — renamed or removed in the config since.

    Why: the saved bay came back by its old id, without its ``charger_id`` and lock, beside the config's
    renamed one over the same ground: every car was reported in two bays (or, with a lock on the same
    outline, the agent refused to start). Only a file that says which bays the installer added can tell;
    one without ``added_bays`` (written before) keeps every saved bay, as it always did."""
    added = over.get("added_bays")
    base_bays = base.get("bays")
    if not isinstance(added, list) or not isinstance(base_bays, list):
        return []
    known = {_bay_id(b) for b in base_bays} - {None}
    return [i for b in over.get("bays") or [] if (i := _bay_id(b)) is not None and i not in known and i not in added]


def _bay_id(bay: Any) -> str | None:
    """A config bay's id when it is one (text); None for an entry the models will refuse anyway."""
    return bay["id"] if isinstance(bay, dict) and isinstance(bay.get("id"), str) else None


def _mapping_or_absent(value: Any) -> bool:
    return value is None or isinstance(value, dict)


def describe(base: dict[str, Any], over: dict[str, Any]) -> str:
    """One line for ``check-config``: what the overrides change."""
    parts = []
    gone = dropped_bays(base, over)
    if "bays" in over:
        kept = [str(b.get("id")) for b in over["bays"] if b.get("id") not in gone]
        parts.append(f"bays {', '.join(kept) or '(none)'} (polygons)")
    if gone:
        parts.append(f"saved bays left out, no longer in the config file (renamed or removed there): {', '.join(gone)}")
    if over.get("removed_bays"):
        parts.append(f"bays removed by the installer: {', '.join(over['removed_bays'])}")
    camera = over.get("camera") or {}
    if "width" in camera:
        parts.append("camera frame size {}x{} (the installer's snapshot)".format(camera["width"], camera["height"]))
    if "masks" in camera:
        parts.append("camera masks (the config's, scaled to that size by a Save)")
    if over.get("occupancy"):
        parts.append("occupancy " + ", ".join(f"{k} {over['occupancy'][k]}" for k in sorted(_OCCUPANCY_KEYS)
                                              if k in over["occupancy"]) + " (the installer page's calibration)")
    for k in ("allow", "deny"):
        if k in (over.get("lists") or {}):
            n = len(over["lists"][k] or [])
            parts.append(f"{k} list ({n} plate{'' if n == 1 else 's'})")
    return "; ".join(parts) or "nothing"


class OverridesTooLarge(ConfigError):
    """The edit would make the file bigger than any config file may be (``yamlfile.MAX_BYTES``): nothing written."""


def write_overrides(path: Path, data: dict[str, Any], clock: Clock) -> Path | None:
    """Back up the current file (if any) and replace it atomically. Returns the backup's path.

    Raises ``OverridesTooLarge`` (nothing written) for a file the loader would refuse for its size: a
    ``set-lists`` of 100,000 plates answered "saved", and the 1.25 MB file then stopped every reload, every
    later list edit and the next start (exit 2) until someone deleted it by hand."""
    # an operator going back opens this file when the older release refuses it (exit 2): it says what to do
    going_back = ("# edge-agent 0.12.0 and older refuse the occupancy line (exit 2): before going back, put its model "
                  "and calibration in the config file's occupancy section, then delete the line "
                  "(docs/deployment.md).\n" if data.get("occupancy") else "")
    text = ("# Written by edge-agent (installer page; review page, set-lists command): merged over the config "
            "file at load.\n"
            "# Delete this file to go back to the config file's bays, lists, camera frame size and masks, and "
            "occupancy classifier.\n"
            + going_back + yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=None))
    raw = text.encode("utf-8")
    if len(raw) > MAX_BYTES:
        lists = data.get("lists") if isinstance(data.get("lists"), dict) else {}
        plates = sum(len(v or []) for v in lists.values())
        raise OverridesTooLarge(str(path), [
            f"lists: {plates} plates would make {path.name} {len(raw) / 1e6:.2f} MB, over the "
            f"{MAX_BYTES >> 20} MiB any config file may be (the next start and every reload would refuse it); "
            "nothing written"])
    path.parent.mkdir(parents=True, exist_ok=True)
    backup = _backup(path, clock) if os.path.lexists(path) else None
    write_durably(path, raw)
    return backup


def backups(path: Path) -> list[Path]:
    """Backups of ``path``, oldest first (by sequence number, never by a clock's resolution)."""
    folder = path.parent / BACKUPS_DIR
    found = [p for p in folder.glob(f"{path.name}.*") if p.name.split(".")[-1].split("-")[0].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split(".")[-1].split("-")[0]))


def _backup(path: Path, clock: Clock) -> Path | None:
    """Copy ``path`` to ``config-backups/NAME.<seq>-<UTC time>Z``: a new sequence number each time, so two
    saves in one second are two backups; the first backup is kept for ever, the newest few too."""
    try:  # read once, as the loader reads it, never by name again: the file was checked, then re-read by name
        data = read_small(path, MAX_BYTES, nofollow=True)
    except (NotRegularFile, OSError) as exc:
        if not isinstance(exc, NotRegularFile) and exc.errno != errno.ELOOP:
            raise
        # Why: a FIFO put there after the load hung the Save (or set-lists, and every command after it) for ever,
        # a link to /dev/zero read until memory ran out, and a link to the session key was copied into the backups
        log.warning("%s: a link, FIFO or device where the agent keeps its own file (planted?): not backed up, "
                    "replaced by the edit", path)
        return None
    if len(data) > MAX_BYTES:  # no loader took it: no backup to go back to
        return None
    folder = path.parent / BACKUPS_DIR
    folder.mkdir(exist_ok=True)
    old = backups(path)
    seq = int(old[-1].name.split(".")[-1].split("-")[0]) + 1 if old else 1
    # UTC with its Z: the site's local time repeats an hour at a DST fall-back, and two backups an hour apart were
    # named alike (only their sequence number, which orders them, told them apart). Older local names still parse:
    # the order and the pruning read the sequence number alone.
    stamp = clock.now().astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    while True:
        target = folder / f"{path.name}.{seq:06d}-{stamp}"
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        except FileExistsError:  # another process saved at the same moment
            seq += 1
            continue
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError:  # a full disk: a truncated copy is no backup, and it would push a good one out
            target.unlink(missing_ok=True)
            raise
        break
    kept = backups(path)
    for p in kept[1:-KEEP_BACKUPS] if len(kept) > KEEP_BACKUPS + 1 else []:
        p.unlink(missing_ok=True)
    return target
