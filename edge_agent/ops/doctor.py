"""``edge-agent doctor``: can this device do its job? One row per check: pass, warn, fail or skip (with why).

Why a separate tool and not only health events: on a pole at install time there is no backend
yet to read them. Each check opens the real thing the agent will use — the camera, the model
files against their checksums, the broker with the configured TLS and credentials, the GPIO chip —
and stops after a timeout, so the installer sees the one thing to fix.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from edge_agent.config.datadir import not_writable, planted_outbox, planted_problem
from edge_agent.config.models import AgentConfig
from edge_agent.ops.broker_check import check_brokers, check_commands
from edge_agent.ops.checks import Check, resolve_path, with_timeout
from edge_agent.ops.logging_setup import redact
from edge_agent.ops.sandbox import check_sandbox, unit_for
from edge_agent.timesync import KernelSyncProbe

Runner = Callable[..., subprocess.CompletedProcess]


@dataclass(frozen=True)
class Probe:
    row: Check
    frame: np.ndarray | None = None  # turned and scaled as the agent's bays see it; None when they cannot
    scale: float = 1.0  # the camera's pixels per bay-drawing pixel (under 1: a smaller stream, scaled up)


def check_camera(cfg: AgentConfig) -> Check:
    return probe_camera(cfg).row


def probe_camera(cfg: AgentConfig) -> Probe:
    """The camera row, with the frame as the agent's bays see it."""
    from edge_agent.camera.frame_size import same_shape
    from edge_agent.camera.orient import Orientation
    from edge_agent.camera.source import default_opener, describe_source
    from edge_agent.camera.unopened import why_unopened
    from edge_agent.config.camera import is_pipeline

    source = cfg.camera.source
    kind = describe_source(source)
    shown = redact(source)  # rtsp://user:pass@… must not reach the terminal or a ticket
    # a GStreamer pipeline (``v4l2src … ! appsink``; ``filesrc …`` is a "file" to describe_source) is opened as run does
    if kind in ("folder", "file") and not is_pipeline(source) and not Path(source).exists():
        return Probe(Check("camera", "fail", f"camera.source {shown}: no such file or folder"))
    seen: list[tuple[np.ndarray, float]] = []

    def probe() -> Check:
        cap = default_opener(source, False, read_timeout_s=cfg.camera.lost_after_s,  # the agent's own limits
                             open_timeout_s=cfg.camera.open_timeout_s)()
        try:
            if not cap.isOpened():
                why = why_unopened(source, kind)
                return Check("camera", "fail", f"camera.source: {kind} {shown}: cannot open" + (f": {why}" if why else ""))
            ok, img = cap.read()
            if not ok or img is None:
                return Check("camera", "fail", f"camera.source: {kind} {shown}: opened but no frame could be decoded")
            h, w = img.shape[:2]
            view = Orientation.of(cfg.camera)  # camera.width/height and the bays are the turned view's
            upright = view.upright_size((w, h))
            turned = "" if view.identity else " ({}x{} after {})".format(*upright, view.describe())
            said = f"{kind} {shown}: one frame read, {w}x{h}{turned}"
            want = (cfg.camera.width, cfg.camera.height)
            if want[0] is None or want[1] is None or upright == want:
                seen.append((view.apply(img), 1.0))
                return Check("camera", "pass", said)
            if same_shape(upright, (want[0], want[1])):
                seen.append((cv2.resize(view.apply(img), (want[0], want[1]), interpolation=cv2.INTER_AREA),
                             min(1.0, upright[0] / want[0])))  # a bigger stream is read at the bays' size
                return Check("camera", "pass", f"{said}, scaled to the bays' {want[0]}x{want[1]} (camera.width/height)")
            return Check("camera", "fail", f"{said}, but the bays are drawn on {want[0]}x{want[1]} (camera.width/"
                         "height), another aspect ratio: they would stay blind. Set the camera's stream to that "
                         "shape, or redraw the bays and change camera.width/height")
        finally:
            cap.release()

    row = with_timeout(probe, cfg.ops.doctor.camera_timeout_s, "camera", f"{kind} {shown}")
    return Probe(row, *seen[0]) if seen and row.status == "pass" else Probe(row)


