"""The ``locks`` config section: field practice limits and wiring mistakes → one line per problem."""

from __future__ import annotations

import pytest

from edge_agent.bays.feed import BayFeed
from edge_agent.clock import FakeClock
from edge_agent.config.load import ConfigError
from edge_agent.control import ControlError
from edge_agent.events.bus import EventBus
from edge_agent.locks import build_locks
from tests.locks.conftest import SW_DOWN, UP, agent_config, gpio_lock, sim_lock


def problems(lock: dict) -> list[str]:
    with pytest.raises(ConfigError) as err:
        agent_config(lock)
    return err.value.problems


def test_defaults_follow_field_practice():
    lk = agent_config(sim_lock()).locks[0]
    assert (lk.motor_timeout_s, lk.auto_raise_delay_s, lk.admit_window_s) == (5.0, 30.0, 120.0)


@pytest.mark.parametrize(
    ("lock", "expected"),
    [
        (sim_lock(auto_raise_delay_s=10), "locks[0].auto_raise_delay_s: Input should be greater than or equal to 20"),
        (sim_lock(auto_raise_delay_s=900), "locks[0].auto_raise_delay_s: Input should be less than or equal to 600"),
        (sim_lock(driver="relay"), "locks[0].driver: Input should be 'gpiozero', 'jetson' or 'simulator'"),
        (gpio_lock(motor=None), "locks[0]: driver gpiozero needs motor and switches pins"),
        (gpio_lock(switches={"down": {"pin": UP}, "up": {"pin": 6}}), "locks[0].switches.down.pin: GPIO17 (header pin 11) is already used by locks[0].motor.up.pin (one pin, one job)"),
        (gpio_lock(switches={"down": {"pin": SW_DOWN, "active_high": True}, "up": {"pin": 6}}),
         "locks[0].switches.down: active_high may only be set with pull_up: null"),
        (gpio_lock(switches={"down": {"pin": SW_DOWN, "pull_up": None}, "up": {"pin": 6}}),
         "locks[0].switches.down: active_high is required when pull_up is null"),
        (gpio_lock(driver="jetson", presence={"kind": "ultrasonic", "trigger": 23, "echo": 24}),
         "locks[0]: presence.kind ultrasonic is only supported by the gpiozero driver"),
        (gpio_lock(presence={"kind": "ultrasonic", "trigger": 23}),
         "locks[0].presence: an ultrasonic presence sensor needs trigger and echo"),
        (gpio_lock(presence={"kind": "ultrasonic", "trigger": 23, "echo": 24,
                             "health_pin": {"pin": 25, "pull_up": None, "active_high": True}}),
         "locks[0].presence: health_pin is not read by an ultrasonic presence sensor"),
        (gpio_lock(presence={"kind": "ultrasonic", "trigger": 23, "echo": 24, "pin": {"pin": 25}}),
         "locks[0].presence: pin is not read by an ultrasonic presence sensor"),
        (gpio_lock(presence={"kind": "digital", "pin": {"pin": 25}, "trigger": 23, "echo": 24}),
         "locks[0].presence: trigger is not read by a digital presence sensor"),
        (sim_lock(simulator={"travel_time_s": 6}), "locks[0]: simulator.travel_time_s must be below motor_timeout_s"),
        (sim_lock(colour="red"), "locks[0].colour: unknown key (not a setting of this section; check the spelling)"),
    ],
)
def test_bad_lock_config_names_the_key(lock, expected):
    found = problems(lock)
    assert any(p.startswith(expected) for p in found), found


def test_lock_must_sit_on_a_known_bay():
    assert problems(sim_lock(bay="B9")) == ["locks[0].bay: unknown bay 'B9' (bays: B1)"]
    assert problems(sim_lock(bay=None)) == [
        "locks[0].bay: lock 'L1' is not assigned to a bay (set locks[].bay or the bay's lock_id)"]


def test_unknown_bay_command_is_a_control_error():
    mgr = build_locks(agent_config(sim_lock()), EventBus(), FakeClock(), vision=BayFeed())
    mgr.start()
    with pytest.raises(ControlError) as err:
        mgr.lock("B7", reason="x", operator="y")
    assert err.value.code == "no_lock"
    mgr.stop()


def test_example_pi_config_builds_on_mock_pins(repo):
    from gpiozero.pins.mock import MockFactory

    from edge_agent.config.load import load_config

    cfg = load_config(repo / "config" / "rpi5-two-bays.yaml")
    factory = MockFactory()
    try:
        mgr = build_locks(cfg, EventBus(), FakeClock(), pin_factory=factory, vision=BayFeed())
        mgr.start()
        # nothing wired to the switch inputs: pull-ups read "neither" → fault, lower, never raise
        assert set(mgr.bay_ids()) == {b.id for b in cfg.bays if b.lock_id}
        assert all(s["state"] == "fault" for s in mgr.status().values())
        mgr.stop()
    finally:
        factory.reset()


