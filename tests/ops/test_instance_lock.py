"""One agent per data_dir: a second ``run`` (or a ``replay`` / ``demo`` into that folder) is refused
in one line, exit 2; the lock goes with its process, however that ends; other folders are free."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from edge_agent.ops.instance_lock import DataDirBusy, hold_data_dir, release_all
from tests.runtime.test_startup_errors import _config, _one_line

HOLDER = ("import sys; from pathlib import Path; from edge_agent.ops.instance_lock import hold_data_dir\n"
          "hold_data_dir(Path(sys.argv[1]), 'run'); print('held', flush=True); sys.stdin.read()")
# ``replay --data-dir DIR``'s taking of DIR (``runtime.commands._hold``), in a process of its own, umask 022
HOLD = ("import os, sys; os.umask(0o022); from pathlib import Path; from edge_agent.runtime.commands import _hold\n"
        "sys.exit(0 if _hold(Path(sys.argv[1]), 'replay') else 2)")


@pytest.fixture
def held(tmp_path):
    """Another agent's process holding ``tmp_path / 'data'``; killed (SIGKILL) at the end."""
    data = tmp_path / "data"
    data.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(data)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    yield data, proc
    proc.kill()
    proc.wait(10)


def test_a_second_run_on_the_same_data_dir_is_refused(tmp_path, models_dir, held):
    data, holder = held
    proc = subprocess.run([sys.executable, "-m", "edge_agent", "run", "--config",
                           str(_config(tmp_path, models_dir, data)), "--quiet"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    line = _one_line(proc)
    assert "in use by another edge-agent" in line and f"pid {holder.pid} run" in line
    assert not (data / "events.jsonl").exists() and not (data / "evidence").exists()  # touched nothing


def test_the_lock_goes_with_a_killed_process(held):
    data, holder = held
    with pytest.raises(DataDirBusy, match="give this one its own data_dir"):
        hold_data_dir(data, "run")
    with pytest.raises(DataDirBusy) as busy:  # forget says "stop the agent" itself; another folder is no answer
        hold_data_dir(data, "evidence forget")
    assert "own data_dir" not in str(busy.value) and str(busy.value).endswith(f"(pid {holder.pid} run)")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(10)
    try:
        assert hold_data_dir(data, "run") is None  # no stale lock after a crash
        assert (data / "agent.lock").read_text() == f"{os.getpid()} run\n"
    finally:
        release_all()


def test_replay_into_a_live_agents_folder_is_refused_and_into_its_own_runs(tmp_path, models_dir, held):
    data, _ = held
    config = _config(tmp_path, models_dir, tmp_path / "unused")
    frames = tmp_path / "frames"

    def replay(data_dir: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "edge_agent", "replay", str(config), str(frames),
                               "--data-dir", str(data_dir), "-o", str(tmp_path / "out.jsonl")],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)

    refused = replay(data)
    assert refused.returncode == 2 and "replay: data_dir" in refused.stderr and "in use" in refused.stderr
    own = replay(tmp_path / "replay-data")
    assert own.returncode == 0, own.stderr[-2000:]


@pytest.mark.parametrize("mode", [0o755, 0o777, 0o750, 0o1777], ids=oct)
def test_a_data_dir_is_closed_to_other_users_when_held(tmp_path, mode):
    """Outside the unit's ``UMask=0027`` (docker, a shell: umask 022) the data folder was 0755 and its files 0644:
    every account on the device read the plates and their photos; 0777 let one plant links in it. Holding it
    takes other users' access off the folder; owner and group keep theirs."""
    data = tmp_path / "data"
    (data / "evidence").mkdir(parents=True)
    (data / "evidence" / "evidence.db").write_bytes(b"plates")
    os.chmod(data, mode)
    try:
        assert hold_data_dir(data, "run") is None
        # a sticky folder is a shared one (/tmp): not the agent's to close
        assert oct(data.stat().st_mode & 0o1777) == oct(mode if mode & 0o1000 else mode & 0o770)
    finally:
        release_all()


@pytest.mark.parametrize("made", ["new", "empty", "an agent's, from before"])
def test_replay_closes_a_folder_made_for_it_or_an_agents(tmp_path, made):
    """A folder the replay makes, an empty one (``mkdir`` for a bind mount), or an agent's data folder from a
    release that left it 0755 (its files and nothing else) is closed to other users."""
    data = tmp_path / "data"
    if made != "new":
        data.mkdir()
        os.chmod(data, 0o755)
    if made == "an agent's, from before":
        for name in ("mqtt-outbox.sqlite", "mqtt-outbox.sqlite-wal", "events.jsonl", "overrides.yaml",
                     "web-secret.key", "lock-latches.json", f".state.json.{os.getpid()}.7.tmp"):
            (data / name).write_bytes(b"x")
        (data / "evidence" / "2026-12-05").mkdir(parents=True)
        (data / "camera").mkdir()
        (data / "bays").mkdir()  # the kept outlines (`bays/outlines.json`)
        (data / "bays" / "outlines.json").write_text("{}")
    proc = subprocess.run([sys.executable, "-c", HOLD, str(data)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert oct(data.stat().st_mode & 0o777) == oct(0o750)


@pytest.mark.parametrize("kind", ["home", "project", "home after a replay into it"])
def test_a_folder_with_other_files_is_named_and_left_open(tmp_path, kind):
    """``replay --data-dir ~`` (or a project folder, by mistake) took every other user's access off it: the chmod
    was of any folder the user owns. One with other files than an agent's keeps its mode; the replay says so,
    naming the folder and the chmod to run — also the second time, when the first replay's files lie there."""
    folder = tmp_path / kind.split()[0]
    folder.mkdir()
    os.chmod(folder, 0o755)
    if kind == "project":
        (folder / "src").mkdir()
        (folder / "README.md").write_text("shared with the team\n")
    else:
        (folder / ".bashrc").write_text("export PS1\n")
    if kind == "home after a replay into it":
        (folder / "agent.lock").write_text("1 replay\n")
        (folder / "evidence").mkdir()
        (folder / "evidence" / "evidence.db").write_bytes(b"plates")
    proc = subprocess.run([sys.executable, "-c", HOLD, str(folder)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert oct(folder.stat().st_mode & 0o7777) == oct(0o755)
    assert proc.stderr.startswith(f"replay: warning: data_dir {folder.resolve()}: other users may read it (mode "
                                  "0755)"), proc.stderr
    assert f"`chmod o-rwx {folder.resolve()}`" in proc.stderr and proc.stderr.count("\n") == 1


def test_a_lock_file_that_is_a_link_is_never_opened_through(tmp_path, capsys):
    """``evidence forget`` is run by root (``systemctl stop edge-agent`` first) on the agent's own folder, and the
    lock was opened by name and emptied (``truncate``): a link the agent's user planted as ``agent.lock`` had root
    empty its target — ``/etc/shadow``. A link there is refused, one line, its target untouched."""
    data = tmp_path / "data"
    data.mkdir()
    victim = tmp_path / "shadow"
    victim.write_text("root:$6$hash:19000:0:99999:7:::\n")
    (data / "agent.lock").symlink_to(victim)
    try:
        with pytest.raises(DataDirBusy, match=r"agent.lock is a link"):
            hold_data_dir(data, "evidence forget")
    finally:
        release_all()
    assert victim.read_text() == "root:$6$hash:19000:0:99999:7:::\n"


def test_run_on_a_folder_with_other_files_logs_the_line_and_keeps_its_mode(tmp_path, models_dir):
    """``run`` (``data_dir`` pointed at a project folder) says the same in its log, as a warning, and runs."""
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "README.md").write_text("shared with the team\n")
    os.chmod(project, 0o755)
    proc = subprocess.run([sys.executable, "-m", "edge_agent", "run", "--config",
                           str(_config(tmp_path, models_dir, project))], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    said = [ln for ln in proc.stderr.splitlines() if "other users may read it" in ln]
    assert len(said) == 1 and f"data_dir {project.resolve()}: other users may read it (mode 0755)" in said[0]
    assert "WARNING" in said[0].upper() and oct(project.stat().st_mode & 0o777) == oct(0o755)


def _second_run_on_the_first_outbox(tmp_path, models_dir, box, outboxes):  # noqa: ANN001, ANN202
    """Start a looping agent on ``first`` (``outboxes[0]``: its ``mqtt.outbox.path``, None for the default), wait for
    ``box``, run a second on ``second`` (``outboxes[1]``) beside it, and check that it is refused naming the first."""
    import yaml

    from tests.events.helpers import wait_until

    configs = []
    for name, outbox in zip(("first", "second"), outboxes, strict=True):
        (tmp_path / name).mkdir()
        path = _config(tmp_path / name, models_dir, tmp_path / name / "data")
        cfg = yaml.safe_load(path.read_text())
        cfg["camera"]["loop"] = True  # runs until killed
        # port 1: nothing listens; a free_port() closed at once may be another worker's broker when the agent connects
        cfg["mqtt"] = {"enabled": True, "brokers": ["mqtt://127.0.0.1:1"]}
        if outbox:
            cfg["mqtt"]["outbox"] = {"path": str(outbox)}
        path.write_text(yaml.safe_dump(cfg))
        configs.append(path)
    first = subprocess.Popen([sys.executable, "-m", "edge_agent", "run", "--config", str(configs[0]), "--quiet"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: box.exists() or first.poll() is not None, what="the first agent's outbox")
        assert first.poll() is None
        proc = subprocess.run([sys.executable, "-m", "edge_agent", "run", "--config", str(configs[1]), "--quiet"],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2, proc.stderr[-2000:]
        line = _one_line(proc)
        assert f"mqtt.outbox.path {box} is in use by another edge-agent" in line and f"pid {first.pid} run" in line
    finally:
        first.kill()
        first.wait(10)


def test_a_second_run_on_its_own_data_dir_but_the_same_outbox_is_refused(tmp_path, models_dir):
    """Two agents on their own data folders with one ``mqtt.outbox.path`` (a config copied with only ``data_dir``
    changed, the outbox on a partition of its own) both ran and both sent its rows: 6 event_ids twice in 400 over a
    real mosquitto (probe chaos43). The second is refused in one line, exit 2, as on a shared data_dir."""
    box = tmp_path / "outboxes" / "outbox.sqlite"
    _second_run_on_the_first_outbox(tmp_path, models_dir, box, (box, box))


def test_a_second_run_whose_outbox_is_the_first_agents_own_default_outbox_is_refused(tmp_path, models_dir):
    """The first agent keeps its outbox where ``data_dir`` puts it (no ``mqtt.outbox.path``); a copy of its config
    with ``data_dir`` changed and ``mqtt.outbox.path`` naming that file (or set to it from the start) ran beside it:
    only an outbox outside the agent's own data_dir was locked, so the first took no lock the second looked at,
    and both sent the rows (probe review107). Every run locks the outbox it uses."""
    box = tmp_path / "first" / "data" / "mqtt-outbox.sqlite"  # the first agent's default outbox
    _second_run_on_the_first_outbox(tmp_path, models_dir, box, (None, box))


def test_an_outbox_path_that_cannot_be_a_file_stays_a_config_error_exit_2(tmp_path, models_dir):
    """``mqtt.outbox.path`` under a file (no folder can be made there): the outbox's lock, taken first, stopped the
    start with "cannot start: File exists: …", exit 1, naming no setting, where the link's open said which setting
    and exit 2 (probe review107)."""
    import yaml

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    path = _config(tmp_path, models_dir, tmp_path / "data")
    cfg = yaml.safe_load(path.read_text())
    cfg["mqtt"] = {"enabled": True, "brokers": ["mqtt://127.0.0.1:1"], "outbox": {"path": str(blocker / "o.sqlite")}}
    path.write_text(yaml.safe_dump(cfg))
    proc = subprocess.run([sys.executable, "-m", "edge_agent", "run", "--config", str(path), "--quiet"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"mqtt.outbox.path: cannot open {blocker / 'o.sqlite'}" in proc.stderr