def check_bay_view(cfg: AgentConfig, probe: Probe) -> Check:
    """Does the probe frame show something of every bay? A bay the camera sees as a uniform or burnt-out
    patch (a leaf or smudge on the lens, sun or a lamp in the lens, an unlit corner), or under a block the
    camera paints (its privacy mask, an on-screen text box: one exact grey level), is unseen by the
    running agent: its verdict holds and its lock never rises (``bays.blank``). A bay a few of the
    camera's pixels across (drawn far away, or a sub-stream scaled up) is guessed, not seen, and its lock
    never rises either. Say so at install time."""
    from edge_agent.bays.blank import MIN_BAY_PX, judge, measure, pixels_across
    from edge_agent.bays.crop import bay_crop

    if not cfg.bays:
        return Check("bay view", "skip", "no bays configured")
    if probe.frame is None:
        return Check("bay view", "skip", "no frame that fits the bays (see the camera row)")
    small: list[str] = []
    blank: list[str] = []
    for bay in cfg.bays:
        across = pixels_across(bay.polygon, probe.scale)
        if not across >= MIN_BAY_PX:  # before the crop: a blank crop of a tiny bay is the size's doing
            small.append(f"{bay.id} {across:.1f} px")
            continue
        crop = bay_crop(probe.frame, bay.polygon)
        spread, clipped, painted = measure(crop)
        why = judge(spread, clipped, painted)
        if why == "bay_flat":  # the mean tells a covered or unlit lens (black) from glare (white)
            blank.append(f"{bay.id} uniform (grey spread {spread:.1f}, mean {np.mean(crop):.0f})")
        elif why == "bay_clipped":
            blank.append(f"{bay.id} {clipped:.0%} burnt out or black")
        elif why == "bay_overlay":
            blank.append(f"{bay.id} {painted:.0%} one exact grey level (a privacy mask or text box the camera paints)")
    if small or blank:
        found, advice = [], []
        if blank:
            found.append(f"blank: {', '.join(blank)}")
            advice.append("a blank bay stays unjudged with its lock down: clean the lens, keep sun and lamps out "
                          "of it, light the bays, move the camera's privacy masks and on-screen text off the bays")
        if small:
            found.append(f"under {MIN_BAY_PX:g} of the camera's pixels across: {', '.join(small)}")
            advice.append("a bay that small is guessed and its lock stays down: use the camera's main stream, or "
                          "a camera nearer the bays")
        said = "; ".join(advice)
        return Check("bay view", "fail", f"{len(small) + len(blank)} of {len(cfg.bays)} bays cannot be seen — "
                     f"{'; '.join(found)}. {said[0].upper()}{said[1:]}")
    return Check("bay view", "pass", f"all {len(cfg.bays)} bays show texture in the frame read")


def check_masks(cfg: AgentConfig) -> Check:
    """Which bays the installer's masks (``camera.masks``) cover, and how much of each. One more than
    ``masks.MASK_SHARE`` under them vouches for no empty bay (``bay_overlay``): its lock never rises on the camera's
    word, as a blank bay's (the "bay view" row). Said from the config alone: the masks and bays are both drawn there."""
    from edge_agent.camera.masks import MASK_SHARE, covered_shares

    masks = cfg.camera.masks
    if not masks:
        return Check("masks", "skip", "no camera.masks")
    bays = {b.id: b.polygon for b in cfg.bays}
    shares = covered_shares(bays, masks)
    by = {b: [f"masks[{i}]" for i, m in enumerate(masks) if covered_shares({b: bays[b]}, [m])] for b in shares}
    said = {b: f"{b} {s:.0%} ({', '.join(by[b])})" for b, s in shares.items()}
    blind = [said[b] for b, s in shares.items() if s > MASK_SHARE]
    n = f"{len(masks)} mask{'s' if len(masks) != 1 else ''}"
    if blind:
        return Check("masks", "fail", f"{n} cover {len(blind)} of {len(cfg.bays)} bays by more than "
                     f"{MASK_SHARE:.0%}: {', '.join(blind)} — such a bay vouches for no empty bay (bay_overlay) and "
                     "its lock never rises on the camera's word: move the camera's text off the bays in its "
                     "settings, and draw each mask round its text alone")
    if said:
        return Check("masks", "pass", f"{n}; no bay more than {MASK_SHARE:.0%} under them (touched: "
                     f"{', '.join(said.values())})")
    return Check("masks", "pass", f"{n}; over no bay")