def test_a_bay_can_name_its_lock_and_the_manager_takes_the_pairing_from_the_config():
    """The lock↔bay rules live in the config check only; the manager reads the validated pairing."""
    from edge_agent.config.load import parse_config

    cfg = parse_config({
        "site": {"site_id": "s1", "device_id": "d1"}, "camera": {"source": "0"},
        "bays": [{"id": "B1", "polygon": [[0, 0], [100, 0], [100, 100]], "lock_id": "L1"},
                 {"id": "B2", "polygon": [[200, 0], [300, 0], [300, 100]]}],
        "locks": [sim_lock(bay=None), sim_lock(id="L2", bay="B2")],
    })
    assert cfg.lock_bays() == {"L1": "B1", "L2": "B2"}
    mgr = build_locks(cfg, EventBus(), FakeClock(), vision=BayFeed())
    assert mgr.bay_ids() == ["B1", "B2"] and mgr.state("B1") is not None and mgr.state("B2") is not None


def two_locks(second: dict) -> list[str]:
    """Problems of a config with the rig's gpio lock on B1 and ``second`` on B2."""
    from edge_agent.config.load import parse_config

    with pytest.raises(ConfigError) as err:
        parse_config({
            "site": {"site_id": "s1", "device_id": "d1"}, "camera": {"source": "0"},
            "bays": [{"id": "B1", "polygon": [[0, 0], [100, 0], [100, 100]]},
                     {"id": "B2", "polygon": [[200, 0], [300, 0], [300, 100]]}],
            "locks": [gpio_lock(), second],
        })
    return err.value.problems


def other_pins(**over: object) -> dict:
    pins = {"motor": {"up": {"pin": 20}, "down": {"pin": 21}}, "switches": {"down": {"pin": 22}, "up": {"pin": 23}},
            "presence": {"kind": "digital", "pin": {"pin": 24}}, "warning": {"pin": 25}}
    return gpio_lock(id="L2", bay="B2", **{**pins, **over})


def test_a_second_lock_with_the_same_id_is_refused():
    """Else ``lock_bays`` kept one of them and a bay silently had no lock."""
    assert two_locks(sim_lock(bay="B2")) == ["locks[1].id: duplicate lock id 'L1' (also locks[0])"]


@pytest.mark.parametrize("spelling", [UP, str(UP), f"GPIO{UP}", f"BCM{UP}", "BOARD11", "J8:11", "WPI0"])
def test_a_pin_is_one_pin_whatever_its_spelling_within_a_lock_and_across_locks(spelling):
    """GPIO17 is header pin 11 in every spelling gpiozero accepts; across locks it was GPIOPinInUse at start."""
    found = problems(gpio_lock(warning={"pin": spelling}))
    assert found == ["locks[0].warning.pin: GPIO17 (header pin 11) is already used by locks[0].motor.up.pin "
                     "(one pin, one job)"]
    assert two_locks(other_pins(motor={"up": {"pin": spelling}, "down": {"pin": 21}})) == [
        "locks[1].motor.up.pin: GPIO17 (header pin 11) is already used by locks[0].motor.up.pin (one pin, one job)"]


def test_locks_on_separate_pins_pass_and_build_on_mock_pins():
    from gpiozero.pins.mock import MockFactory

    from edge_agent.config.load import parse_config

    cfg = parse_config({
        "site": {"site_id": "s1", "device_id": "d1"}, "camera": {"source": "0"},
        "bays": [{"id": "B1", "polygon": [[0, 0], [100, 0], [100, 100]]},
                 {"id": "B2", "polygon": [[200, 0], [300, 0], [300, 100]]}],
        "locks": [gpio_lock(), other_pins(warning={"pin": "BOARD22"})],
    })
    factory = MockFactory()
    try:
        mgr = build_locks(cfg, EventBus(), FakeClock(), pin_factory=factory, vision=BayFeed())
        mgr.stop()
    finally:
        factory.reset()


@pytest.mark.parametrize(("pin", "expected"), [
    (-1, "-1 is not a GPIO pin of the Raspberry Pi header"),
    (99, "99 is not a GPIO pin of the Raspberry Pi header"),
    ("", "'' is not a GPIO pin of the Raspberry Pi header"),
    ("BOARD1", "'BOARD1' is not a GPIO pin"),  # 3V3
    ("GPIO17x", "'GPIO17x' is not a GPIO pin"),
])
def test_a_pin_gpiozero_would_refuse_at_start_is_refused_by_the_config(pin, expected):
    assert any(p.startswith(f"locks[0].warning.pin: {expected}") for p in problems(gpio_lock(warning={"pin": pin})))


