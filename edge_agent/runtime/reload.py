"""Config reload and list write-back for a running agent, beside it rather than inside it.

``reload()`` re-reads the YAML and applies only what changed: lists at once, timers in place,
bays / occupancy by a new ``BayMonitor`` that adopts the story of every bay that keeps its id (the ``BayFeed``
and so the lock presence sensors stay plugged in), perception by a new reader. Camera changes
need a restart and are reported as such (but the frame size and the masks, ``APPLIED_CAMERA_KEYS``), as are the sections read only at start (``START_ONLY``:
they keep their running values until then); one that turns the view (``camera.rotate`` / ``flip``)
is refused (``view_problems``). A changed lock (its settings, or the bay it guards) is
refused, the running config kept: the locks are built once, at start, and would go on with their
old policy and bay under the new bays (``locks_problems``). ``save_lists()`` keeps lists set at
run time in the config file, so a reload or restart does not bring the old ones back.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from edge_agent.bays.monitor import BayMonitor, PlateReader
from edge_agent.bays.occupancy import OccupancyClassifier
from edge_agent.camera.orient import Orientation
from edge_agent.config.load import ConfigError, load_config
from edge_agent.config.models import AgentConfig
from edge_agent.config.overrides import OverridesTooLarge
from edge_agent.config.web import WebConfig
from edge_agent.control import ControlError, ControlResult
from edge_agent.plates import normalise_plate
from edge_agent.runtime.models import Fingerprint, classifier_fingerprint

if TYPE_CHECKING:
    from edge_agent.runtime.agent import Agent

log = logging.getLogger(__name__)

RELOADABLE = ("bays", "timers", "occupancy", "camera", "perception")
# Read once, at start, by what they build (the MQTT link, web server, evidence store, notify sinks, the
# clock's zone, the data folder): a reload cannot apply them. (``lists`` and ``charger_health`` apply at
# once, ``locks`` are refused, ``camera`` applies only ``APPLIED_CAMERA_KEYS``.)
START_ONLY = ("site", "mqtt", "web", "evidence", "ops", "notify")  # (``data_dir``: refused, data_dir_problems)
# the bays' frame size (applied now: CameraWatch.reconfigure) and the masks over the picture (BayMonitor.set_masks):
# what the bays are drawn on and judged on, which an installer edits with them, not at a restart
APPLIED_CAMERA_KEYS = {"width", "height", "masks"}


def web_as_running(running: WebConfig, new: WebConfig) -> WebConfig:
    """``web`` as it runs after a reload: another certificate and key (``web.tls``'s paths, TLS on before and
    after) are served from the reload (``WebServer.config_applied``: a renewal's checks; a pair they refuse is one
    error and the served one stays); the rest of ``web`` at start only, TLS turned on or off among it (the page's
    socket speaks one or the other). Until 2026-12-04 other paths waited for a restart, the old pair served on."""
    if running.tls is not None and new.tls is not None:
        return running.model_copy(update={"tls": new.tls})
    return running


def restart_needed(running: AgentConfig, new: AgentConfig) -> list[str]:
    """The sections ``new`` changes that only a restart applies.

    Why every one, and against the running values: a reload that changed ``mqtt.heartbeat_s`` (or the
    broker, the site's time zone, ``notify``…) answered "config reloaded", nothing to restart, while
    the old values ran on; and once the running config had taken the file's values the next reload
    could not tell either."""
    camera = new.camera.model_dump(exclude=APPLIED_CAMERA_KEYS) != running.camera.model_dump(exclude=APPLIED_CAMERA_KEYS)
    after = as_running(running, new)
    return (["camera"] if camera else []) + [k for k in START_ONLY if getattr(new, k) != getattr(after, k)]


def as_running(running: AgentConfig, new: AgentConfig) -> AgentConfig:
    """``new`` as it runs after a reload: what applies only at start keeps its running values (until a
    restart), so ``agent.cfg`` says what runs and every later reload still names what waits."""
    update: dict[str, Any] = {k: getattr(running, k) for k in START_ONLY}
    update["web"] = web_as_running(running.web, new.web)
    update["data_dir"] = running.data_dir  # another spelling of the same folder (data_dir_problems): as it runs
    update["camera"] = running.camera.model_copy(update={k: getattr(new.camera, k) for k in APPLIED_CAMERA_KEYS})
    return new.model_copy(update=update)  # keeps the file's path and hash


def locks_problems(running: AgentConfig, new: AgentConfig) -> list[str]:
    """One line per lock whose settings or bay differ between the running config and ``new``.

    Why refuse rather than apply the rest: the lock stage keeps what it was built from, so a reload
    that said "applied" left ``policy.auto_raise: false`` raising the lock, and a lock moved to
    another bay (with the bay ids renamed) reading the camera evidence of the wrong bay.
    """
    old_lk, new_lk = {lk.id: lk for lk in running.locks}, {lk.id: lk for lk in new.locks}
    old_bay, new_bay = running.lock_bays(), new.lock_bays()
    out = []
    for lock_id in sorted(old_lk.keys() | new_lk.keys()):
        if lock_id not in new_lk:
            what = "removed"
        elif lock_id not in old_lk:
            what = "added"
        elif old_bay[lock_id] != new_bay[lock_id]:
            what = f"moved from bay {old_bay[lock_id]} to bay {new_bay[lock_id]}"
        elif old_lk[lock_id].model_dump(exclude={"bay"}) != new_lk[lock_id].model_dump(exclude={"bay"}):
            what = "settings changed"
        else:
            continue
        out.append(f"locks.{lock_id}: {what}; locks apply at start only: restart the agent "
                   "(systemctl restart edge-agent)")
    return out


def view_problems(running: AgentConfig, new: AgentConfig) -> list[str]:
    """One line when ``new`` turns the camera's view (``camera.rotate`` / ``flip``), else none.

    Why refuse rather than apply: the bay polygons of the running config were drawn on the old view,
    and a turned view puts them on the wrong ground (a half turn lays bay A's outline over bay B: its
    car's plate and verdict charged to the other bay, its lock lowered for the wrong car). The new
    view needs new bays, drawn on it: a restart shows it, and the camera counts as moved until the
    installer redraws the bays or confirms the view (``camera/registration.py``: ``turned``).
    """
    old, now = Orientation.of(running.camera), Orientation.of(new.camera)
    if old.key == now.key:  # the same view (or the same one spelt another way)
        return []
    keys = [f"camera.{k}" for k in ("rotate", "flip") if getattr(running.camera, k) != getattr(new.camera, k)]
    return [f"{', '.join(keys)}: the view turns ({old.describe()} → {now.describe()}); it turns at start only and the "
            "bays drawn on the old view would lie on the wrong ground: restart the agent (systemctl restart "
            "edge-agent), then redraw the bays on the installer page (or confirm the view if they still fit)"]


def data_dir_problems(running: AgentConfig, new: AgentConfig) -> list[str]:
    """One line when ``new`` moves ``data_dir``, else none.

    Why refuse rather than tell: the file was read with the overrides of the *new* folder, so the
    installer's saved bays (in the running folder's ``overrides.yaml``) fell away and the YAML's own
    bays were applied, while everything else went on being written to the running folder."""
    if new.data_dir == running.data_dir or Path(new.data_dir).resolve() == Path(running.data_dir).resolve():
        return []  # the same folder spelt another way (``/var/lib/edge-agent/``, relative, through a link): no move
    return [f"data_dir: moves from {running.data_dir} to {new.data_dir}; the overrides, outbox and evidence are read "
            "from it at start only: restart the agent (systemctl restart edge-agent)"]


def drawn(cfg: AgentConfig) -> list[tuple[str, list]]:
    """The bays as drawn on the view (id and outline, by id): what the camera's reference picture and frame size
    belong to.

    Why not the whole ``bays`` section: a reload that changed only a bay's ``charger_id`` counted as bays redrawn,
    so a camera that had moved (or whose view was turned) published ``camera_aligned`` ``{"redrawn": true}`` and
    dropped the banner, then ``camera_moved`` again at the next frame, though no outline had changed. Why by id: a
    hand edit that only moved a bay up the list counted as a redraw too, and a camera knocked beyond tolerance
    before it took its knocked view as the new reference, silently."""
    return sorted((b.id, [list(p) for p in b.polygon]) for b in cfg.bays)


class ConfigReload:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        # SIGHUP, MQTT and the installer's Save reload on their own threads: one at a time, each reading the
        # file and applying it before the next reads (else an older copy could be applied after a newer one)
        self._one_at_a_time = threading.Lock()
        # the config's load warnings last said (at start, then by the last reload): SIGHUP repeated them all
        self._said: tuple[str, ...] = agent.cfg.warnings

    def reload(self, installer: bool = False) -> ControlResult:
        """Re-read the YAML; an invalid file keeps the running config and says why. ``installer``: the installer
        page's Save, bays drawn over the current picture (``CameraWatch.reconfigure``)."""
        # the lists' own lock first, as a list edit takes it before ``between_reloads``: a held ``set-lists`` that
        # read the lists while a reload was under way wrote its merge, made without the reload's lists, over them
        # (review76); one order for both locks, so neither waits on the other
        with self.agent.lists.editing, self._one_at_a_time:
            return self._reload(installer)

    def between_reloads(self) -> threading.Lock:
        """Held by a list change (``set-lists``, the page's allow / deny) while it applies and saves: a reload
        reads the file, then applies its lists, and one under way when the change came applied the old lists
        over it (the change answered "saved"; the agent ran on with the old lists until another reload)."""
        return self._one_at_a_time

    def _reload(self, installer: bool = False) -> ControlResult:
        path = self.agent.cfg.source_path
        if path is None:
            raise ControlError("no_config_file", "the agent was not started from a config file")
        try:
            new = load_config(path, said=self._said)
        except ConfigError as exc:
            data: dict[str, object] = {"problems": exc.problems}
            if exc.source != str(path):  # in (or with) the overrides the page saved: "bays[2]" is not the file's
                data["file"] = exc.source
            return ControlResult(False, "config invalid, kept the running one", data)
        self._said = new.warnings
        problems = locks_problems(self.agent.cfg, new)
        if problems:
            log.warning("reload refused: %s", "; ".join(problems))
            return ControlResult(False, "lock changes need a restart, kept the running config", {"problems": problems})
        problems = data_dir_problems(self.agent.cfg, new)
        if problems:
            log.warning("reload refused: %s", "; ".join(problems))
            return ControlResult(False, "another data_dir needs a restart, kept the running config",
                                 {"problems": problems})
        problems = view_problems(self.agent.cfg, new)
        if problems:
            log.warning("reload refused: %s", "; ".join(problems))
            return ControlResult(False, "a turned camera view needs a restart, kept the running config",
                                 {"problems": problems})
        try:
            classifier = self._new_classifier(new)
        except ConfigError as exc:
            log.warning("reload refused: %s", "; ".join(exc.problems))
            return ControlResult(False, "the occupancy model or calibration cannot be loaded, kept the running "
                                 "config", {"problems": exc.problems})
        try:
            reader = self._new_reader(new)
        except Exception as exc:  # noqa: BLE001 - whatever the reader's backend raises: refused, nothing applied
            problem = f"perception: the plate reader cannot be built: {exc}"
            log.warning("reload refused: %s", problem)
            return ControlResult(False, "the plate reader's models cannot be loaded, kept the running config",
                                 {"problems": [problem]})
        with self.agent.loop_lock:  # never swap the monitor in the middle of a frame
            return self.apply(new, classifier, reader, installer)

    def _new_reader(self, new: AgentConfig) -> PlateReader | None:
        """The plate reader ``new`` names when its ``perception`` differs from the running one, else None. Built
        before anything is applied, so models that cannot be loaded refuse the reload.

        Why: it was built last, after the lists, timers, bays and ``agent.cfg`` had taken the new values: a
        reload to ``perception.precision: int8`` before ``models quantize`` raised (SIGHUP logged a traceback,
        MQTT answered ``internal_error``) with the old reader running under a config that said int8, so no later
        reload saw a perception change to apply, and the MQTT status still named the old config."""
        a = self.agent
        if new.perception == a.cfg.perception:
            return None
        return a.reader_factory(new, a.lists)

    def _new_classifier(self, new: AgentConfig) -> tuple[OccupancyClassifier, Fingerprint] | None:
        """The classifier ``new`` names, when it is another than the running one (another model or calibration
        file, or the same file rewritten: ``occupancy calibrate`` run again), else None. Built before anything
        is applied, so a file that cannot be loaded refuses the reload (``ConfigError``, naming the key).

        Why: a reload reused the classifier built at start. ``occupancy.calibration`` set (the documented
        step after ``occupancy calibrate``) answered "config reloaded (occupancy changed)" while the shipped
        head ran on, and so did taking it out again to go back to the shipped model; a calibration file that
        did not exist was "reloaded" too, and the agent then refused to start at its next restart."""
        a = self.agent
        if a.classifier_factory is None:
            return None
        made_of = classifier_fingerprint(new)
        if made_of == a.classifier_made_of:
            return None
        return a.classifier_factory(new), made_of

    def apply(self, new: AgentConfig, classifier: tuple[OccupancyClassifier, Fingerprint] | None = None,
              reader: PlateReader | None = None, installer: bool = False) -> ControlResult:
        a = self.agent
        restart = restart_needed(a.cfg, new)
        if (a.cfg.web.tls is None) != (new.web.tls is None):  # said apart from "web changes need a restart"
            log.warning("web.tls: %s by this reload: the page goes on speaking %s until a restart (systemctl "
                        "restart edge-agent)", "taken out of the config" if new.web.tls is None else "set",
                        "HTTPS" if a.cfg.web.tls is not None else "plain HTTP")
        new = as_running(a.cfg, new)
        changed = [k for k in RELOADABLE if getattr(new, k) != getattr(a.cfg, k)]
        if classifier is not None:
            a.classifier, a.classifier_made_of = classifier
            if "occupancy" not in changed:  # the same keys, a rewritten file: the bays are judged by the new one
                changed.append("occupancy")
        a.lists.update(allow=new.lists.allow, deny=new.lists.deny)
        old_monitor, before = a.monitor, a.cfg
        # the installer's Save over a view the bays did not fit takes it as their reference (``CameraWatch``), as
        # Confirm current view does: where the cars parked in them stood on it, by the shift measured until now
        placed, measured = a.camera.placement, a.camera.measured
        holding = a.monitor.holding_cars()
        a.cfg = new
        kept: list[str] = a.bay_ids()
        if {"bays", "occupancy"} & set(changed):
            old_monitor.close()
            # the same feed: presence sensors stay plugged in; a bay it adds starts unmeasured, and bays that keep
            # their id keep their story and their classifier's verdict (and publish only it: no "free" in between)
            a.monitor = BayMonitor(new, a.bus, a.clock, a.lists, a.evidence, feed=a.feed, classifier=a.classifier,
                                   replaces=old_monitor)
            anew = a.camera.reconfigure(new, bays_changed=drawn(new) != drawn(before), installer=installer)
            kept = a.monitor.kept
        else:
            # another camera.width / height takes effect here; the installer's Save of the outlines as they were, over
            # a view they do not fit, takes it as their reference (``CameraWatch.reconfigure``)
            anew = a.camera.reconfigure(new, bays_changed=False, installer=installer)
            if "timers" in changed:
                a.monitor.set_timers(new)
            if new.camera.masks != before.camera.masks:
                a.monitor.set_masks(new.camera.masks)
        if installer and placed != "ok":
            if measured is not None and \
                    (new.camera.width, new.camera.height) == (before.camera.width, before.camera.height):
                a.monitor.confirming(measured, {b.id: b.polygon for b in before.bays})
            else:  # no shift to carry the cars' grounds by (a view matching no reference, another frame size): their
                a.monitor.unplace(holding)  # bays wait for a car seen on the new outlines (``Unplaced``)
        if anew:  # the outlines are the current view's, its new reference: the old reference's shift no longer
            # applies (the new monitor took it over, and for a frame or more put every redrawn bay twice as far)
            if installer and placed == "ok" and \
                    (new.camera.width, new.camera.height) == (before.camera.width, before.camera.height):
                a.monitor.carry_grounds(old_monitor.warp)  # the cars' grounds onto that view too
            a.monitor.set_offset(0.0, 0.0)
        a.chargers.reconfigure(new)
        a.monitor.reverify()
        if reader is not None:
            a.reader = reader
        elif "perception" in changed:
            a.reader = a.reader_factory(new, a.lists)
        for hook in a.on_reload:  # the MQTT link's retained status names the config that runs now
            hook(new, restart)
        return ControlResult(True, "config reloaded" + (f" ({', '.join(changed)} changed)" if changed else "")
                             + (f"; {', '.join(restart)} changes need a restart to take effect" if restart else ""),
                             {"changed": changed, "config_hash": new.config_hash, "bays_kept": kept,
                              "restart_needed": restart})

    def save_lists(self) -> bool:
        """Write the agent's lists to its config file; False (and a warning) when they could not be."""
        a = self.agent
        path = a.cfg.source_path
        if path is None:
            return False
        from edge_agent.config.configfile import ConfigFile

        f = ConfigFile(path, a.clock)
        try:
            allow, deny = f.lists()
            if sorted(map(normalise_plate, allow)) == a.lists.allow and \
                    sorted(map(normalise_plate, deny)) == a.lists.deny:
                return True  # already there (the web page writes the file first)
            f.set_lists(a.lists.allow, a.lists.deny)
        except OverridesTooLarge:
            raise  # lists no load could read back: refused, not "applied but not saved" (set_lists undoes them)
        except (OSError, ConfigError, yaml.YAMLError) as exc:
            log.warning("lists applied but not saved to %s: %s", path, exc)
            return False
        return True