def check_calibration_view(cfg: AgentConfig, probe: Probe) -> Check:
    """Does the frame read show the view the site calibration was labelled on? ``run`` uses the calibration only
    once a frame does (``SiteCalibration.view_of``): one copied from another camera, or kept over a camera turned
    since, is set aside at run time after 10 frames, and the models row, which reads files alone, passed it."""
    from edge_agent.bays.calibration import VIEW_LIKENESS, CalibrationError, SiteCalibration

    cal = Path(cfg.data_dir) / str(cfg.occupancy.calibration)
    try:
        made = SiteCalibration.load(cal, None, None)
    except CalibrationError as exc:
        return Check("calibration view", "skip", f"{exc} (see the models row)")
    if probe.frame is None:
        return Check("calibration view", "skip", "no frame that fits the bays (see the camera row): the site "
                     "calibration's pictures were not compared")
    like = made.view_of(probe.frame)
    if like is None:
        return Check("calibration view", "skip", f"{cal} keeps no pictures of its view (made before they were kept): `run` "
                     "trusts it unbound; calibrate again to bind it to this camera")
    if like >= VIEW_LIKENESS:
        return Check("calibration view", "pass", f"the frame read shows the view {cal} was labelled on (likeness "
                     f"{like:.2f}, {VIEW_LIKENESS} or more)")
    return Check("calibration view", "warn", f"the frame read is not the view {cal} was labelled on (likeness "
                 f"{like:.2f}, under {VIEW_LIKENESS}): `run` reads the bays as an uncalibrated site until a frame is "
                 "(made on another camera, or this one turned since; a frame of deep night or thick fog can read low "
                 "too): label pictures of this view and calibrate again")


def camera_rows(cfg: AgentConfig) -> list[Check]:
    probe = probe_camera(cfg)
    rows = [probe.row, check_bay_view(cfg, probe)]
    # (only with a site calibration: the row compares the frame read with its pictures)
    return rows + [check_calibration_view(cfg, probe)] if cfg.occupancy.calibration else rows