def test_jetson_pins_are_board_numbers_of_gpio_capable_header_pins():
    jetson = {"driver": "jetson", "presence": None,
              "motor": {"up": {"pin": 29}, "down": {"pin": 31}},
              "switches": {"down": {"pin": 33, "pull_up": None, "active_high": False},
                           "up": {"pin": 35, "pull_up": None, "active_high": False}}}
    agent_config(gpio_lock(**jetson, warning={"pin": 37}))
    assert problems(gpio_lock(**jetson, warning={"pin": 6})) == [
        "locks[0].warning.pin: 6 is not a GPIO pin of the Jetson 40-pin header (BOARD numbers: 7, 11, 12, 13, 15, "
        "16, 18, 19, 21, 22, 23, 24, 26, 29, 31, 32, 33, 35, 36, 37, 38, 40)"]
    assert problems(gpio_lock(**jetson, warning={"pin": "29"})) == [
        "locks[0].warning.pin: header pin 29 is already used by locks[0].motor.up.pin (one pin, one job)"]


@pytest.mark.parametrize(("source", "lock", "refused"), [
    ("frames", gpio_lock(), True),  # a folder of images
    ("clip.mp4", gpio_lock(driver="jetson", presence=None, warning={"pin": 22},
                           motor={"kind": "relays", "up": {"pin": 29}, "down": {"pin": 31}},
                           switches={"down": {"pin": 33}, "up": {"pin": 35}}), True),  # a video file
    ("frames", sim_lock(), False),  # the demo's arm: nothing moves
    ("0", gpio_lock(), False),  # a camera
    ("rtsp://192.168.1.64:554/Streaming/Channels/102", gpio_lock(), False),
    # a path with nothing there (yet) is refused too, with its own words: tests/locks/test_live_camera.py
    # a GStreamer pipeline that reads a file is that file (was taken for a camera: every pipeline was)
    ("filesrc location=clip.mp4 ! decodebin ! videoconvert ! appsink", gpio_lock(), True),
    ("multifilesrc location=frames/%03d.jpg ! jpegdec ! videoconvert ! appsink", gpio_lock(), True),
    ("uridecodebin uri=file:///srv/clip.mp4 ! videoconvert ! appsink", gpio_lock(), True),
    ("rtspsrc location=rtsp://192.168.1.64:554/1 latency=0 ! decodebin ! videoconvert ! appsink", gpio_lock(), False),
    ("v4l2src device=/dev/video0 ! videoconvert ! appsink", gpio_lock(), False),
])
def test_a_real_arm_is_never_driven_by_a_recording(tmp_path, monkeypatch, source, lock, refused):
    """``replay`` leaves the locks out of a recording, so that no motor acts on one; ``run`` did not: with
    ``camera.source`` a clip or a folder of pictures (one left from the bench test, or ``loop: true`` for a demo) and
    a real lock, the recording's empty bay was fresh, confident evidence at every check: a looping folder of 40
    pictures of the empty bay raised a gpiozero arm within 35 s of the start (``auto_raise_delay_s``), over whatever
    car stood in the real bay. Refused at load (check-config, run, reload)."""
    from edge_agent.config.load import parse_config

    monkeypatch.chdir(tmp_path)
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "000.jpg").write_bytes(b"\xff\xd8")
    (tmp_path / "clip.mp4").write_bytes(b"\x00")
    data = {"site": {"site_id": "s1", "device_id": "d1"}, "camera": {"source": source},
            "bays": [{"id": "B1", "polygon": [[0, 0], [100, 0], [100, 100]]}], "locks": [lock]}
    if not refused:
        assert parse_config(data).camera.source == source
        return
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    assert err.value.problems == [
        f"camera.source: a recording (a file or folder on disk), and locks[0] (L1) drives a real arm "
        f"({lock['driver']}): it would rise on the recording's picture of the bay, not on the bay as it is now; use "
        "the camera, or driver: simulator (`replay` plays a recording without locks)"]


