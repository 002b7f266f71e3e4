"""Run-time edits go to ``<data_dir>/overrides.yaml``: merged over the config, validated the same
way, backed up under unique names with the first one kept, shown by check-config."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from edge_agent.clock import FakeClock
from edge_agent.config import ConfigError, load_config
from edge_agent.config.configfile import ConfigFile
from edge_agent.config.overrides import BACKUPS_DIR, KEEP_BACKUPS, OverridesTooLarge, backups
from tests.tmpfs import tiny_disk  # noqa: F401  (fixture)

SQUARE = [[0, 0], [100, 0], [100, 100], [0, 100]]


def square(x: int) -> list[list[int]]:
    """SQUARE moved right: a bay with a lock may not share its outline with another bay."""
    return [[px + x, py] for px, py in SQUARE]


def check_config(config: Path, capsys: pytest.CaptureFixture[str]) -> subprocess.CompletedProcess[str]:
    """``edge-agent check-config`` in this process (``cli.main``): a subprocess costs about a second of imports
    each; test_check_config_says_that_overrides_apply runs the real command end to end."""
    from edge_agent.cli import main

    capsys.readouterr()
    code = main(["check-config", str(config)])
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["edge-agent", "check-config", str(config)], code, out, err)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    cfg = {
        "site": {"site_id": "s1", "device_id": "d1"},
        "camera": {"source": "none", "width": 960, "height": 540},
        "bays": [{"id": "A", "polygon": SQUARE, "lock_id": "L1", "charger_id": "C1"},
                 {"id": "B", "polygon": square(200)}],
        "locks": [{"id": "L1"}],
        "lists": {"allow": ["粤BD00001"], "deny": []},
        "data_dir": str(tmp_path / "data"),
    }
    path = tmp_path / "etc" / "config.yaml"
    path.parent.mkdir()
    path.write_text("# the operator's comment stays\n" + yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def test_bays_and_lists_saved_at_run_time_are_merged_over_the_config_which_is_never_written(config):
    before = config.read_bytes()
    f = ConfigFile(config, FakeClock())
    cfg, backup = f.set_bays([{"id": "A", "polygon": [[10, 10], [200, 10], [200, 200]]},
                              {"id": "C", "polygon": square(400)}])
    assert backup is None  # the first save: the config file itself is the original
    f.set_lists(["粤B12345"], ["京A12345"])
    assert config.read_bytes() == before
    loaded = load_config(config)
    assert loaded.overrides_path == config.parent.parent / "data" / "overrides.yaml"
    assert [(b.id, b.lock_id, b.charger_id) for b in loaded.bays] == [("A", "L1", "C1"), ("C", None, None)]
    assert [list(p) for p in loaded.bays[0].polygon] == [[10, 10], [200, 10], [200, 200]]
    assert (loaded.lists.allow, loaded.lists.deny) == (["粤B12345"], ["京A12345"])
    assert loaded.config_hash != load_config_without_overrides(config).config_hash
    assert f.lists() == (["粤B12345"], ["京A12345"])


def load_config_without_overrides(config: Path):
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    moved = Path(data["data_dir"]) / "overrides.yaml"
    aside = moved.with_name("aside.yaml")
    moved.rename(aside)
    try:
        return load_config(config)
    finally:
        aside.rename(moved)


def test_an_edit_that_would_not_pass_check_config_writes_nothing(config):
    f = ConfigFile(config, FakeClock())
    with pytest.raises(ConfigError) as err:
        f.set_bays([{"id": "A", "polygon": [[0, 0], [10, 10]]}])
    assert "bays[0].polygon" in err.value.report()
    assert not f.overrides.exists()


def test_three_saves_in_one_second_leave_distinct_backups_and_the_first_is_always_kept(config):
    clock = FakeClock()  # never moves: every save in the same second
    f = ConfigFile(config, clock)
    for n in range(3):
        f.set_lists([f"粤B1234{n}"], [])
    kept = backups(f.overrides)
    assert len(kept) == 2 and len({p.name for p in kept}) == 2
    assert [yaml.safe_load(p.read_text(encoding="utf-8"))["lists"]["allow"] for p in kept] == [["粤B12340"],
                                                                                                 ["粤B12341"]]
    first = kept[0]
    for n in range(KEEP_BACKUPS + 10):
        f.set_lists([f"粤B{n:05d}"], [])
    kept = backups(f.overrides)
    assert len(kept) == KEEP_BACKUPS + 1 and kept[0] == first and first.exists()
    assert kept[0].parent.name == BACKUPS_DIR and kept[0].parent.parent == f.overrides.parent


def test_backups_over_a_dst_fall_back_are_named_in_utc_and_older_local_names_are_still_ordered_and_pruned(config):
    """Backups were named by the site's local time without an offset: the hour a fall-back repeats named two saves
    an hour apart alike (``…T013000``), told apart only by their sequence number. New names are UTC with a ``Z``;
    names written before (local, no ``Z``) are still listed, ordered and pruned with them, by sequence number."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    first_0130 = datetime(2026, 11, 1, 1, 30, tzinfo=ZoneInfo("America/New_York"))  # EDT; an hour on: 01:30 EST
    clock = FakeClock(first_0130)
    f = ConfigFile(config, clock)
    f.set_lists(["粤B10000"], [])  # the overrides file itself: no backup yet
    folder = f.overrides.parent / BACKUPS_DIR
    folder.mkdir()
    old = folder / f"{f.overrides.name}.000001-20261031T233000"  # as an older version named it, local time
    old.write_text("lists: {allow: [粤B00000], deny: []}\n", encoding="utf-8")
    for n in (1, 2):
        f.set_lists([f"粤B1000{n}"], [])
        clock.advance(3600)
    kept = backups(f.overrides)
    assert [p.name.split(".")[-1] for p in kept] == ["000001-20261031T233000", "000002-20261101T053000Z",
                                                     "000003-20261101T063000Z"]  # before: both …T013000
    for n in range(KEEP_BACKUPS + 5):
        f.set_lists([f"粤B{n:05d}"], [])
    kept = backups(f.overrides)
    assert len(kept) == KEEP_BACKUPS + 1 and kept[0] == old and old.exists()  # the first, an old name, kept
    assert all(p.name.endswith("Z") for p in kept[1:])