def check_models(cfg: AgentConfig) -> Check:
    from edge_agent.bays.calibration import classifier_files, moved_outlines, not_fitted_on
    from edge_agent.perception.fetch import MANIFEST, verify
    from edge_agent.perception.locate import resolve_models_dir

    models = resolve_models_dir(cfg.perception.models_dir, cfg.data_dir, cfg.source_path)
    if not (models / MANIFEST).is_file():
        # not `models fetch --dir`: it reads the list of files from that very manifest, and refuses a folder without
        return Check("models", "fail", f"{models}: no {MANIFEST}: not a models folder (perception.models_dir names "
                     "the wrong folder, or deploy/install.sh did not run: it copies the manifest and fetches the "
                     "files)")
    groups = {"default"} | ({"paddle"} if cfg.perception.recognizer == "paddleocr" else set())
    bad = verify(models, groups)
    extra = [cfg.perception.detector_model] if cfg.perception.detector_model else []
    missing_extra = [m for m in extra if not resolve_path(cfg, m).is_file()]
    # The occupancy model is not fetched but ships in the source tree's models/: `run` stops without it.
    occupancy, cal = classifier_files(cfg.occupancy, cfg.data_dir, models)
    # named by its key and whole path: `occupancy.model` may name a file outside the models folder
    shipped = [] if occupancy.is_file() else [f"occupancy.model: {occupancy} (missing: the shipped models are in the "
                                              "source tree's models/, deploy/install.sh copies them)"]
    loaded, aside = None, None
    if not shipped:  # loaded as `run` loads it: a site calibration made for the model an upgrade replaced stops it
        from edge_agent.bays.calibration import CalibrationError, CalibrationSetAside, another_view
        from edge_agent.bays.classifier import BayClassifier

        try:
            loaded = BayClassifier.load(occupancy, threads=1, calibration=cal)
            other = another_view(loaded.calibration, {b.id: list(b.polygon) for b in cfg.bays}) \
                if loaded.calibration else None
            if other is not None:
                aside = f"{cal}: {other}; label pictures of this view and calibrate again"
        except CalibrationSetAside as exc:
            aside = str(exc)
        except CalibrationError as exc:
            shipped.append(f"occupancy.calibration: {exc}")
        except ValueError as exc:
            shipped.append(f"occupancy.model: {exc}")
    if loaded is not None and loaded.calibration is not None and aside is None:
        shipped += _baseline_problems(models, occupancy)
    if bad or missing_extra or shipped:
        items = [f"{f.dest} ({why})" for f, why in bad] + [f"{m} (missing)" for m in missing_extra]
        fix = " — run `edge-agent models fetch`" if items else ""
        return Check("models", "fail", f"{models}: " + ", ".join(items + shipped) + fix)
    # which classifier the bays run, as `run` loads it: after "teach this camera" (or `occupancy calibrate`) the row
    # is where an installer checks that the site calibration is the one in use (it said only "all files present")
    running = f"{occupancy.name} with the site calibration {cal}" if cal else f"{occupancy.name}, no site calibration"
    said = f"{models}: all files present, sha256 verified; occupancy: {running}"
    if cfg.occupancy.steady_light:  # the installer's word, checked by nothing: shown where the calibration is
        said += ("; occupancy.steady_light: true (declared: the bays see one light at every hour, so the page asks "
                 "no span of hours of the labelled pictures)")
    if aside is not None:  # `run` starts on the shipped head without it (runtime.models.default_classifier)
        return Check("models", "warn", f"{models}: all files present, sha256 verified; occupancy: the site "
                     f"calibration is set aside, `run` uses {cfg.occupancy.model} without it: {aside}")
    # a bay added (or renamed) after the calibration runs on a head that never saw its looks
    # and one redrawn elsewhere since (``moved_outlines``: most of them moved is another view, set aside above)
    unseen = not_fitted_on(loaded.calibration, [b.id for b in cfg.bays]) + moved_outlines(
        loaded.calibration, {b.id: list(b.polygon) for b in cfg.bays}) if loaded and loaded.calibration else []
    if unseen:
        return Check("models", "warn", f"{said}; the site calibration was not fitted on bay {', '.join(unseen)} "
                     "(added, renamed or redrawn since): `run` reads it with the shipped head (a head reads cars on bays it "
                     "never saw as empty more often: docs/occupancy.md); label pictures with every bay and calibrate "
                     "again")
    return Check("models", "pass", said)


def _baseline_problems(models: Path, occupancy: Path) -> list[str]:
    """(``check_models``.) A calibrated site's raise also needs the model an uncalibrated site runs, and `run`
    refuses to start without it (``runtime.models.default_classifier``): the row passed a folder that lacked it
    (it is not in the fetched manifest), or held a file that cannot be loaded."""
    from edge_agent.bays.classifier import BayClassifier
    from edge_agent.bays.model_files import baseline_model

    base = baseline_model(models)
    if base.resolve() == occupancy.resolve():  # calibrated on it: its own shipped head is the baseline
        return []
    if not base.is_file():
        return [f"occupancy.calibration: {base} (missing: a calibrated site's raise also needs the model an "
                "uncalibrated site runs; the shipped models are in the source tree's models/, deploy/install.sh "
                "copies them)"]
    try:
        BayClassifier.load(base, threads=1)
    except ValueError as exc:
        return [f"occupancy.calibration: {exc} (a calibrated site's raise also needs it)"]
    return []