def test_a_recording_under_dev_is_a_recording_to_the_lock_rule_as_to_run():
    """``run`` plays a folder or a file as a recording wherever it is (``camera.source.recording``); the load's rule
    took every path under ``/dev`` for a camera: ``/dev/shm/frames`` (pictures a bench tool left on the RAM disk)
    with a gpio lock loaded, and the arm would rise on the recording. Only a device node (or an absent
    ``/dev/video*``, a camera unplugged) is a camera."""
    import tempfile
    from pathlib import Path

    from edge_agent.camera.source import recording
    from edge_agent.config.camera import is_recording
    from edge_agent.config.load import parse_config

    if not Path("/dev/shm").is_dir():
        pytest.skip("no /dev/shm on this host")
    with tempfile.TemporaryDirectory(dir="/dev/shm") as d:
        (Path(d) / "000.jpg").write_bytes(b"\xff\xd8")
        (Path(d) / "clip.mp4").write_bytes(b"\x00")
        for source in (d, f"{d}/clip.mp4"):
            assert recording(source) and is_recording(source), source
            data = {"site": {"site_id": "s1", "device_id": "d1"}, "camera": {"source": source},
                    "bays": [{"id": "B1", "polygon": [[0, 0], [100, 0], [100, 100]]}], "locks": [gpio_lock()]}
            with pytest.raises(ConfigError) as err:
                parse_config(data)
            assert err.value.problems[0].startswith("camera.source: a recording (a file or folder on disk)")
    for camera in ("/dev/video0", "/dev/v4l/by-id/usb-cam-video-index0", "/dev/null"):
        assert not is_recording(camera) and not recording(camera), camera


def test_a_slow_camera_refused_for_its_max_age_is_told_the_one_way_out():
    """At camera.fps 0.2 a lock's occupancy_max_age_s needs ≥ 10 s (two frame periods), and since locksafety16 it
    may not pass camera.lost_after_s (5 s by default): a site that ran with 10 s was refused with "set it ≤
    camera.lost_after_s, or raise that", and set to 5 s it was told "needs ≥ 10s" — each line sent the operator to
    the other. Both now name the one way out: camera.lost_after_s raised with it."""
    from edge_agent.config.load import parse_config

    def config(**lock: object) -> dict:
        return {"site": {"site_id": "s1", "device_id": "d1"}, "camera": {"source": "0", "fps": 0.2},
                "bays": [{"id": "B1", "polygon": [[0, 0], [100, 0], [100, 100]]}], "locks": [gpio_lock(**lock)]}

    with pytest.raises(ConfigError) as err:
        parse_config(config(occupancy_max_age_s=10))
    assert err.value.problems == [
        "locks[0].occupancy_max_age_s: 10s is over camera.lost_after_s 5s: a picture that stops changing (a hung "
        "sensor, its on-screen clock ticking on) would be trusted longer than a camera that sends no frame at all "
        "(camera.fps 0.2 needs ≥ 10s here: raise camera.lost_after_s to ≥ 10s)"]
    with pytest.raises(ConfigError) as err:
        parse_config(config(occupancy_max_age_s=5))
    assert err.value.problems == ["locks[0].occupancy_max_age_s: 5s is under two frame periods at camera.fps 0.2 "
                                  "(needs ≥ 10s, and camera.lost_after_s 5s raised to ≥ 10s with it)"]
    fixed = config(occupancy_max_age_s=10)
    fixed["camera"]["lost_after_s"] = 10
    assert parse_config(fixed).locks[0].occupancy_max_age_s == 10


def test_a_presence_sensors_identity_is_its_wiring_as_written_in_outlines_json():
    """``outlines.json`` ``sensors`` keeps this string: a record of a car counts at the next start only where it is
    the same. So it names each setting itself, each line by its header pin, and a change to it — a setting a later
    version adds, dumped with its default, or a pin spelt another way (probe review103) — makes every bay left a car
    by the last run pay the strict wait, its arm down until the next car has come and gone."""
    ultrasonic = {"kind": "ultrasonic", "trigger": "GPIO20", "echo": 21, "threshold_m": 1}
    digital = {"kind": "digital", "pin": {"pin": "BOARD18", "pull_up": None, "active_high": True},
               "health_pin": {"pin": 4, "pull_up": False}}
    assert agent_config(gpio_lock(presence=ultrasonic)).locks[0].presence_identity() == (
        '{"driver":"gpiozero","echo":40,"health_pin":null,"kind":"ultrasonic","max_distance_m":2.0,"pin":null,'
        '"pin_active":"vehicle","threshold_m":1.0,"trigger":38}')
    assert agent_config(gpio_lock(presence=digital)).locks[0].presence_identity() == (
        '{"driver":"gpiozero","echo":null,"health_pin":{"active_high":null,"pin":7,"pull_up":false},"kind":"digital",'
        '"pin":{"active_high":true,"pin":18,"pull_up":null},"pin_active":"vehicle","trigger":null}')