def test_a_broken_or_overreaching_overrides_file_is_a_config_error_naming_file_and_key(config, tmp_path):
    over = tmp_path / "data" / "overrides.yaml"
    over.parent.mkdir()
    over.write_text(yaml.safe_dump({"bays": [{"id": "A", "polygon": SQUARE, "lock_id": "L9"}],
                                    "mqtt": {"enabled": True}}), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(config)
    assert err.value.source == str(over)
    assert "mqtt: not allowed in overrides" in err.value.report()
    assert "bays[0].lock_id: not allowed in overrides" in err.value.report()
    over.write_text(yaml.safe_dump({"bays": [{"id": "A", "polygon": [[0, 0], [5000, 0], [5000, 50]]}]}))
    with pytest.raises(ConfigError) as err:
        load_config(config)
    assert str(over) in err.value.source and "bays[0].polygon" in err.value.report()


def test_check_config_says_that_overrides_apply(config):
    ConfigFile(config, FakeClock()).set_bays([{"id": "A", "polygon": SQUARE}])
    r = subprocess.run([sys.executable, "-m", "edge_agent", "check-config", str(config)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert ": ok" in lines[0] and "1 bay(s)" in lines[0]
    assert "overrides applied from" in lines[1] and "overrides.yaml" in lines[1]
    assert "bays A (polygons)" in lines[1] and "bays removed by the installer: B" in lines[1]


def test_a_bay_the_operator_adds_to_the_config_after_an_installer_save_is_monitored(config):
    f = ConfigFile(config, FakeClock())
    f.set_bays([{"id": "C", "polygon": SQUARE}, {"id": "A", "polygon": [[1, 1], [90, 1], [90, 90]]}])
    assert [b.id for b in load_config(config).bays] == ["C", "A"]  # B removed by the installer
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["bays"].append({"id": "D", "polygon": square(600), "charger_id": "C4"})
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")  # the operator, as root
    cfg = load_config(config)
    assert [(b.id, b.charger_id) for b in cfg.bays] == [("C", None), ("A", "C1"), ("D", "C4")]


def test_bays_saved_with_their_snapshot_size_carry_it_as_camera_width_and_height(config, tmp_path, capsys):
    """Polygons are pixels of one frame size: bays redrawn on a 4:3 snapshot under a config that says 960x540
    would stay blind (``camera/frame_size.py``) until someone edited the operator's file. The save keeps the
    snapshot's size with them; only width and height (and the masks scaled to them) may come from the
    overrides."""
    files = ConfigFile(config, FakeClock())
    cfg, _ = files.set_bays([{"id": "A", "polygon": [[0, 0], [700, 0], [700, 500]]}], size=(720, 540))
    assert (cfg.camera.width, cfg.camera.height, cfg.camera.source) == (720, 540, str(config.parent / "none"))
    assert (load_config(config).camera.width, load_config(config).camera.height) == (720, 540)
    cfg, _ = files.set_bays([{"id": "A", "polygon": SQUARE}])  # no snapshot on the page: the size stays
    assert (cfg.camera.width, cfg.camera.height) == (720, 540)
    with pytest.raises(ConfigError) as err:  # drawn beyond the snapshot it names
        files.set_bays([{"id": "A", "polygon": [[0, 0], [900, 0], [900, 50]]}], size=(720, 540))
    assert "bays[0].polygon" in err.value.report() and "outside the 720x540 camera frame" in err.value.report()
    r = check_config(config, capsys)
    assert "camera frame size 720x540 (the installer's snapshot)" in r.stdout

    over = tmp_path / "data" / "overrides.yaml"
    over.write_text(yaml.safe_dump({"camera": {"width": 720, "height": 540, "source": "rtsp://elsewhere"}}))
    with pytest.raises(ConfigError) as err:
        load_config(config)
    assert "camera.source: not allowed in overrides (only width, height, masks and masks_of" in err.value.report()
    over.write_text(yaml.safe_dump({"camera": {"width": -3, "height": 540}}))
    with pytest.raises(ConfigError) as err:
        load_config(config)
    assert "camera.width" in err.value.report()


@pytest.mark.parametrize(("over", "problem"), [
    ({"bays": [{"id": ["A"], "polygon": SQUARE}]}, "bays[0].id: must be a bay id (text)"),
    ({"bays": [{"id": {"a": 1}, "polygon": SQUARE}]}, "bays[0].id: must be a bay id (text)"),
    ({"lists": {"allow": 5}}, "lists.allow: must be a list of plates"),
    ({"lists": {"deny": "粤B12345"}}, "lists.deny: must be a list of plates"),
    ({"added_bays": "C"}, "added_bays: must be a list of bay ids"),
    ({"occupancy": {"enter_p": 0.5}}, "occupancy.enter_p: not allowed in overrides (only model and calibration; "
                                      "set it in the config file)"),
    ({"occupancy": {"model": 3}}, "occupancy.model: must be a file name (text)"),
    ({"occupancy": "site"}, "occupancy: must be a mapping with model and/or calibration"),
    ({"camera": {"width": 1920}}, "camera: width and height go together in overrides (the size of the snapshot the "
                                  "saved bays were drawn on): give both or neither"),
    # a key the file should not hold is shown as the config's own unknown keys are (a short prefix): found by the
    # fuzz, such a key was echoed whole — a line break in it wrote a line of its own into the report, and an empty
    # key left the line without one
    ({"ok\n  bays[0].polygon: forged": 1}, "ok…: not allowed in overrides (only bays, removed_bays, added_bays, "
                                              "lists, camera width / height / masks / masks_of and occupancy model / "
                                              "calibration; set it in the config file)"),
    ({"": 1}, "…: not allowed in overrides (only bays, removed_bays, added_bays, lists, camera width / height / "
              "masks / masks_of and occupancy model / calibration; set it in the config file)"),
    ({"camera": {"width": 1, "height": 1, "/proc/self/mem": 1}}, "camera.…: not allowed in overrides (only width, "
                                                                 "height, masks and masks_of; set it in the config "
                                                                 "file)"),
    ({"lists": {"allow\x1b[2J": []}}, "lists.allow…: unknown key (allow or deny)"),
])
def test_overrides_of_the_wrong_shape_are_named_before_the_merge(config, tmp_path, over, problem):
    """An id that is a list was a ``TypeError: unhashable type`` traceback in ``merge``, ``allow: 5`` a
    ``TypeError``, and ``deny: 粤B12345`` (no brackets) seven "not a plate" lines, one per character. A hand-edited
    ``camera: {width: 1920}`` merged over the config's height: a size no snapshot had, "ok" (``1920xNone``)."""
    path = tmp_path / "data" / "overrides.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(over, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(config)
    assert err.value.source == str(path) and err.value.problems == [problem]


@pytest.mark.parametrize(("section", "over", "problem"), [
    ({"bays": [{"id": ["A"], "polygon": SQUARE}]}, {"removed_bays": ["B"]}, "bays[0].id: Input should be a valid string"),
    ({"bays": "A"}, {"removed_bays": ["B"]}, "bays: Input should be a valid list, not one value: a list goes in brackets, [a, b], or one `- ` line per entry"),
    ({"bays": ["A", {"id": "B", "polygon": SQUARE}]}, {"removed_bays": ["B"]},
     "bays[0]: Input should be a section of settings (`key: value` lines indented under it), not 'A'"),
    ({"lists": [1]}, {"lists": {"allow": []}},
     "lists: Input should be a section of settings (`key: value` lines indented under it), not a list"),
])
def test_the_config_s_own_mistake_is_named_when_overrides_apply(tmp_path, section, over, problem):
    """Merging over a section of the wrong shape raised ``TypeError: unhashable type`` (a bay id that is a
    list), reported "needs at least one bay" for ``bays: A``, and silently replaced ``lists: [1]``: the
    config was accepted."""
    cfg = {"site": {"site_id": "s", "device_id": "d"}, "camera": {"source": "x"},
           "bays": [{"id": "A", "polygon": SQUARE}], "data_dir": str(tmp_path / "data"), **section}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "overrides.yaml").write_text(yaml.safe_dump(over), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.problems == [problem]


def test_two_writers_of_the_overrides_never_put_back_each_other_s_old_part(config):
    """The web page's Save (bays) while ``set-lists`` writes (lists), through two ``ConfigFile`` objects as the
    running agent has them: each reads the whole file, changes its part and writes it back. Unlocked, the
    Save wrote the lists it had read before ``set-lists`` saved: the command answered "saved", and the next
    restart brought the old allow list back (reproduced on a running agent with a 20,000-plate list)."""
    page, agent = ConfigFile(config, FakeClock()), ConfigFile(config, FakeClock())
    entered = threading.Event()

    def set_lists() -> None:
        def change(over: dict, _now: dict) -> None:
            entered.set()
            over["lists"] = {"allow": ["粤B12345"], "deny": []}
        agent.update(change)

    other = threading.Thread(target=set_lists)

    def save_bays(over: dict, _now: dict) -> None:
        other.start()  # set-lists arrives while the Save holds its copy
        # it must wait for the Save (a bounded wait for what must not happen: it reads the file only after)
        assert not entered.wait(0.3), "set-lists read the overrides in the middle of the Save"
        over["bays"] = [{"id": "A", "polygon": square(600)}]

    page.update(save_bays)
    other.join()
    loaded = load_config(config)
    assert loaded.lists.allow == ["粤B12345"] and [list(p) for p in loaded.bays[0].polygon] == square(600)


def test_lists_too_big_for_any_config_file_are_refused_and_the_file_stays_loadable(config):
    """``set-lists`` takes 100,000 plates a list: saved as 1.25 MB, the overrides then stopped every reload, every
    later list edit and the next start (over the 1 MiB any config file may be) until deleted by hand."""
    f = ConfigFile(config, FakeClock())
    f.set_lists(["粤BD00001", "京A12345"], [])
    target = f.overrides
    before, saved = target.read_bytes(), backups(target)
    many = [f"京AD{i:05d}" for i in range(90_000)]  # ≈ 1.1 MB of YAML: valid plates, within the command's schema
    with pytest.raises(OverridesTooLarge) as err:
        f.set_lists(many, [])
    assert err.value.problems[0].startswith("lists: 90000 plates would make overrides.yaml 1.1")
    assert target.read_bytes() == before and backups(target) == saved  # nothing written, no backup made
    assert load_config(config).lists.allow == ["粤BD00001", "京A12345"]  # a start still works
    f.set_lists(many[:1000], [])  # and a later edit of a sensible size is saved
    assert len(load_config(config).lists.allow) == 1000


def test_saves_a_full_disk_refuses_leave_no_truncated_backups_and_push_no_good_one_out(tiny_disk):  # noqa: F811
    """Each save refused for space left a truncated (empty) backup that counted as one: a backend retrying
    set-lists every minute on a full card filled config-backups/ with empty copies and pruned every good one."""
    from edge_agent.config.overrides import write_overrides
    from tests.tmpfs import fill

    disk = tiny_disk(1)
    clock = FakeClock()
    path = disk / "overrides.yaml"
    for n in range(3):  # three good saves: two good backups
        write_overrides(path, {"lists": {"allow": [f"粤BD0000{n}"] * 200}}, clock)
        clock.advance(1)
    good = {p.name: p.read_bytes() for p in backups(path)}
    assert len(good) == 2 and all(good.values())
    fill(disk)
    for _ in range(KEEP_BACKUPS + 5):  # a retrying backend on a full card
        with pytest.raises(OSError):
            write_overrides(path, {"lists": {"allow": ["粤BD99999"] * 200}}, clock)
        clock.advance(60)
    assert {p.name: p.read_bytes() for p in backups(path)} == good
    assert "粤BD00002" in path.read_text(encoding="utf-8")  # the file itself as the last good save left it


def test_a_saved_bay_the_config_renames_later_is_left_out_not_kept_beside_its_successor(config, capsys):
    """The installer redrew bay A (Save); later the operator renamed A to A1 in the config (the backend's name) and
    reloaded. The saved A came back by its old id, without its charger and lock, beside A1 over the same ground:
    every car was reported in two bays. A bay the installer added on the page (C) is the installer's and stays."""
    f = ConfigFile(config, FakeClock())
    f.set_bays([{"id": "A", "polygon": [[1, 1], [90, 1], [90, 90]]}, {"id": "B", "polygon": square(200)},
                {"id": "C", "polygon": square(400)}])
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["bays"][0]["id"] = "A1"
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")  # the operator, as root
    cfg = load_config(config)
    assert [(b.id, b.charger_id) for b in cfg.bays] == [("B", None), ("C", None), ("A1", "C1")]
    r = check_config(config, capsys)
    assert r.returncode == 0, r.stderr
    assert "bays B, C (polygons)" in r.stdout and "no longer in the config file (renamed or removed there): A" in r.stdout


def test_an_overrides_file_from_before_added_bays_keeps_every_saved_bay(config):
    """Written before the installer recorded which bays it added: nothing tells a renamed bay from an added one."""
    over = config.parent.parent / "data" / "overrides.yaml"
    over.parent.mkdir(exist_ok=True)
    over.write_text(yaml.safe_dump({"bays": [{"id": "Z", "polygon": square(400)}], "removed_bays": []}),
                    encoding="utf-8")
    assert [b.id for b in load_config(config).bays] == ["Z", "A", "B"]


def test_an_upgraded_overrides_file_records_the_installers_bays_so_a_later_rename_is_not_kept_twice(config):
    """A 0.4.0 device: the installer redrew A and B and added Z (the file says nothing of which it added). After the
    upgrade the operator renamed B to B1 in the config: the saved B came back beside B1 over the same ground (every
    car in two bays), the defect 0.5.0 fixed only for files written after it. ``run``'s first start records that Z
    (not in the config the file was saved against) is the installer's; the merge is the same until the rename."""
    over = config.parent.parent / "data" / "overrides.yaml"
    over.parent.mkdir(exist_ok=True)
    legacy = {"lists": {"allow": ["粤BD00001"], "deny": []}, "removed_bays": [],
              "bays": [{"id": "A", "polygon": [[1, 1], [90, 1], [90, 90]]}, {"id": "B", "polygon": square(210)},
                       {"id": "Z", "polygon": square(400)}]}
    over.write_text(yaml.safe_dump(legacy, allow_unicode=True), encoding="utf-8")
    before = [b.id for b in load_config(config).bays]
    f = ConfigFile(config, FakeClock())
    assert f.record_added_bays() == ["Z"]
    saved = yaml.safe_load(over.read_text(encoding="utf-8"))
    assert saved["added_bays"] == ["Z"] and saved["bays"] == legacy["bays"] and saved["lists"] == legacy["lists"]
    assert [b.id for b in load_config(config).bays] == before == ["A", "B", "Z"]
    assert len(backups(over)) == 1  # the 0.4.0 file, kept
    assert f.record_added_bays() is None and len(backups(over)) == 1  # once
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["bays"][1]["id"] = "B1"
    data["bays"][1]["polygon"] = square(205)
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert [b.id for b in load_config(config).bays] == ["A", "Z", "B1"]


def test_recording_the_installers_bays_leaves_a_file_without_bays_or_a_current_one_alone(config):
    f = ConfigFile(config, FakeClock())
    assert f.record_added_bays() is None  # no overrides file
    f.set_lists(["粤B12345"], [])
    assert f.record_added_bays() is None and "added_bays" not in f.overrides.read_text(encoding="utf-8")
    f.set_bays([{"id": "A", "polygon": SQUARE}, {"id": "B", "polygon": square(200)}])
    before = f.overrides.read_bytes()
    assert f.record_added_bays() is None and f.overrides.read_bytes() == before


def test_the_installer_page_s_calibration_is_an_override_the_config_loads_and_check_config_names(config, tmp_path, capsys):
    """"Use it" on the installer page sets the model and the calibration it made, never the operator's file; the
    bays saved there stay, and the rest of the occupancy section is still the config's."""
    from edge_agent.bays.calibration import SiteCalibration
    from edge_agent.bays.classifier import SITE_MODEL, BayClassifier

    site = BayClassifier.load(SITE_MODEL)
    SiteCalibration(site.head(), site.model_sha256, 10, 10, 0.5, 0.6, model=SITE_MODEL.name).save(
        tmp_path / "data" / "occupancy-calibration.json")
    files = ConfigFile(config, FakeClock())
    files.set_bays([{"id": "A", "polygon": SQUARE}, {"id": "B", "polygon": square(200)}])
    cfg, _ = files.set_occupancy("occupancy-site.onnx", "occupancy-calibration.json")
    assert (cfg.occupancy.model, cfg.occupancy.calibration) == ("occupancy-site.onnx", "occupancy-calibration.json")
    loaded = load_config(config)
    assert loaded.occupancy.model == "occupancy-site.onnx" and loaded.occupancy.enter_p == cfg.occupancy.enter_p
    assert [b.id for b in loaded.bays] == ["A", "B"] and "occupancy" not in yaml.safe_load(config.read_text())
    r = check_config(config, capsys)
    assert ("occupancy calibration occupancy-calibration.json, model occupancy-site.onnx (the installer page's "
            "calibration)") in r.stdout


def test_the_file_use_it_writes_says_what_to_do_before_going_back_and_doing_it_keeps_the_calibration(config):
    """0.12.0 refuses ``occupancy`` in overrides.yaml (exit 2 for ``run``, ``review``, ``doctor``, ``check-config``):
    the file an operator opens then says what to do (probe upgrade14: it said only "delete this file to go back to
    the config file's bays and lists", which also throws away the bays saved on the page). Doing what it says (the
    two keys into the config's occupancy section, the line out of the file) loads the same classifier and bays."""
    files = ConfigFile(config, FakeClock())
    files.set_bays([{"id": "A", "polygon": SQUARE}, {"id": "B", "polygon": square(300)}])
    files.set_occupancy("occupancy-site.onnx", "occupancy-calibration.json")
    text = files.overrides.read_text(encoding="utf-8")
    assert "occupancy" in text.split("\n")[1]  # "Delete this file to go back to the config file's … classifier"
    said = [line for line in text.splitlines() if line.startswith("#") and "0.12.0" in line]
    assert said and "config file's occupancy section" in said[0] and "deployment.md" in said[0], text
    before = load_config(config)
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    raw["occupancy"] = {"model": "occupancy-site.onnx", "calibration": "occupancy-calibration.json"}
    config.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    files.overrides.write_text("".join(line + "\n" for line in text.splitlines() if not line.startswith("occupancy:")),
                               encoding="utf-8")
    after = load_config(config)
    assert (after.occupancy.model, after.occupancy.calibration) == (before.occupancy.model,
                                                                     before.occupancy.calibration)
    assert [b.polygon for b in after.bays] == [b.polygon for b in before.bays]


def test_a_save_at_another_size_scales_the_masks_as_the_bays_and_a_later_save_keeps_them(config, tmp_path):
    """``camera.masks`` are pixels of the frame the bays are drawn on. A Save on a picture of another size wrote the
    bays and the size, not the masks: one past the new frame's edge failed the Save (the installer with no way to
    fix it on the page), one inside covered other pixels than the camera's text. They are scaled per axis as the
    bays' pixels are; a later Save at the same size, or one without a picture, keeps them; an edit of the masks in
    the config file takes over (drawn on the frames as they are)."""
    text = yaml.safe_load(config.read_text())
    text["camera"]["masks"] = [[[600, 20], [940, 20], [940, 60], [600, 60]], [[10, 500], [200, 500], [200, 530]]]
    config.write_text(yaml.safe_dump(text))
    files = ConfigFile(config, FakeClock())
    drawn = [{"id": "A", "polygon": [[0, 0], [300, 0], [300, 200]]}]
    cfg, _ = files.set_bays(drawn, size=(640, 480))  # a 4:3 sub-stream under bays drawn on 960x540
    scaled = [[[400.0, 17.8], [626.7, 17.8], [626.7, 53.3], [400.0, 53.3]],
              [[6.7, 444.4], [133.3, 444.4], [133.3, 471.1]]]
    assert [[list(p) for p in m] for m in cfg.camera.masks] == scaled
    assert [[list(p) for p in m] for m in load_config(config).camera.masks] == scaled
    for size in ((640, 480), None):  # the next Save on that picture, and one with no picture: the masks stay
        cfg, _ = files.set_bays(drawn, size=size)
        assert [[list(p) for p in m] for m in cfg.camera.masks] == scaled
    cfg, _ = files.set_bays(drawn, size=(960, 540))  # back: the masks as drawn (to a tenth of a pixel)
    assert [[list(p) for p in m] for m in cfg.camera.masks] == [
        [[600.0, 20.0], [940.1, 20.0], [940.1, 60.0], [600.0, 60.0]], [[10.1, 499.9], [200.0, 499.9], [200.0, 530.0]]]
    cfg, _ = files.set_bays(drawn, size=(640, 480))
    text["camera"]["masks"] = [[[1, 1], [50, 1], [50, 30]]]  # the operator redraws them on the 640x480 frames
    config.write_text(yaml.safe_dump(text))
    assert [[list(p) for p in m] for m in load_config(config).camera.masks] == [[[1, 1], [50, 1], [50, 30]]]
    cfg, _ = files.set_bays(drawn, size=(640, 480))
    assert [[list(p) for p in m] for m in cfg.camera.masks] == [[[1, 1], [50, 1], [50, 30]]]

    over = tmp_path / "data" / "overrides.yaml"
    over.write_text(yaml.safe_dump({"camera": {"width": 640, "height": 480, "masks": []}}))
    with pytest.raises(ConfigError) as err:
        load_config(config)
    assert "camera: masks and masks_of go together in overrides" in err.value.report()


def test_the_file_s_header_and_check_config_name_everything_it_holds_the_frame_size_and_masks_too(config, tmp_path, capsys):
    """Its header said "go back to the config file's bays, lists and occupancy classifier" while a Save at another
    size also wrote the frame size and the config's masks scaled to it: an operator deleting it for the lists
    learnt only at the next start that the camera's size and masks had changed too."""
    text = yaml.safe_load(config.read_text())
    text["camera"]["masks"] = [[[600, 20], [940, 20], [940, 60], [600, 60]]]
    config.write_text(yaml.safe_dump(text))
    files = ConfigFile(config, FakeClock())
    files.set_bays([{"id": "A", "polygon": [[0, 0], [300, 0], [300, 200]]}], size=(640, 480))
    files.set_lists(["粤B12345"], [])
    r = check_config(config, capsys)
    assert "camera frame size 640x480" in r.stdout and "camera masks (the config's, scaled" in r.stdout, r.stdout
    files.set_occupancy("occupancy-site.onnx", "occupancy-calibration.json")  # no calibration: check-config refuses
    written = files.overrides.read_text(encoding="utf-8")
    data = yaml.safe_load(written)
    assert {"bays", "lists", "occupancy"} <= set(data) and {"width", "masks"} <= set(data["camera"])
    header = " ".join(line for line in written.splitlines() if line.startswith("#"))
    for words in ("bays", "lists", "camera frame size", "masks", "occupancy", "review page", "set-lists"):
        assert words in header, (words, header)

    over = tmp_path / "data" / "overrides.yaml"
    over.write_text(yaml.safe_dump({"camera": {"width": 640, "height": 480, "fps": 5}}))
    with pytest.raises(ConfigError) as err:
        load_config(config)
    assert "camera.fps: not allowed in overrides (only width, height, masks and masks_of" in err.value.report()


def test_check_config_counts_the_lists_plates_in_words_a_reader_expects(config, capsys):
    """"deny list (1 plates)": one plate is a plate."""
    ConfigFile(config, FakeClock()).set_lists(["粤B12345", "粤B12346"], ["京A12345"])
    r = check_config(config, capsys)
    assert r.returncode == 0, r.stderr
    assert "allow list (2 plates); deny list (1 plate)" in r.stdout, r.stdout
    ConfigFile(config, FakeClock()).set_lists([], ["京A12345"])
    r = check_config(config, capsys)
    assert "allow list (0 plates); deny list (1 plate)" in r.stdout, r.stdout