def check_providers(cfg: AgentConfig) -> Check:
    import onnxruntime as ort

    have = ort.get_available_providers()
    wanted = cfg.perception.providers
    missing = [p for p in wanted if p not in have]
    if missing:
        return Check("onnx providers", "fail",
                     f"perception.providers: not in this onnxruntime build: {', '.join(missing)} (would fall back to "
                     f"CPU; have {', '.join(have)}): install the build that has it (onnxruntime-gpu on a Jetson: "
                     "deploy/jetson/README.md) or take it out of perception.providers")
    return Check("onnx providers", "pass", ", ".join(wanted))


def check_gpio(cfg: AgentConfig, env: dict[str, str] | None = None, chips: list[str] | None = None) -> Check:
    env = dict(os.environ) if env is None else env
    drivers = sorted({lock.driver for lock in cfg.locks})
    real = [d for d in drivers if d != "simulator"]
    if not real:
        return Check("gpio", "skip", "no GPIO locks configured" + (" (simulator)" if drivers else ""))
    chips = sorted(glob.glob("/dev/gpiochip*")) if chips is None else chips
    mock = env.get("GPIOZERO_PIN_FACTORY") == "mock"
    if not chips and not mock:
        # the key and the way on, not only the symptom: an installer trying a config on a laptop read it as a fault
        ids = ", ".join(lock.id for lock in cfg.locks if lock.driver != "simulator")
        return Check("gpio", "fail", f"no /dev/gpiochip* on this machine: locks {ids} (driver {', '.join(real)}) need "
                     "the device's GPIO; run the doctor on the Pi or Jetson, or set their driver: simulator to try "
                     "the agent without lock hardware")
    denied = [c for c in chips if not os.access(c, os.R_OK | os.W_OK)]
    if denied:
        return Check("gpio", "fail", f"no read/write access to {', '.join(denied)} (add the user to group gpio)")
    details = []
    for driver in real:
        with warnings.catch_warnings(record=True) as fallbacks:  # gpiozero warns per factory it cannot load
            warnings.simplefilter("always")
            try:
                if driver == "gpiozero":
                    from gpiozero import Device

                    from edge_agent.locks.lgpio_dir import lgpio_workdir

                    # lgpio's pipe in the data dir, as under the unit, wherever the doctor was started from
                    with lgpio_workdir(cfg.data_dir):
                        factory = Device.pin_factory or Device._default_pin_factory()  # opens the chip, as the agent will
                    details.append(f"gpiozero {type(factory).__name__}")
                elif driver == "jetson":
                    import Jetson.GPIO  # noqa: F401 - raises when no GPIO chip exists

                    details.append("Jetson.GPIO")
            except Exception as exc:
                tried = "; ".join(str(w.message) for w in fallbacks)
                return Check("gpio", "fail", f"{driver}: {type(exc).__name__}: {exc}" + (f" ({tried})" if tried else ""))
    return Check("gpio", "pass", "; ".join(details) + (f" ({', '.join(chips)})" if chips else ""))


def check_disk(cfg: AgentConfig) -> Check:
    data = Path(cfg.data_dir).resolve()  # the agent opens it as given (relative = working directory)
    where, yet = data, ""
    if not data.is_dir():
        # `run` makes a missing data_dir (parents too, config/datadir.py): a folder this user may make it in is
        # fine before the first start (it failed the row, exit 1, on every installation by hand)
        where = next(p for p in data.parents if p.exists())
        if data.exists() or not where.is_dir() or not os.access(where, os.W_OK | os.X_OK):
            return Check("disk", "fail", f"{data}: missing, and this user cannot make it in {where} "
                                         "(install.sh creates it)")
        yet = f" (not there yet: the first `run` makes it in {where})"
    elif not os.access(data, os.W_OK | os.X_OK):
        return Check("disk", "fail", f"{data}: not writable by this user")
    denied = not_writable(data) if not yet else []  # what `run` refuses to start with: files it cannot write
    if denied:
        more = f" (+{len(denied) - 3} more)" if len(denied) > 3 else ""
        return Check("disk", "fail", f"{data}: not writable by this user: {', '.join(denied[:3])}{more}")
    # what `run` and `review` refuse as well (a link, FIFO, device or folder at the agent's own files): their line says
    # "`edge-agent doctor` checks this", and this row passed while `run` exited 2
    planted = planted_problem(data) if not yet else None
    if planted is not None:
        return Check("disk", "fail", planted)
    box = cfg.mqtt.outbox.path if cfg.mqtt.enabled else None
    planted = planted_outbox(Path(box)) if box else None  # kept outside data_dir: not looked at above
    if planted is not None:
        return Check("disk", "fail", planted)
    usage = shutil.disk_usage(where)
    free_mb = usage.free / 2**20
    need = cfg.ops.doctor.min_free_mb
    detail = f"{data}: {free_mb / 1024:.1f} GiB free of {usage.total / 2**30:.1f} GiB{yet}"
    if free_mb < need:
        return Check("disk", "fail", f"{detail}; needs ≥ {need} MiB")
    return Check("disk", "pass", detail)


def check_web(cfg: AgentConfig) -> Check:
    """The review page's session key file as ``run`` will read it (``config.web.read_session_key``). Why: a key file
    written by hand that 0.4.0 read whole (a first line under 32 characters) is refused at the start since, and
    neither ``check-config`` (the file's business only) nor any row said so before the upgrade's restart."""
    if not cfg.web.enabled:
        return Check("web", "skip", "web.enabled is false")
    from edge_agent.config.mqtt import SecretError
    from edge_agent.config.web import read_session_key

    path = cfg.web.secret_file(cfg.source_path, cfg.data_dir)
    try:
        found = read_session_key(path)
    except SecretError as exc:
        return Check("web", "fail", str(exc))
    detail = f"session key {path}" + ("" if found else " (none yet: written at the first start)")
    users = cfg.web.file(cfg.web.users_file, cfg.source_path)
    if not _has_users(users):  # a first install: every login "wrong user name or password", nothing said why
        return Check("web", "warn", f"{detail}; no users in {users}: nobody can sign in: add one with `edge-agent "
                                    f"users add NAME --role admin --config {cfg.source_path or 'CONFIG'}`")
    return Check("web", "pass", detail)


def _has_users(path: Path) -> bool:
    """Whether the users file holds a ``name:hash`` line (``web.auth.UsersFile``'s format; ``web`` is no import of
    ``ops``). A file that cannot be read counts as holding some: the page's own login says what is wrong with it."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return False
    except (OSError, UnicodeDecodeError):
        return True
    return any(":" in line and not line.strip().startswith("#") for line in lines)


def check_web_certificate(cfg: AgentConfig, now: Callable[[], datetime] | None = None) -> Check:
    """The page's own HTTPS certificate (``web.tls``): OK with its end date, WARN under ``WARN_DAYS`` left, FAIL when
    expired or not valid yet. Why: an operator learned it had expired only when browsers refused the page. (A pair
    the page cannot use at all is refused by the config load, before any row.) ``now``: injected in tests."""
    if not cfg.web.enabled or cfg.web.tls is None:
        return Check("web certificate", "skip", "web.enabled is false" if not cfg.web.enabled
                     else "no web.tls: the page speaks plain HTTP (or behind a proxy, whose certificate is its own)")
    from edge_agent.cert_dates import expiry_problem, validity

    cert_file = str(cfg.web.tls.cert_file)
    try:
        not_before, not_after = validity(cert_file)
    except (OSError, ValueError) as exc:
        return Check("web certificate", "fail", f"web.tls.cert_file: {exc}")
    problem = expiry_problem(not_before, not_after, (now or (lambda: datetime.now(timezone.utc)))())
    if problem is not None:
        return Check("web certificate", problem[0], f"{cert_file}: {problem[1]}")
    return Check("web certificate", "pass", f"{cert_file}: valid until {not_after:%Y-%m-%d %H:%M} UTC")


def check_clock(runner: Runner = subprocess.run, kernel: Callable[[], bool | None] | None = None) -> Check:
    """``timedatectl``'s NTPSynchronized; where it cannot answer (no systemd: the Jetson container, a minimal
    image) the kernel's own flag, which the agent's heartbeat reads as ``clock_synced`` (``kernel``: injected in
    tests). Why: the row was skipped there while the running agent reported the same clock unsynchronised."""
    try:
        res = runner(["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
                     capture_output=True, text=True, timeout=5)
    except FileNotFoundError:
        return _kernel_clock("timedatectl not installed (no systemd)", kernel)
    except subprocess.TimeoutExpired:
        return _kernel_clock("timedatectl did not answer (no systemd-timedated)", kernel)
    if res.returncode != 0:
        why = (res.stderr or res.stdout).strip().splitlines()
        return _kernel_clock(f"timedatectl failed: {why[-1] if why else res.returncode} (not booted with systemd?)",
                             kernel)
    value = res.stdout.strip()
    if value == "yes":
        return Check("clock", "pass", "NTP synchronised")
    return Check("clock", "fail", f"NTPSynchronized={value or '?'}: event timestamps may be wrong (check systemd-timesyncd/chrony)")


def _kernel_clock(why: str, kernel: Callable[[], bool | None] | None) -> Check:
    synced = (kernel or KernelSyncProbe())()
    if synced is None:
        return Check("clock", "skip", f"{why}; the kernel's sync flag cannot be read here either")
    if synced:
        return Check("clock", "pass", f"synchronised (the kernel's flag; {why})")
    return Check("clock", "fail", f"not synchronised (the kernel's flag, the heartbeat's clock_synced; {why}): event "
                                  "timestamps may be wrong (check chrony / systemd-timesyncd / ntpd)")


CHECKS: dict[str, Callable[[AgentConfig, Runner], list[Check]]] = {
    "camera": lambda cfg, run: [*camera_rows(cfg), check_masks(cfg)],  # "bay view" from the same frame; "masks"
    "models": lambda cfg, run: [check_models(cfg)],
    "onnx providers": lambda cfg, run: [check_providers(cfg)],
    "broker": lambda cfg, run: [*check_brokers(cfg), *check_commands(cfg)],
    "web": lambda cfg, run: [check_web(cfg), check_web_certificate(cfg)],
    "gpio": lambda cfg, run: [check_gpio(cfg)],
    "disk": lambda cfg, run: [check_disk(cfg)],
    "service sandbox": lambda cfg, run: [check_sandbox(cfg, unit_for(cfg))],
    "clock": lambda cfg, run: [check_clock(run)],
}


def run_doctor(cfg: AgentConfig, runner: Runner = subprocess.run, skip: set[str] = frozenset()) -> list[Check]:
    """Every check in order; those named in ``skip`` (e.g. ``clock`` in a lab without NTP) are listed as skipped."""
    unknown = set(skip) - set(CHECKS)
    if unknown:
        raise ValueError(f"unknown check(s): {', '.join(sorted(unknown))} (known: {', '.join(CHECKS)})")
    checks: list[Check] = []
    for name, run in CHECKS.items():
        checks += [Check(name, "skip", "skipped on request (--skip)")] if name in skip else run(cfg, runner)
    return checks


def render_table(checks: list[Check]) -> str:
    w = max(len("CHECK"), *(len(c.name) for c in checks))
    lines = [f"{'CHECK':<{w}}  STATUS  DETAIL"]
    lines += [f"{c.name:<{w}}  {c.status.upper():<6}  {c.detail}" for c in checks]
    failed = [c.name for c in checks if c.status == "fail"]
    warned = [c.name for c in checks if c.status == "warn"]
    tail = f"; {len(warned)} warned: {', '.join(warned)}" if warned else ""
    lines.append(f"{len(failed)} failed: {', '.join(failed)}{tail}" if failed else
                 f"no check failed{tail}" if warned else "all checks passed or skipped")
    return "\n".join(lines)
